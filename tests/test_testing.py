"""``ecgnas.testing``: the toy benchmark and the self-killing run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from ecgnas.testing import FAST_SETTINGS, ToyEvaluator, fast_strategy, ridge_factory, toy_space


def test_toy_benchmark_optimum_and_exact_predictor() -> None:
    space = toy_space(3)
    evaluator = ToyEvaluator(space)
    scores = evaluator.all_scores()
    assert len(scores) == 3**6
    assert evaluator.score_of(evaluator.optimum()) == scores.max()
    archs = [space.sample(np.random.default_rng(i)) for i in range(40)]
    predictor = ridge_factory(space, 0)
    predictor.fit(archs, [evaluator.score_of(a) for a in archs])
    np.testing.assert_allclose(
        predictor.score(archs), [evaluator.score_of(a) for a in archs], atol=1e-2
    )


def test_fast_strategies_are_registered_names() -> None:
    for name in FAST_SETTINGS:
        assert fast_strategy(name).name == name


def test_kill_run_dies_by_sigkill(tmp_path: Path) -> None:
    journal = tmp_path / "run.journal"
    argv = [sys.executable, "-m", "ecgnas.testing", "kill-run", str(journal), "rea", "0", "20", "3"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert journal.exists()
    usage = subprocess.run([sys.executable, "-m", "ecgnas.testing"], capture_output=True, text=True)
    assert usage.returncode == 2 and "kill-run" in usage.stderr
