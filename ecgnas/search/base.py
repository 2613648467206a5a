"""The search contract: ``Strategy`` (ask/tell), ``History`` and the records of a run.

A strategy never evaluates anything itself. The driver (``ecgnas.search.driver``) asks it
for a batch of archs, evaluates the new ones under the budget, and tells it what came
back. A strategy sees only the search signal (``Observation.score``) and the costs; the
reporting-only metrics of an evaluation (a test accuracy, say) live in ``Evaluation`` and
are never handed to a strategy.

Determinism contract (what makes resume exact): given the same ``seed`` and the same
sequence of observations, a strategy proposes the same archs in the same order. All its
randomness comes from generators seeded in ``start``; it keeps no state outside itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ecgnas.spaces.base import Arch, SearchSpace


@dataclass(frozen=True)
class Observation:
    """What a strategy may know about one evaluated arch.

    ``score`` is the search signal (higher is better); ``cost_seconds`` the device seconds
    the evaluation charged to the budget; ``canonical`` the space's isomorphism-aware hash.
    """

    arch: Arch
    canonical: str
    score: float
    cost_seconds: float


@dataclass(frozen=True)
class Evaluation:
    """One finished evaluation as the run log holds it.

    ``index`` is its position in the run (0-based, the order of evaluation); ``round`` the
    ask/tell round that proposed it; ``metrics`` everything the evaluator reported besides
    the score (``test_acc``, ``signal``, ...), for reporting only.
    """

    index: int
    round: int
    arch: Arch
    canonical: str
    score: float
    cost_seconds: float
    metrics: dict[str, float | str] = field(default_factory=dict)

    def observation(self) -> Observation:
        return Observation(self.arch, self.canonical, self.score, self.cost_seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "round": self.round,
            "arch": self.arch.to_json(),
            "canonical": self.canonical,
            "score": self.score,
            "cost_seconds": self.cost_seconds,
            "metrics": dict(self.metrics),
        }


class History:
    """The evaluated archs of a run, in evaluation order, as a strategy sees them.

    Holds ``Observation`` records (no reporting metrics), a canonical-hash index for
    de-duplication, and the seconds spent so far (evaluator cost plus strategy time), which
    is what a device-time budget counts.
    """

    def __init__(self) -> None:
        self._obs: list[Observation] = []
        self._index: dict[str, int] = {}
        self.eval_seconds = 0.0
        self.strategy_seconds = 0.0

    def __len__(self) -> int:
        return len(self._obs)

    def __iter__(self) -> Iterator[Observation]:
        return iter(self._obs)

    def __getitem__(self, i: int) -> Observation:
        return self._obs[i]

    @property
    def seconds(self) -> float:
        """Total seconds charged so far: evaluator costs plus strategy/predictor time."""
        return self.eval_seconds + self.strategy_seconds

    def seen(self, canonical: str) -> bool:
        """Whether an arch with this canonical hash has been evaluated."""
        return canonical in self._index

    def add(self, obs: Observation) -> None:
        """Append one observation (``ValueError`` if its canonical hash is already here)."""
        if obs.canonical in self._index:
            raise ValueError(f"arch {obs.canonical} is already in the history")
        self._index[obs.canonical] = len(self._obs)
        self._obs.append(obs)
        self.eval_seconds += obs.cost_seconds

    def charge(self, seconds: float) -> None:
        """Add strategy/predictor seconds to the spent time."""
        self.strategy_seconds += seconds

    def archs(self) -> list[Arch]:
        return [o.arch for o in self._obs]

    def scores(self) -> np.ndarray:
        """float64 ``[len(self)]`` scores in evaluation order."""
        return np.array([o.score for o in self._obs], dtype=np.float64)

    def best(self) -> Observation:
        """The observation with the highest score (the earliest on ties); ``ValueError`` if empty."""
        if not self._obs:
            raise ValueError("the history is empty")
        return self._obs[int(np.argmax(self.scores()))]

    def top(self, k: int) -> list[Observation]:
        """The ``k`` best observations, best first (stable: earlier first on ties)."""
        order = np.argsort(-self.scores(), kind="stable")[:k]
        return [self._obs[int(i)] for i in order]


@runtime_checkable
class Strategy(Protocol):
    """A search method in ask/tell form.

    ``start`` (re)initialises it for a run; then the driver repeats ``ask`` -> evaluate the
    new archs -> ``tell``. ``ask`` returns archs in priority order; the driver skips any whose
    canonical hash is already in the history and stops mid-batch when the budget runs out,
    so a strategy must not assume every proposal is evaluated (``tell`` says which were).
    Returning an empty list means the strategy has nothing new to propose.
    """

    #: the method name recorded in the run log (``"dcl_enas"``, ``"rea"``, ...)
    name: str

    def settings(self) -> dict[str, Any]:
        """JSON-serialisable settings; a resumed run must have equal settings."""

    def start(self, space: SearchSpace, seed: int) -> None:
        """Reset all state for a new run on ``space``; every rng is seeded from ``seed``."""

    def ask(self, history: History) -> list[Arch]:
        """The next archs to evaluate, best first."""

    def tell(self, history: History, new: Sequence[Observation]) -> None:
        """The observations added since the last ``ask`` (``history`` already holds them)."""


def seed_streams(seed: int, n: int) -> list[np.random.Generator]:
    """``n`` independent generators derived from one run seed.

    Stream 0 is by convention the *initial-sample stream*: every method that starts from a
    random sample draws it from ``initial_stream(seed)`` so paired runs share it.
    """
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def initial_stream(seed: int) -> np.random.Generator:
    """The generator of the initial random sample for ``seed`` (the same in every method)."""
    return np.random.default_rng(np.random.SeedSequence([seed, 0x1A17]))


def draw_new(
    space: SearchSpace,
    rng: np.random.Generator,
    exclude: set[str] | History,
    max_tries: int = 10_000,
) -> Arch | None:
    """A random arch whose canonical hash is not in ``exclude``; ``None`` after ``max_tries``."""
    for _ in range(max_tries):
        arch = space.sample(rng)
        key = space.canonical(arch)
        taken = exclude.seen(key) if isinstance(exclude, History) else key in exclude
        if not taken:
            return arch
    return None


class InitialSample:
    """The paired initial random sample: distinct archs drawn in order from ``initial_stream``.

    ``take(n, history)`` returns the next archs of the stream not yet evaluated, so any method
    that asks for its first ``n`` random archs gets the same ``n`` archs for the same seed.
    """

    def __init__(self, space: SearchSpace, seed: int) -> None:
        self._space = space
        self._rng = initial_stream(seed)
        self._drawn: list[Arch] = []
        self._keys: set[str] = set()
        self._first_open = 0  # every stream arch before this index is in the history

    def take(self, n: int, history: History) -> list[Arch]:
        """Up to ``n`` stream archs not in ``history`` (fewer when the space runs out)."""
        out: list[Arch] = []
        while self._first_open < len(self._drawn) and history.seen(
            self._space.canonical(self._drawn[self._first_open])
        ):
            self._first_open += 1
        i = self._first_open
        while len(out) < n:
            if i == len(self._drawn):
                arch = draw_new(self._space, self._rng, self._keys)
                if arch is None:
                    break
                self._drawn.append(arch)
                self._keys.add(self._space.canonical(arch))
            arch = self._drawn[i]
            i += 1
            if not history.seen(self._space.canonical(arch)):
                out.append(arch)
        return out


def balanced_design(candidates: Sequence[Arch], n: int) -> list[Arch]:
    """``n`` of ``candidates`` chosen greedily so each gene's values appear as evenly as
    possible: each pick is the candidate whose values (``Arch.ops``, position by position;
    a missing vertex counts as one more value) the picks so far hold least often, summed
    over positions; ties go to the earlier candidate, so the first pick is
    ``candidates[0]``. Deterministic for a given order.

    A balanced initial sample shows a predictor every value of every gene early (each op on
    every edge, each macro choice), which a small random sample often does not.
    """
    if not candidates or n <= 0:
        return []
    width = max(len(a.ops) for a in candidates)  # vertex spaces: archs differ in size
    genes = np.zeros((len(candidates), width), dtype=np.int64)  # 0: no vertex here
    for row, arch in zip(genes, candidates):
        row[: len(arch.ops)] = np.asarray(arch.ops, dtype=np.int64) + 1
    counts = np.zeros((genes.shape[1], int(genes.max()) + 1), dtype=np.int64)
    positions = np.arange(genes.shape[1])
    open_ = np.ones(len(candidates), dtype=bool)
    picks: list[Arch] = []
    for _ in range(min(n, len(candidates))):
        load = counts[positions[None, :], genes].sum(axis=1)
        load[~open_] = np.iinfo(np.int64).max
        i = int(np.argmin(load))  # argmin takes the first of ties
        open_[i] = False
        counts[positions, genes[i]] += 1
        picks.append(candidates[i])
    return picks
