"""Every CLI choice lists exactly its registry (read back from the click parameters)."""

from __future__ import annotations

import re

import pytest
import typer

from ecgnas.cli import app
from ecgnas.predictor.registry import PREDICTOR_NAMES
from ecgnas.search.registry import (
    BENCHMARK_DEFAULT_STRATEGIES,
    PARETO_STRATEGY_NAMES,
    STRATEGY_NAMES,
)
from ecgnas.spaces.registry import ECG_SPACE_NAMES, SPACE_NAMES


def _param(path: tuple[str, ...], name: str):  # noqa: ANN202 (click types are typer-private)
    command = typer.main.get_command(app)
    for word in path:
        command = command.commands[word]  # type: ignore[attr-defined]
    return next(p for p in command.params if p.name == name)


def _listed(help_text: str) -> tuple[str, ...]:
    match = re.search(r"(?:one|any) of: ([^.]*)\.", help_text)
    assert match, f"no choice list in {help_text!r}"
    return tuple(match.group(1).split(", "))


@pytest.mark.parametrize(
    ("path", "param", "names"),
    [
        (("search",), "space", ECG_SPACE_NAMES),
        (("search",), "method", STRATEGY_NAMES),
        (("space", "info"), "name", SPACE_NAMES),
        (("benchmark", "nb201"), "methods", STRATEGY_NAMES),
        (("benchmark", "nb101"), "methods", STRATEGY_NAMES),
        (("benchmark", "predictor"), "variants", PREDICTOR_NAMES),
        (("benchmark", "pareto"), "methods", PARETO_STRATEGY_NAMES),
    ],
)
def test_cli_lists_exactly_the_registry(
    path: tuple[str, ...], param: str, names: tuple[str, ...]
) -> None:
    assert _listed(_param(path, param).help) == names


def test_search_objectives_and_their_methods_come_from_the_tables() -> None:
    from ecgnas.ecg_costs import COST_NAMES

    assert _listed(_param(("search",), "objectives").help) == COST_NAMES
    help_text = _param(("search",), "method").help
    lists = re.findall(r"one of: ([^.]*)\.", help_text)
    assert [tuple(x.split(", ")) for x in lists] == [STRATEGY_NAMES, PARETO_STRATEGY_NAMES]
    assert f"(default {PARETO_STRATEGY_NAMES[0]})" in help_text


def test_cli_defaults_come_from_the_registries() -> None:
    assert _param(("search",), "method").default == STRATEGY_NAMES[0] == "dcl_enas"
    assert _param(("search",), "space").default == ECG_SPACE_NAMES[0] == "ecg1d"
    for bench in ("nb201", "nb101"):
        default = _param(("benchmark", bench), "methods").default
        assert tuple(default.split(",")) == BENCHMARK_DEFAULT_STRATEGIES


def test_pareto_lists_the_devices_and_metrics_of_the_hardware_table() -> None:
    from ecgnas.benchmarks.nb201_hw import HW_METRICS, OBJECTIVE_DEVICES

    assert _listed(_param(("benchmark", "pareto"), "hw").help) == OBJECTIVE_DEVICES
    assert _listed(_param(("benchmark", "pareto"), "metric").help) == tuple(HW_METRICS)
    default = _param(("benchmark", "pareto"), "methods").default
    assert tuple(default.split(",")) == PARETO_STRATEGY_NAMES == ("dcl_mo", "nsga2", "random")


def test_help_output_shows_the_lists() -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["benchmark", "nb201", "--help"])
    assert result.exit_code == 0
    flat = " ".join(result.output.split())
    assert "any of: " + ", ".join(STRATEGY_NAMES) in flat
