"""The search benchmark harness, report and CLI: paired seeds on the real tables, the
statistics on hand-checked numbers, and the report files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from ecgnas.benchmarks.harness import (
    BenchmarkConfig,
    RunRecord,
    load_benchmark,
    run_benchmark,
)
from ecgnas.benchmarks.report import (
    curves,
    evals_to_reach,
    paired_test,
    rerender,
    summarize,
    write_report,
)
from ecgnas.cli.benchmark_search import register
from ecgnas.errors import ConfigError


def record(method: str, seed: int, curve: list[float], found_at: int | None = None) -> RunRecord:
    return RunRecord(
        method=method,
        seed=seed,
        n_evals=len(curve),
        final_test=curve[-1],
        final_signal=curve[-1] - 3.0,
        best_arch={"space": "nb201", "ops": [0] * 6},
        best_canonical="x",
        found_best=found_at is not None,
        found_at=found_at,
        curve_test=curve,
        curve_signal=[v - 3.0 for v in curve],
        wall_seconds=1.0,
        strategy_seconds=0.5,
        stop_reason="budget",
    )


@pytest.mark.realdata
def test_nb201_runs_are_paired_and_report_the_test_of_the_best_by_validation(
    nasbench_dir: Path,
) -> None:
    data = str(nasbench_dir.parent)
    config = BenchmarkConfig(
        "nb201",
        "cifar10",
        ("random", "rea"),
        (0, 1, 2),
        budget=25,
        data_dir=data,
        method_settings={"rea": {"population": 10, "sample": 3}, "random": {"batch": 10}},
    )
    evaluator, reference = load_benchmark(config)
    assert reference.test_acc == pytest.approx(94.3733, abs=1e-3)
    assert reference.oracle_test == pytest.approx(94.3733, abs=1e-3)
    records = run_benchmark(config)
    assert [(r.method, r.seed) for r in records] == [
        ("random", 0),
        ("random", 1),
        ("random", 2),
        ("rea", 0),
        ("rea", 1),
        ("rea", 2),
    ]
    table = evaluator.table
    for r in records:
        assert r.n_evals == 25 and len(r.curve_test) == 25
        assert np.all(np.diff(r.curve_signal) >= 0)  # best-so-far signal never drops
        from ecgnas.spaces.base import Arch

        entry = table.entry(Arch.from_json(r.best_arch), "cifar10")
        assert r.final_test == pytest.approx(entry.test_acc, abs=1e-4)
        assert r.final_signal == pytest.approx(entry.signal, abs=1e-4)
        assert r.signal == "c10valid_val_acc"
    # the first 10 evaluations (REA's initial population) are the same archs for one seed
    rs = {(r.method, r.seed): r for r in records}
    for seed in (0, 1, 2):
        assert rs[("random", seed)].curve_test[:10] == rs[("rea", seed)].curve_test[:10]


@pytest.mark.realdata
def test_process_pool_gives_the_same_records(nasbench_dir: Path) -> None:
    config = BenchmarkConfig(
        "nb201", "cifar100", ("random", "rea"), (4, 5), budget=15, data_dir=str(nasbench_dir.parent)
    )
    serial = run_benchmark(config)
    pooled = run_benchmark(BenchmarkConfig(**{**config.__dict__, "jobs": 2}), runs_per_chunk=1)
    timing = ("wall_seconds", "strategy_seconds")
    strip = lambda rs: [{k: v for k, v in r.to_json().items() if k not in timing} for r in rs]  # noqa: E731
    assert strip(serial) == strip(pooled)


@pytest.mark.realdata
def test_nb101_npz_says_it_selects_on_test(nasbench_dir: Path, tmp_path: Path) -> None:
    config = BenchmarkConfig(
        "nb101",
        "cifar10",
        ("random",),
        (0, 1),
        budget=12,
        data_dir=str(nasbench_dir.parent),
        nb101_source="npz",
    )
    _, reference = load_benchmark(config)
    assert reference.signal_name == "test_acc_108_seed0"
    assert reference.test_acc == pytest.approx(94.66, abs=0.01)
    records = run_benchmark(config)
    assert all(r.signal == "test_acc_108_seed0" for r in records)
    assert all(r.final_test == r.final_signal for r in records)  # the signal IS the test
    paths = write_report(tmp_path, config, reference, records, "ecgnas benchmark nb101", 1.0)
    md = paths["md"].read_text()
    assert "selects on the seed-0 TEST accuracy" in md
    assert paths["png"].stat().st_size > 10_000
    data = json.loads(paths["json"].read_text())
    assert data["reference"]["signal_name"] == "test_acc_108_seed0"
    paths["md"].unlink()
    rerender(paths["json"])  # rebuilt from the JSON alone
    assert paths["md"].read_text() == md
    assert all(r["signal"] == "test_acc_108_seed0" for r in data["runs"])


def test_summary_statistics_on_hand_checked_numbers(tmp_path: Path) -> None:
    config = BenchmarkConfig("nb201", "cifar10", ("dcl_enas", "rea"), (0, 1, 2, 3), budget=4)
    dcl = [
        record("dcl_enas", 0, [90, 93, 94, 94], found_at=3),
        record("dcl_enas", 1, [91, 92, 94, 94], found_at=3),
        record("dcl_enas", 2, [90, 92, 92, 93]),
        record("dcl_enas", 3, [92, 92, 93, 94], found_at=4),
    ]
    rea = [
        record("rea", 0, [90, 91, 92, 93]),
        record("rea", 1, [91, 91, 92, 92]),
        record("rea", 2, [90, 90, 92, 93]),
        record("rea", 3, [92, 93, 93, 93]),
    ]
    s = summarize(config, dcl + rea, reference_evals=4)
    d = s["methods"]["dcl_enas"]
    assert d["final_test_mean"] == pytest.approx(93.75)
    assert d["final_test_std"] == pytest.approx(0.5)
    # t(0.975, 3) = 3.182446; half-width = 3.182446 * 0.5 / 2
    assert d["final_test_ci95"][1] - 93.75 == pytest.approx(3.182446 * 0.25, abs=1e-5)
    assert d["found_best_share"] == 0.75 and d["found_at_mean"] == pytest.approx(10 / 3)
    assert d["curve_mean"] == [90.75, 92.25, 93.25, 93.75]
    assert d["found_share_curve"] == [0.0, 0.0, 0.5, 0.75]
    t = s["paired_tests"]["rea"]
    # differences 1, 2, 0, 1 -> zero dropped, ranks of (1, 2, 1) = (1.5, 3, 1.5): W+ = 6
    assert (t["wins"], t["ties"], t["losses"]) == (3, 1, 0)
    assert t["statistic"] == pytest.approx(6.0)
    assert t["mean_difference"] == pytest.approx(1.0)
    assert 0 < t["p_value"] < 0.2
    ts = s["paired_tests_signal"]["rea"]  # signals are test - 3 here: the same differences
    assert (ts["wins"], ts["ties"], ts["losses"]) == (3, 1, 0)
    assert ts["statistic"] == pytest.approx(6.0)
    # the signal test reads final_signal, not final_test
    dcl[2] = dataclasses.replace(dcl[2], final_signal=dcl[2].final_signal - 1.0)
    s2 = summarize(config, dcl + rea, reference_evals=4)
    assert s2["paired_tests_signal"]["rea"]["losses"] == 1
    assert s2["paired_tests"]["rea"]["ties"] == 1
    # REA's mean at 4 evaluations is 92.75: DCL-ENAS's mean curve reaches it at 3
    assert s["evals_to_match"]["rea"] == {
        "baseline_evals": 4,
        "baseline_mean": 92.75,
        "method_evals": 3,
    }


def test_paired_test_with_only_ties_has_no_p_value() -> None:
    a = [record("dcl_enas", s, [94.0]) for s in range(3)]
    b = [record("rea", s, [94.0]) for s in range(3)]
    t = paired_test(a, b)
    assert t["ties"] == 3 and t["p_value"] is None


def test_curves_pad_short_runs_and_reach_is_first_crossing() -> None:
    c = curves([record("x", 0, [1.0, 2.0]), record("x", 1, [1.0, 2.0, 3.0])], budget=3)
    assert c.tolist() == [[1.0, 2.0, 2.0], [1.0, 2.0, 3.0]]
    assert evals_to_reach([1.0, 2.0, 3.0], 2.0) == 2
    assert evals_to_reach([1.0, 2.0], 5.0) is None


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="unknown NB201 dataset"):
        BenchmarkConfig("nb201", "mnist", ("rea",), (0,), 10)
    with pytest.raises(ConfigError, match="unknown methods"):
        BenchmarkConfig("nb201", "cifar10", ("hyperband",), (0,), 10)
    with pytest.raises(ConfigError, match="budget"):
        BenchmarkConfig("nb201", "cifar10", ("rea",), (0,), 0)


def cli_app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.mark.realdata
def test_cli_nb201_writes_json_markdown_and_png(nasbench_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli_app(),
        [
            "nb201",
            "--dataset",
            "ImageNet16-120",
            "--methods",
            "random,rea",
            "--seeds",
            "3",
            "--budget",
            "20",
            "--out",
            str(tmp_path),
            "--data-dir",
            str(nasbench_dir.parent),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    stem = tmp_path / "search_nb201_ImageNet16-120"
    data = json.loads(stem.with_suffix(".json").read_text())
    assert len(data["runs"]) == 6 and data["config"]["budget"] == 20
    assert data["reference"]["test_acc"] == pytest.approx(46.4778, abs=1e-3)
    md = stem.with_suffix(".md").read_text()
    assert "| REA | 3 |" in md and "img_val_acc_12ep" in md
    assert stem.with_suffix(".png").stat().st_size > 10_000
    assert "ImageNet16-120 rea" in result.output


def test_cli_rejects_an_unknown_dataset() -> None:
    result = CliRunner().invoke(cli_app(), ["nb201", "--dataset", "mnist"])
    assert isinstance(result.exception, ConfigError)
    assert "unknown dataset 'mnist'" in str(result.exception)


def test_found_best_counts_every_arch_tied_on_the_top_signal(nasbench_dir: Path) -> None:
    from ecgnas.benchmarks.harness import first_found
    from ecgnas.search.base import Evaluation

    config = BenchmarkConfig(
        "nb201", "cifar100", ("random",), (0,), budget=10, data_dir=str(nasbench_dir.parent)
    )
    evaluator, reference = load_benchmark(config)
    # two cells share the top 12-epoch validation accuracy 61.32 (tests 72.28 and 73.09)
    assert reference.signal == pytest.approx(61.32)
    assert reference.canonical == "nb201:3,3,2,1,2,3"
    assert reference.test_acc == pytest.approx(72.28)
    assert reference.tied_tests == pytest.approx((73.0933,), abs=1e-3)

    space = evaluator.space

    def evaluations(*cells):
        out = []
        for i, ops in enumerate(cells):
            arch = space.make(ops)
            r = evaluator.evaluate(arch)
            out.append(Evaluation(i, 0, arch, space.canonical(arch), r.score, 0.0, {}))
        return out

    other, twin = [0, 1, 2, 3, 4, 0], [3, 3, 3, 1, 2, 3]
    assert first_found(evaluations(other, twin), reference) == 2  # the tied twin counts
    assert first_found(evaluations(other, [3, 3, 2, 1, 2, 3]), reference) == 2
    assert first_found(evaluations(other), reference) is None


def test_parse_spec() -> None:
    from ecgnas.benchmarks.harness import parse_spec

    assert parse_spec("rea") == ("rea", "rea", {})
    assert parse_spec('dcl_enas:{"dedup":"function"}') == (
        "dcl_enas",
        "dcl_enas",
        {"dedup": "function"},
    )
    assert parse_spec('eff=dcl:{"clf":{"effective":true}}', labelled=True) == (
        "eff",
        "dcl",
        {"clf": {"effective": True}},
    )
    with pytest.raises(ConfigError, match="expected label=name"):
        parse_spec("dcl", labelled=True)
    with pytest.raises(ConfigError, match="not JSON"):
        parse_spec("dcl:{oops}")
    with pytest.raises(ConfigError, match="a JSON object"):
        parse_spec("dcl:[1, 2]")
