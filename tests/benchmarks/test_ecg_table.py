"""The ECG benchmark table: its arch sample, its file, the table-restricted space, the
evaluator, and search methods compared on it through the harness and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from ecgnas.benchmarks.ecg_table import (
    ECGTable,
    ECGTableEvaluator,
    ECGTableSpace,
    build_table,
    read_rows,
    shipped_table,
    table_archs,
)
from ecgnas.benchmarks.harness import BenchmarkConfig, load_benchmark, run_benchmark
from ecgnas.cli.benchmark_search import register
from ecgnas.errors import ConfigError, DataError
from ecgnas.spaces.ecgjoint import ECGJointSpace


def synthetic_table(path: Path, n: int = 60, fidelity: str = "e2k2") -> Path:
    """A table file of the first ``n`` sample archs with made-up scores that depend on the
    macro genes (so a predictor has something to learn)."""
    rows = []
    for i, arch in enumerate(table_archs(n)):
        score = 0.3 + 0.05 * arch.ops[6] + 0.04 * arch.ops[11] + 0.001 * (i % 7)
        row = {
            "arch": arch.key(),
            "ops": list(arch.ops),
            "index": i,
            "fidelity": fidelity,
            "seed": 0,
            "macro_f1": score,
            "signals": {"macro_f1": score, "balanced_accuracy": 1.0 - score},
            "seconds": 5.0 + i % 3,
        }
        rows.append(json.dumps(row))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_the_sample_is_seeded_distinct_and_extends() -> None:
    space = ECGJointSpace()
    first = table_archs(30)
    assert first == table_archs(30) and table_archs(50)[:30] == first
    assert len({space.canonical(a) for a in first}) == 30
    assert all(space.is_valid(a) for a in first)
    assert table_archs(30, seed=1) != first


def test_table_file_errors_are_one_line_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="table not found"):
        read_rows(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"arch": 1}\nnot json\n')
    with pytest.raises(DataError, match="bad.jsonl:2: not a JSON line"):
        read_rows(bad)
    small = synthetic_table(tmp_path / "small.jsonl", n=5)
    with pytest.raises(DataError, match="5 archs, a search benchmark needs 20"):
        ECGTable.load(small)
    mixed = synthetic_table(tmp_path / "mixed.jsonl", n=30)
    with mixed.open("a") as f:
        f.write(json.dumps({**json.loads(mixed.read_text().splitlines()[0]), "fidelity": "x"}))
    with pytest.raises(DataError, match="several fidelities"):
        ECGTable.load(mixed)
    with pytest.raises(ConfigError, match="shard must be"):
        build_table(2, "e2k2", tmp_path / "t.jsonl", shard=(2, 2))
    with pytest.raises(ConfigError, match="holds rows of fidelity"):
        build_table(60, "e1k2", synthetic_table(tmp_path / "other.jsonl", n=60))


def test_a_table_is_rescored_to_another_signal_of_the_same_training(tmp_path: Path) -> None:
    path = synthetic_table(tmp_path / "t.jsonl", n=30, fidelity="e2k2_n2v")
    before = read_rows(path)
    assert build_table(30, "e2k2_n2v_ba", path) == 0  # every arch is there: nothing trains
    after = read_rows(path)
    assert [r["arch"] for r in after] == [r["arch"] for r in before]
    assert {r["fidelity"] for r in after} == {"e2k2_n2v_ba"}
    assert [r["score"] for r in after] == [1.0 - r["macro_f1"] for r in before]
    table = ECGTable.load(path)
    assert table.fidelity == "e2k2_n2v_ba"
    np.testing.assert_allclose(table.scores, [1.0 - r["macro_f1"] for r in before])
    with pytest.raises(ConfigError, match="holds rows of fidelity"):
        build_table(30, "e3k2_n2v", path)  # trains otherwise: refused, file untouched
    assert read_rows(path) == after


def test_table_space_stays_on_the_table(tmp_path: Path) -> None:
    table = ECGTable.load(synthetic_table(tmp_path / "t.jsonl"))
    space = ECGTableSpace(table.archs)
    assert space.size() == 60 and space.enumerate() == list(table.archs)
    assert space.name.startswith("ecgjoint_table_")
    assert space.name != ECGTableSpace(table.archs[:40]).name
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = space.sample(rng), space.sample(rng)
        m = space.mutate(a, rng)
        assert space.is_valid(m) and m != a
        assert space.is_valid(space.crossover(a, b, rng))
    # mutation takes a nearest table arch: no table arch is closer to the mutant's genes
    a = table.archs[0]
    genes = np.array([x.ops for x in table.archs])
    m = space.mutate(a, np.random.default_rng(3))
    others = [i for i, x in enumerate(table.archs) if x != a]
    best = min((genes[i] != np.array(m.ops)).sum() for i in others)
    assert best == 0  # m itself is the nearest to its own genes
    assert space.to_graph(a).x.shape[1] == space.n_node_types == ECGJointSpace().n_node_types
    assert space.path_encoding([a]).shape == (1, ECGJointSpace().path_length)


def test_evaluator_reads_the_table(tmp_path: Path) -> None:
    table = ECGTable.load(synthetic_table(tmp_path / "t.jsonl"))
    evaluator = ECGTableEvaluator(table)
    result = evaluator.evaluate(table.archs[4])
    assert result.score == pytest.approx(100 * table.scores[4])
    assert result.metrics["test_acc"] == result.score and result.cost_seconds == table.seconds[4]
    with pytest.raises(ConfigError, match="not an arch of the ECG benchmark table"):
        evaluator.evaluate(table_archs(61)[60])


def test_methods_compare_on_the_table_with_paired_seeds(tmp_path: Path) -> None:
    path = synthetic_table(tmp_path / "t.jsonl")
    config = BenchmarkConfig(
        benchmark="ecg",
        dataset="mitbih",
        methods=("random", "rea"),
        seeds=(0, 1, 2),
        budget=15,
        table=str(path),
    )
    evaluator, reference = load_benchmark(config)
    table = ECGTable.load(path)
    assert reference.signal == pytest.approx(100 * table.scores.max())
    assert "DS1 cross-validation" in reference.signal_note
    records = run_benchmark(config)
    assert [(r.method, r.seed) for r in records] == [
        (m, s) for m in ("random", "rea") for s in (0, 1, 2)
    ]
    for r in records:
        assert r.n_evals == 15 and r.final_signal <= reference.signal + 1e-9
        assert r.curve_signal == sorted(r.curve_signal)
    # paired seeds: the same initial random sample for both methods
    assert records[0].curve_signal[0] == records[3].curve_signal[0]


def test_cli_ecg_benchmark_writes_the_report(tmp_path: Path) -> None:
    path = synthetic_table(tmp_path / "t.jsonl")
    app = typer.Typer()
    register(app)
    out = tmp_path / "reports"
    argv = ["ecg", "--table", str(path), "--methods", "random,rea", "--seeds", "3"]
    result = CliRunner().invoke(app, [*argv, "--budget", "12", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    text = (out / "search_ecg.md").read_text()
    assert "DS1-CV proxy score" in text and "test accuracy" not in text
    runs = json.loads((out / "search_ecg.json").read_text())["runs"]
    assert {r["method"] for r in runs} == {"random", "rea"} and len(runs) == 6
    assert all({"method", "seed", "final_signal", "found_best"} <= set(r) for r in runs)
    bad = CliRunner().invoke(app, ["ecg-table", "--fidelity", "nope"])
    assert bad.exit_code != 0 and "unknown --fidelity" in str(bad.exception)


def test_the_shipped_table_path_is_in_the_package() -> None:
    assert shipped_table().parent.name == "benchmarks"
    assert shipped_table().parent.parent.name == "assets"


def test_pretrained_predictors_on_the_table_use_the_shipped_joint_encoder(tmp_path: Path) -> None:
    from ecgnas.predictor.variants import default_clp, make_predictor

    table = ECGTable.load(synthetic_table(tmp_path / "t.jsonl"))
    space = ECGTableSpace(table.archs)
    assert isinstance(space.clp_space, ECGJointSpace)
    predictor = make_predictor("dcl", space, 0, cache_dir=tmp_path / "cache")
    assert predictor.clp == default_clp("ecgjoint") != default_clp(space.name)
    encoder = predictor.pretrained()
    assert encoder.space == "ecgjoint" and encoder.n_node_types == space.n_node_types
    assert not (tmp_path / "cache" / "encoders").exists()  # found shipped, nothing pre-trained
    predictor.fit(table.archs[:12], table.scores[:12])
    assert predictor.score(table.archs[12:20]).shape == (8,)
