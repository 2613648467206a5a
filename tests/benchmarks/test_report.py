"""The search-benchmark report's statistics (``ecgnas.benchmarks.report``)."""

from __future__ import annotations

import numpy as np

from ecgnas.benchmarks.harness import RunRecord
from ecgnas.benchmarks.report import _label, curves, evals_to_reach, paired_test


def record(method: str, seed: int, curve: list[float]) -> RunRecord:
    return RunRecord(
        method=method, seed=seed, n_evals=len(curve), final_test=curve[-1],
        final_signal=curve[-1], best_arch={}, best_canonical="", found_best=False,
        found_at=None, curve_test=curve, curve_signal=curve, wall_seconds=0.0,
        strategy_seconds=0.0, stop_reason="budget",
    )  # fmt: skip


def test_curves_pad_a_run_that_stopped_early() -> None:
    out = curves([record("rea", 0, [1.0, 2.0]), record("rea", 1, [1.0, 3.0, 4.0])], 3)
    assert np.array_equal(out, [[1.0, 2.0, 2.0], [1.0, 3.0, 4.0]])


def test_paired_test_counts_wins_ties_losses_by_seed() -> None:
    a = [record("dcl_enas", s, [v]) for s, v in enumerate([3.0, 2.0, 1.0, 5.0])]
    b = [record("rea", s, [v]) for s, v in enumerate([1.0, 2.0, 2.0])]  # no seed 3
    out = paired_test(a, b)
    assert (out["n_pairs"], out["wins"], out["ties"], out["losses"]) == (3, 1, 1, 1)
    assert out["mean_difference"] == 1.0 / 3.0
    assert out["p_value"] is not None


def test_evals_to_reach_and_labels() -> None:
    assert evals_to_reach([1.0, 2.0, 3.0], 2.0) == 2
    assert evals_to_reach([1.0], 2.0) is None
    assert _label("dcl_enas") == "DCL-ENAS" and _label("bananas") == "BANANAS"
    assert _label("custom") == "custom"
