"""The predictor benchmark: metrics, paired labelled sets, and a tiny real run to a report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ecgnas.benchmarks.predictor_bench import (
    BenchRecord,
    PredictorBenchConfig,
    labelled_sets,
    paired_difference,
    pool_cells,
    ranking_metrics,
    run_predictor_bench,
    summarize,
    write_report,
)
from ecgnas.cli import main
from ecgnas.errors import ConfigError, DataError

# one torch thread: the CI machine has 2 shared cores (oversubscription is slow)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_ranking_metrics_by_hand() -> None:
    true = np.arange(40, dtype=np.float64)
    m = ranking_metrics(true * 2 + 1, true, 0.05)  # k = 2
    assert m == {"kendall_tau": 1.0, "spearman": 1.0, "precision_top": 1.0}
    m = ranking_metrics(-true, true, 0.05)
    assert m["kendall_tau"] == -1.0 and m["precision_top"] == 0.0
    # swap the best two with ranks 3 and 4 of 40: top-2 sets share nothing
    pred = true.copy()
    pred[[38, 39]] = pred[[36, 37]]
    pred[[36, 37]] = true[[38, 39]]
    assert ranking_metrics(pred, true, 0.05)["precision_top"] == 0.0
    # top 10 % (k = 4): the same four cells, precision 1
    assert ranking_metrics(pred, true, 0.10)["precision_top"] == 1.0


def test_labelled_sets_are_nested_and_seeded() -> None:
    a = labelled_sets(1000, (20, 50, 100), seed=3)
    assert [len(v) for v in a.values()] == [20, 50, 100]
    assert set(a[20]) <= set(a[50]) <= set(a[100])
    b = labelled_sets(1000, (20, 50, 100), seed=3)
    assert all(np.array_equal(a[n], b[n]) for n in a)
    assert not np.array_equal(a[20], labelled_sets(1000, (20,), seed=4)[20])


def test_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="unknown predictor"):
        PredictorBenchConfig(variants=("dcl", "bogus"))
    with pytest.raises(ConfigError, match="benchmark"):
        PredictorBenchConfig(benchmark="nb999")
    with pytest.raises(ConfigError):
        PredictorBenchConfig(labels=())
    with pytest.raises(ConfigError):
        PredictorBenchConfig(jobs=0)


def test_paired_difference_and_summary() -> None:
    recs = [
        BenchRecord("dcl", 50, s, tau, 0.0, 0.0, 0.1, 0.1)
        for s, tau in enumerate([0.7, 0.72, 0.69])
    ] + [
        BenchRecord("gin_mse", 50, s, tau, 0.0, 0.0, 0.1, 0.1)
        for s, tau in enumerate([0.6, 0.65, 0.7])
    ]
    d = paired_difference(recs, "dcl", "gin_mse")[50]
    assert d["mean"] == pytest.approx((0.1 + 0.07 - 0.01) / 3)
    assert d["wins"] == 2 and d["n"] == 3
    s = summarize(recs)
    assert s["dcl"][50]["kendall_tau_mean"] == pytest.approx(0.7033333, abs=1e-6)
    assert s["gin_mse"][50]["n"] == 3


def test_tiny_real_benchmark_writes_a_report(nasbench_dir: Path, tmp_path: Path) -> None:
    config = PredictorBenchConfig(
        labels=(20, 60),
        seeds=(0, 1),
        variants=("onehot_mlp_rank", "onehot_mlp_mse"),
        data_dir=str(nasbench_dir.parent),
        cache_dir=str(tmp_path / "cache"),
    )
    records, pretrained = run_predictor_bench(config)
    assert pretrained is None  # no pre-trained variant asked for
    assert len(records) == 2 * 2 * 2
    for r in records:
        assert -1.0 <= r.kendall_tau <= 1.0 and 0.0 <= r.precision_top <= 1.0
        assert r.fit_seconds > 0 and r.score_seconds > 0
    s = summarize(records)
    # the anchor: a pairwise-ranking MLP on one-hot ops reaches tau ~0.5 at 50 labels
    assert 0.35 < s["onehot_mlp_rank"][60]["kendall_tau_mean"] < 0.75
    assert (
        s["onehot_mlp_rank"][60]["kendall_tau_mean"] > s["onehot_mlp_rank"][20]["kendall_tau_mean"]
    )
    paths = write_report(tmp_path / "out", config, records, None, "ecgnas test", 1.0)
    payload = json.loads(paths["json"].read_text())
    assert len(payload["records"]) == 8
    assert payload["meta"]["signal"] == "c10valid_val_acc"
    md = paths["md"].read_text()
    assert "| `onehot_mlp_rank` |" in md and "Kendall tau" in md
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["benchmark", "predictor", "nb201", "--dataset", "mnist", "--data-dir", str(tmp_path)])
    assert exc.value.code == 2
    assert capsys.readouterr().err.startswith("error: unknown NB201 dataset 'mnist'")
    with pytest.raises(SystemExit) as exc:
        main(["benchmark", "predictor", "nb201", "--labels", "20,x"])
    assert exc.value.code == 2
    assert "--labels" in capsys.readouterr().err
    with pytest.raises(DataError, match="not found"):
        run_predictor_bench(PredictorBenchConfig(data_dir=str(tmp_path), variants=("path_mlp",)))


def test_nb101_config_and_pool_cells() -> None:
    c = PredictorBenchConfig(benchmark="nb101")
    assert c.dataset == "cifar10" and c.pool == 10_000
    assert PredictorBenchConfig(benchmark="nb101", dataset="cifar10").dataset == "cifar10"
    nb201 = PredictorBenchConfig()
    assert nb201.dataset == "cifar10-valid" and nb201.pool is None  # NB201 unchanged
    with pytest.raises(ConfigError, match="--dataset is NB201's"):
        PredictorBenchConfig(benchmark="nb101", dataset="cifar100")
    with pytest.raises(ConfigError, match="--pool"):
        PredictorBenchConfig(benchmark="nb101", pool=1)
    pool = pool_cells(1000, (20, 50), seed=3, pool=100)
    assert len(pool) == len(np.unique(pool)) == 100
    assert not set(pool) & set(labelled_sets(1000, (20, 50), seed=3)[50])
    assert np.array_equal(pool, pool_cells(1000, (20, 50), seed=3, pool=100))
    with pytest.raises(ConfigError, match="--pool"):
        pool_cells(1000, (20, 50), seed=3, pool=960)


def test_tiny_nb101_benchmark_ranks_by_seed0_test(nasbench_dir: Path, tmp_path: Path) -> None:
    config = PredictorBenchConfig(
        benchmark="nb101",
        labels=(20,),
        seeds=(0,),
        variants=("onehot_mlp_rank", "gin_mse"),
        pool=500,
        data_dir=str(nasbench_dir.parent),
        cache_dir=str(tmp_path / "cache"),
    )
    records, pretrained = run_predictor_bench(config)
    assert pretrained is None
    assert [(r.variant, r.labels, r.seed) for r in records] == [
        ("onehot_mlp_rank", 20, 0),
        ("gin_mse", 20, 0),
    ]
    for r in records:
        assert -1.0 <= r.kendall_tau <= 1.0 and 0.0 <= r.precision_top <= 1.0
    paths = write_report(tmp_path / "out", config, records, None, "ecgnas test", 1.0)
    assert sorted(p.name for p in paths.values()) == [
        "predictor_nb101.json",
        "predictor_nb101.md",
        "predictor_nb101.png",
    ]
    payload = json.loads(paths["json"].read_text())
    assert payload["meta"]["signal"] == "test_acc_108_seed0"
    assert payload["meta"]["pool"] == 500 and payload["config"]["pool"] == 500
    md = paths["md"].read_text()
    assert "seed-0 test accuracy" in md and "selects on / ranks by" in md
    assert "500 cells per seed" in md and "Targets" not in md


def test_cli_rejects_a_dataset_for_nb101(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["benchmark", "predictor", "nb101", "--dataset", "cifar100"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --dataset is NB201's") and err.count("\n") == 1


def test_tiny_ecg_benchmark_ranks_the_table_archs(tmp_path: Path) -> None:
    """``benchmark="ecg"`` ranks the shipped ECG table's joint-space archs by their DS1-CV
    proxy score (x 100) and says so in the report."""
    from ecgnas.benchmarks.ecg_table import ECGTable

    config = PredictorBenchConfig(benchmark="ecg", labels=(20,), seeds=(0,), variants=("path_mlp",))
    assert config.dataset == "mitbih-ds1cv" and config.pool is None
    with pytest.raises(ConfigError, match="ecg has one dataset"):
        PredictorBenchConfig(benchmark="ecg", dataset="cifar10")
    records, pretrained = run_predictor_bench(config)
    assert pretrained is None and len(records) == 1
    assert 0.0 < records[0].kendall_tau <= 1.0  # the path encoding carries the macro genes
    paths = write_report(tmp_path, config, records, None, "ecgnas test", 1.0)
    assert paths["md"].name == "predictor_ecg.md"
    meta = json.loads(paths["json"].read_text())["meta"]
    assert meta["signal"] == "ecg_table_score_x100"
    assert meta["n_cells"] == len(ECGTable.load().archs)
    assert "no DS2 record is read" in paths["md"].read_text()
