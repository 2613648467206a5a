"""The pareto benchmark's report: statistics on hand-checked numbers, the files, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from ecgnas.benchmarks.pareto_bench import ParetoConfig, ParetoRecord, ParetoReference
from ecgnas.benchmarks.pareto_report import (
    markdown,
    report_stem,
    summarize,
    write_report,
)
from ecgnas.cli.benchmark_search import register
from ecgnas.errors import ConfigError

REFERENCE = ParetoReference(
    cost_name="fpga_latency_c10",
    cost_unit="ms",
    cost_max=10.0,
    cost_ref=11.0,
    signal_name="c10valid_val_acc",
    test_name="c10_test_acc",
    optimal_hv_signal=0.9,
    optimal_hv_test=0.95,
    optimal_front_signal=[[10.0, 1.0], [80.0, 5.0], [90.0, 9.0]],
    optimal_front_test=[[10.0, 1.0], [85.0, 5.0], [93.0, 9.0]],
)


def rec(method: str, seed: int, hv: float, hv_test: float | None = None) -> ParetoRecord:
    return ParetoRecord(
        method=method,
        seed=seed,
        n_evals=10,
        hv_signal=hv,
        hv_test=hv + 0.02 if hv_test is None else hv_test,
        front=[[50.0, 52.0, 3.0, 7], [70.0, 71.0, 6.0, 8]],
        front_test=[[50.0, 52.0, 3.0, 7]],
        indices=[7, 8, *range(9, 17)],
        hv_curve=[hv - 0.1, hv],
        wall_seconds=2.0,
        strategy_seconds=1.0,
        stop_reason="budget",
    )


def config(**kw: object) -> ParetoConfig:
    base: dict[str, object] = {
        "device": "fpga",
        "methods": ("dcl_mo", "nsga2", "random"),
        "seeds": (0, 1, 2, 3),
        "budget": 10,
    }
    return ParetoConfig(**(base | kw))  # type: ignore[arg-type]


def records() -> list[ParetoRecord]:
    return [
        *(rec("dcl_mo", s, v) for s, v in enumerate([0.80, 0.82, 0.81, 0.83])),
        *(rec("nsga2", s, v) for s, v in enumerate([0.70, 0.84, 0.75, 0.76])),
        *(rec("random", s, v) for s, v in enumerate([0.80, 0.78, 0.77, 0.79])),
    ]


def test_summary_statistics_on_hand_checked_numbers() -> None:
    s = summarize(config(), records(), REFERENCE)
    d = s["methods"]["dcl_mo"]
    assert d["hv_signal"]["mean"] == pytest.approx(0.815)
    assert d["hv_signal"]["std"] == pytest.approx(np.std([0.80, 0.82, 0.81, 0.83], ddof=1))
    assert d["hv_signal"]["median"] == pytest.approx(0.815)
    assert d["hv_test"]["mean"] == pytest.approx(0.835)
    assert d["gap_signal_mean"] == pytest.approx(0.9 - 0.815)
    assert d["front_size_mean"] == 2.0
    assert d["hv_curve_mean"] == pytest.approx([0.715, 0.815])
    lo, hi = d["hv_signal"]["ci95"]
    assert lo < 0.815 < hi
    t = s["paired_tests"]["nsga2"]  # differences +0.10, -0.02, +0.06, +0.07
    assert (t["wins"], t["ties"], t["losses"]) == (3, 0, 1)
    assert t["mean_difference"] == pytest.approx(0.0525)
    assert t["p_value"] == pytest.approx(0.125)  # exact one-sided: ranks 4+2+3 = 9 of 10
    r = s["paired_tests"]["random"]  # +0.00 (a tie, dropped), +0.04, +0.04, +0.04
    assert (r["wins"], r["ties"], r["losses"]) == (3, 1, 0)
    assert r["p_value"] == pytest.approx(0.125)
    assert set(s["paired_tests"]) == set(s["paired_tests_test"]) == {"nsga2", "random"}


def test_report_stem_names_device_metric_and_dataset() -> None:
    assert report_stem(config()) == "pareto_nb201_fpga"
    assert report_stem(config(metric="energy")) == "pareto_nb201_fpga_energy"
    assert report_stem(config(dataset="cifar100")) == "pareto_nb201_fpga_cifar100"


def test_markdown_states_the_reference_point_and_the_tests() -> None:
    meta = {
        "date": "d",
        "command": "ecgnas benchmark pareto nb201 --hw fpga",
        "machine": {"nproc": 2},
        "wall_seconds": 60.0,
        "png_name": "x.png",
        "method_settings": {},
    }
    cfg = config()
    md = markdown(cfg, REFERENCE, summarize(cfg, records(), REFERENCE), meta)
    assert "reference point: accuracy 0 %, latency 11 ms" in md
    assert "| DCL-MO | 4 | 0.8150 ± 0.0129 |" in md
    assert "| NSGA-II | 4 | 3 / 0 / 1 | +0.0525 | 0.125 |" in md


def test_write_report_writes_json_markdown_png(tmp_path: Path) -> None:
    cfg = config()
    paths = write_report(tmp_path, cfg, REFERENCE, records(), "cmd", 1.0)
    data = json.loads(paths["json"].read_text())
    assert [(r["method"], r["seed"]) for r in data["runs"]][:2] == [("dcl_mo", 0), ("dcl_mo", 1)]
    assert data["runs"][0]["hv_signal"] == 0.80 and data["runs"][0]["front"][1][3] == 8
    assert data["reference"]["cost_ref"] == 11.0
    assert data["meta"]["method_settings"]["nsga2"]["population"] == 10
    assert paths["png"].stat().st_size > 10_000
    assert "DCL-MO against each method" in paths["md"].read_text()


def cli_app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.mark.realdata
def test_cli_pareto_writes_the_report(nasbench_dir: Path, tmp_path: Path) -> None:
    args = ["pareto", "nb201", "--hw", "pixel3", "--methods", "nsga2,random", "--seeds", "2"]
    args += ["--budget", "12", "--out", str(tmp_path), "--data-dir", str(nasbench_dir.parent)]
    result = CliRunner().invoke(cli_app(), [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "pareto_nb201_pixel3.json").read_text())
    assert len(data["runs"]) == 4 and data["config"]["budget"] == 12
    assert data["reference"]["cost_name"] == "pixel3_latency_c10"
    assert (tmp_path / "pareto_nb201_pixel3.png").is_file()
    assert "pixel3 latency nsga2" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hw", "tpu"], "unknown device 'tpu'"),
        (["--hw", "edgetpu"], "cannot be an objective"),
        (["--hw", "raspi4", "--metric", "energy"], "no energy for raspi4"),
        (["--hw", "fpga", "--methods", "rea"], "unknown methods ['rea']"),
    ],
)
def test_cli_pareto_bad_flags_raise_a_config_error(
    args: list[str], message: str, nasbench_dir: Path
) -> None:
    data = ["--data-dir", str(nasbench_dir.parent)]
    result = CliRunner().invoke(cli_app(), ["pareto", "nb201", *args, *data])
    assert isinstance(result.exception, ConfigError)
    assert message in str(result.exception)


def test_an_unknown_device_is_one_line_on_stderr_with_exit_code_2() -> None:
    cmd = [sys.executable, "-m", "ecgnas", "benchmark", "pareto", "nb201", "--hw", "tpu"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown device 'tpu'; known: edgegpu, raspi4, pixel3, eyeriss, fpga"
    ]
