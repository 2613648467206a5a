"""The predictor benchmark's report on synthetic records (no table needed)."""

from __future__ import annotations

import json
from pathlib import Path

from ecgnas.benchmarks.predictor_bench import BenchRecord, PredictorBenchConfig
from ecgnas.benchmarks.predictor_report import markdown, write_report

META = {
    "date": "2026-01-01 00:00 UTC",
    "command": "ecgnas test",
    "machine": {"nproc": 2, "python": "3"},
    "wall_seconds": 60.0,
    "signal": "s",
    "n_cells": 423_624,
}


def _records() -> list[BenchRecord]:
    return [
        BenchRecord(v, n, s, 0.5 + 0.01 * s, 0.6, 0.1, 0.2, 0.1)
        for v in ("dcl", "gin_mse")
        for n in (50, 100)
        for s in range(3)
    ]


def test_nb201_report_keeps_targets_and_all_cells() -> None:
    config = PredictorBenchConfig(variants=("dcl", "gin_mse"), seeds=(0, 1, 2), labels=(50, 100))
    md = markdown(config, _records(), META)
    assert md.startswith("# Predictor benchmark: NB201 cifar10-valid")
    assert "metrics over all other cells" in md and "## Targets" in md
    assert "seed-0 test" not in md


def test_nb101_report_says_seed0_test_and_pool(tmp_path: Path) -> None:
    config = PredictorBenchConfig(
        benchmark="nb101", variants=("dcl", "gin_mse"), seeds=(0, 1, 2), labels=(50, 100)
    )
    md = markdown(config, _records(), META)
    assert md.startswith("# Predictor benchmark: NB101 CIFAR-10, seed-0 test accuracy")
    assert "selects on / ranks by, seed-0 test accuracy" in md
    assert "423,624 cells" in md and "10,000 cells per seed" in md
    assert "## Targets" not in md and "## Paired: `dcl` − `gin_mse`" in md
    paths = write_report(tmp_path, config, _records(), None, "ecgnas test", 1.0)
    payload = json.loads(paths["json"].read_text())
    assert payload["meta"]["signal"] == "test_acc_108_seed0"
    assert "seed-0 test" in payload["meta"]["signal_note"]
    assert paths["png"].name == "predictor_nb101.png"


def test_report_targets_and_pairs_dcl_eff_against_dcl() -> None:
    # dcl_eff beats dcl by 0.02 on every seed; both below the 0.80 target at 100 labels
    records = [
        BenchRecord(
            v, n, s, 0.70 + 0.01 * s + (0.02 if v == "dcl_eff" else 0.0), 0.6, 0.1, 0.2, 0.1
        )
        for v in ("dcl", "dcl_eff")
        for n in (50, 100)
        for s in range(3)
    ]
    config = PredictorBenchConfig(variants=("dcl", "dcl_eff"), seeds=(0, 1, 2), labels=(50, 100))
    md = markdown(config, records, META)
    assert "## Targets (Kendall tau of `dcl_eff`)" in md
    assert "- 100 labels: 0.730 (target 0.80): NOT met" in md
    assert "## Paired: `dcl_eff` − `dcl` (Kendall tau)" in md
    assert "| 100 | 0.020 ± 0.000 | 3/3 |" in md
    assert "`gin_mse`" not in md


def test_ecg_report_names_the_joint_encoder_and_its_pool(tmp_path: Path) -> None:
    from ecgnas.benchmarks.predictor_bench import get_pretrained

    config = PredictorBenchConfig(
        benchmark="ecg", variants=("dcl", "gin_mse"), seeds=(0, 1, 2), labels=(50, 100)
    )
    pretrained = get_pretrained(config)  # the shipped ecgjoint encoder, nothing pre-trained
    paths = write_report(tmp_path, config, _records(), pretrained, "ecgnas test", 1.0)
    encoder = json.loads(paths["json"].read_text())["meta"]["encoder"]
    assert encoder["space"] == "ecgjoint" and encoder["pool"] == 50_000
    assert "space ecgjoint, clp_seed 0" in paths["md"].read_text()
