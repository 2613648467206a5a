"""A tiny synthetic benchmark for the search tests: a small edge-op cell space, a lookup
evaluator whose optimum is known, and a fast exact predictor.

* ``toy_space(n_ops)``: ``CellSpace`` with ``n_ops`` ops on 6 edges (``n_ops**6`` cells).
* ``ToyEvaluator``: score = an additive function of the ops (a fixed random weight per
  (edge, op), plus 60) with a unique optimum; ``metrics["test_acc"]`` = score + a small
  deterministic offset (so reporting differs from the signal); cost = 10 s per non-none op.
* ``RidgePredictor``: ridge regression on one-hot ops (exact for the additive score), so
  predictor-based strategies can be tested in milliseconds.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ecgnas.errors import ConfigError
from ecgnas.evaluate import Result
from ecgnas.spaces.base import Arch, SearchSpace
from ecgnas.spaces.cell import CellSpace

OP_NAMES = ("none", "a", "b", "c", "d")


def toy_space(n_ops: int = 3) -> CellSpace:
    return CellSpace("toy", OP_NAMES[:n_ops])


class ToyEvaluator:
    """Additive lookup table; ``calls`` counts finished evaluations, ``fail_after`` raises
    on the call after that many finished ones (an interrupted run)."""

    def __init__(self, space: CellSpace, seed: int = 123, fail_after: int | None = None) -> None:
        self.space = space
        rng = np.random.default_rng(seed)
        self.weights = rng.normal(0.0, 1.0, size=(6, space.n_ops))
        self.offset = rng.normal(0.0, 0.05, size=(6, space.n_ops))
        self.calls = 0
        self.fail_after = fail_after
        self.evaluated: list[str] = []

    def score_of(self, arch: Arch) -> float:
        return 60.0 + float(sum(self.weights[e, o] for e, o in enumerate(arch.ops)))

    def evaluate(self, arch: Arch) -> Result:
        if not self.space.is_valid(arch):
            raise ConfigError(f"not a toy arch: {arch}")
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("evaluator died")
        self.calls += 1
        self.evaluated.append(self.space.canonical(arch))
        score = self.score_of(arch)
        test = score + float(sum(self.offset[e, o] for e, o in enumerate(arch.ops)))
        cost = 10.0 * sum(1 for o in arch.ops if o != self.space.none_index)
        return Result(score, cost, {"test_acc": test, "signal": "toy_val"})

    def optimum(self) -> Arch:
        best = tuple(int(np.argmax(self.weights[e])) for e in range(6))
        return Arch(self.space.name, best)

    def all_scores(self) -> np.ndarray:
        return np.array(
            [
                self.score_of(Arch("toy", ops))
                for ops in itertools.product(range(self.space.n_ops), repeat=6)
            ]
        )


class RidgePredictor:
    """Ridge regression on one-hot edge ops; deterministic, a few microseconds per fit."""

    def __init__(self, space: SearchSpace, seed: int, alpha: float = 1e-3) -> None:
        self.space = space
        self.seed = seed
        self.alpha = alpha
        self.coef: np.ndarray | None = None
        self.fits = 0

    def _features(self, archs: Sequence[Arch]) -> np.ndarray:
        n_ops = len(self.space.op_names)
        x = np.zeros((len(archs), 6 * n_ops + 1))
        for i, a in enumerate(archs):
            for e, o in enumerate(a.ops):
                x[i, e * n_ops + o] = 1.0
            x[i, -1] = 1.0
        return x

    def fit(self, archs: Sequence[Arch], scores: Sequence[float]) -> None:
        x = self._features(archs)
        y = np.asarray(scores, dtype=np.float64)
        self.coef = np.linalg.solve(x.T @ x + self.alpha * np.eye(x.shape[1]), x.T @ y)
        self.fits += 1

    def score(self, archs: Sequence[Arch]) -> np.ndarray:
        assert self.coef is not None, "fit first"
        return self._features(archs) @ self.coef


def ridge_factory(space: SearchSpace, seed: int) -> RidgePredictor:
    return RidgePredictor(space, seed)
