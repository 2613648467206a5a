"""``ecgnas search --objectives``: the flag's errors are one line with exit code 2, and the
method follows the objectives."""

from __future__ import annotations

from typing import Any

import pytest

import ecgnas.cli.search as cli_search
from ecgnas.cli import main
from ecgnas.errors import ConfigError

BASE = ["search", "--dataset", "mitbih", "--gpu-days", "0.01"]


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--objectives", "f1"], "--objectives takes exactly two objectives, got 1"),
        (["--objectives", "f1,params,latency"], "exactly two objectives, got 3"),
        (["--objectives", "params,f1"], "the first objective must be f1"),
        (["--objectives", "f1,watts"], "unknown cost objective 'watts'"),
        (["--objectives", "f1,params", "--method", "rea"], "method 'rea' is single-objective"),
        (["--method", "dcl_mo"], "method 'dcl_mo' is multi-objective"),
        (["--method", "nsga2"], "method 'nsga2' is multi-objective"),
    ],
)
def test_bad_objectives_are_one_line_errors(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run([*BASE, *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


@pytest.mark.parametrize(
    ("flags", "method", "objectives"),
    [
        (["--objectives", "f1,params"], "dcl_mo", ("f1", "params")),
        (["--objectives", "f1,latency", "--method", "nsga2"], "nsga2", ("f1", "latency")),
        (["--objectives", "f1,macs", "--method", "random"], "random", ("f1", "macs")),
        ([], "dcl_enas", ()),
        (["--method", "random"], "random", ()),
    ],
)
def test_the_method_follows_the_objectives(
    flags: list[str], method: str, objectives: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []

    def stop(settings: Any, run_dir: Any, **kwargs: Any) -> None:
        seen.append(settings)
        raise ConfigError("stopped before the search")

    monkeypatch.setattr(cli_search, "_run_with_progress", stop)
    assert _run([*BASE, *flags]) == 2
    assert (seen[0].method, seen[0].objectives) == (method, objectives)
    assert seen[0].cost_objective == (objectives[1] if objectives else None)
