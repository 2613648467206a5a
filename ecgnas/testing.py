"""Test helpers shipped with the package (as ``optuna.testing``): a toy benchmark, fast
strategy settings, a run that SIGKILLs itself, and small fixtures shared by several tests.

The toy benchmark:

* ``toy_space(n_ops)``: ``CellSpace`` with ``n_ops`` ops on 6 edges (``n_ops**6`` cells).
* ``ToyEvaluator``: score = an additive function of the ops (a fixed random weight per
  (edge, op), plus 60) with a unique optimum; ``metrics["test_acc"]`` = score + a small
  deterministic offset (so reporting differs from the signal); cost = 10 s per non-none op.
* ``RidgePredictor``: ridge regression on one-hot ops (exact for the additive score), so
  predictor-based strategies can be tested in milliseconds.

``python -m ecgnas.testing kill-run JOURNAL METHOD SEED BUDGET KILL_AFTER`` runs a toy search
with a journal run log and SIGKILLs its own process mid-evaluation (resume tests).

Light to import: numpy only; torch and optuna are imported by the helpers that need them.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgnas.errors import ConfigError
from ecgnas.evaluate import Result
from ecgnas.predictor.base import Scores
from ecgnas.spaces.base import Arch, SearchSpace
from ecgnas.spaces.cell import CellSpace

if TYPE_CHECKING:
    from ecgnas.search.base import Strategy

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

    def fit(self, archs: Sequence[Arch], scores: Scores) -> None:
        x = self._features(archs)
        y = np.asarray(scores, dtype=np.float64)
        self.coef = np.linalg.solve(x.T @ x + self.alpha * np.eye(x.shape[1]), x.T @ y)
        self.fits += 1

    def score(self, archs: Sequence[Arch]) -> np.ndarray:
        assert self.coef is not None, "fit first"
        return self._features(archs) @ self.coef


def ridge_factory(space: SearchSpace, seed: int) -> RidgePredictor:
    return RidgePredictor(space, seed)


#: small strategy settings for toy runs of a few dozen evaluations
FAST_SETTINGS: dict[str, dict[str, Any]] = {
    "dcl_enas": {"offspring": 30, "t_gap": 2, "n_init": 10, "population": 10, "n_infill": 5},
    "npenas": {"n_init": 10, "batch": 5, "n_candidates": 40},
    "rea": {"population": 10, "sample": 3},
    "random": {"batch": 4},
}


def fast_strategy(name: str) -> Strategy:
    """Strategy ``name`` with ``FAST_SETTINGS`` and the ridge predictor."""
    from ecgnas.search.registry import make_strategy

    return make_strategy(name, predictor_factory=ridge_factory, **FAST_SETTINGS[name])


def killing_evaluator(kill_after: int) -> ToyEvaluator:
    """A ``ToyEvaluator`` (same class, so the logged settings match) that SIGKILLs its own
    process (no cleanup, no except/finally) when asked for evaluation ``kill_after + 1``."""
    evaluator = ToyEvaluator(toy_space(3))
    evaluate = evaluator.evaluate

    def killing(arch: Arch) -> Result:
        if evaluator.calls >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return evaluate(arch)

    evaluator.evaluate = killing  # type: ignore[method-assign]  # the point: same class, new method
    return evaluator


def kill_run(
    journal: str | os.PathLike[str], method: str, seed: int, budget: int, kill_after: int
) -> None:
    """A toy search logged to ``journal`` whose process dies while evaluation ``kill_after + 1``
    is RUNNING in the log (it never returns)."""
    from ecgnas.search import Budget, OptunaRunLog, run_search

    run_search(
        fast_strategy(method),
        killing_evaluator(kill_after),
        Budget(max_evals=budget),
        seed,
        log=OptunaRunLog(journal),
    )


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch on one thread inside the block: tiny models on a shared 2-core machine run
    several times faster without thread contention."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_script(path: Path) -> ModuleType:
    """Import a script of ``scripts/`` (not a package module) as a module, for its tests."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"{path.stem}_script", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


def real_data_dir(repo: Path) -> Path:
    """Where the real data is: ``$ECGNAS_DATA_DIR``, else ``shared/data`` beside the
    checkout ``repo``, else ecgnas' default data directory."""
    env = os.environ.get("ECGNAS_DATA_DIR")
    if env:
        return Path(env)
    shared = repo.parent / "shared" / "data"
    if shared.exists():
        return shared
    from ecgnas.paths import data_dir

    return data_dir()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ecgnas.testing kill-run JOURNAL METHOD SEED BUDGET KILL_AFTER``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 6 or args[0] != "kill-run":
        print(main.__doc__, file=sys.stderr)
        return 2
    journal, method, seed, budget, kill_after = args[1:]
    kill_run(journal, method, int(seed), int(budget), int(kill_after))
    return 0


__all__ = [
    "FAST_SETTINGS",
    "OP_NAMES",
    "RidgePredictor",
    "ToyEvaluator",
    "fast_strategy",
    "kill_run",
    "killing_evaluator",
    "one_torch_thread",
    "real_data_dir",
    "ridge_factory",
    "toy_space",
]

if __name__ == "__main__":
    sys.exit(main())
