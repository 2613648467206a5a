"""The one loop that runs any ``Strategy`` under a ``Budget`` with a run log.

Each round: ``tell`` the strategy what the last round evaluated, ``ask`` it for a batch,
charge the strategy's time to the budget, then evaluate the batch in order. Before each
evaluation the driver skips archs whose canonical hash is already in the history and
checks the budget, so no arch is evaluated twice and ``max_evals`` is never exceeded.

Resume (``resume=True`` on a log that already holds evaluations): the strategy is re-run
from the start with the same seed; every proposal that the log already holds (the next
logged evaluation, in order) is answered from the log instead of being evaluated, and the
logged strategy seconds of each round replace the measured ones, so the run continues
exactly where it stopped and its budget replays identically. A trial left ``RUNNING`` by a
killed process never finished, so its arch is evaluated again. If a non-deterministic
strategy proposes something else than the log holds, the remaining logged evaluations are
adopted into the history as they are (nothing lost, nothing repeated) and a warning says
that the run from there on differs from an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from ecgnas.errors import RunError
from ecgnas.evaluate import Evaluator
from ecgnas.search.base import Evaluation, History, Observation, Strategy
from ecgnas.search.budget import Budget
from ecgnas.search.runlog import OptunaRunLog
from ecgnas.spaces.base import Arch, SearchSpace

logger = logging.getLogger(__name__)

#: rounds in a row without a new evaluation after which a run stops
MAX_IDLE_ROUNDS = 50


def count_idle(progressed: bool, idle: int, stop_reason: str) -> tuple[int, str]:
    """Rounds in a row without a new evaluation, and the stop reason once there are too many."""
    if progressed:
        return 0, stop_reason
    idle += 1
    if idle >= MAX_IDLE_ROUNDS and not stop_reason:
        stop_reason = f"no new arch proposed in {MAX_IDLE_ROUNDS} rounds"
    return idle, stop_reason


def propose(
    strategy: Strategy,
    history: History,
    new: list[Observation],
    round_: int,
    logged_seconds: dict[int, float],
    record: Callable[[int, float], None],
) -> tuple[list[Arch], float]:
    """One strategy round: tell it the last round's results, ask for a batch, and charge its
    time to the history: the logged time when the round is replayed, else the measured time,
    which ``record(round_, seconds)`` logs."""
    t0 = time.perf_counter()
    if round_ > 0:
        strategy.tell(history, new)
    batch = strategy.ask(history)
    seconds = logged_seconds.get(round_)
    if seconds is None:
        seconds = time.perf_counter() - t0
        record(round_, seconds)
    history.charge(seconds)
    return batch, seconds


def log_stop(n_evaluations: int, stop_reason: str, n_unused: int) -> None:
    """Log why a run stopped, and the logged evaluations a resumed run did not use."""
    if n_unused > 0:
        logger.warning(
            "%d logged evaluations lie beyond this budget and are not part of the result",
            n_unused,
        )
    logger.info("run stopped after %d evaluations: %s", n_evaluations, stop_reason)


@dataclass
class RunResult:
    """The outcome of one run.

    evaluations:
        Every evaluation in order, metrics included (reporting only).
    round_seconds:
        Strategy/predictor seconds charged in each round (logged values on replay).
    stop_reason:
        Why the run stopped (budget, strategy exhausted, ...).
    n_replayed / n_interrupted:
        Evaluations answered from the log on resume; trials found left ``RUNNING``.
    wall_seconds:
        Wall-clock time of this call (replay included).
    """

    settings: dict[str, Any]
    evaluations: list[Evaluation]
    round_seconds: list[float]
    stop_reason: str
    n_replayed: int = 0
    n_interrupted: int = 0
    wall_seconds: float = 0.0
    seconds_spent: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def best(self) -> Evaluation:
        """The evaluation with the highest score (earliest on ties); ``RunError`` if none."""
        if not self.evaluations:
            raise RunError("the run has no evaluations")
        scores = np.array([e.score for e in self.evaluations])
        return self.evaluations[int(np.argmax(scores))]

    def best_so_far(self, metric: str | None = None) -> np.ndarray:
        """float64 ``[n_evals]``: after each evaluation, ``metric`` (or the score when ``None``)
        of the best-by-score arch so far (earliest on ties)."""
        out = np.empty(len(self.evaluations), dtype=np.float64)
        best_score = -math.inf
        best_value = math.nan
        for i, ev in enumerate(self.evaluations):
            if ev.score > best_score:
                best_score = ev.score
                best_value = ev.score if metric is None else float(ev.metrics[metric])
            out[i] = best_value
        return out


# ==========================================================================================
# the ask/tell loop, for one process and for many
# ==========================================================================================


class Logged(Protocol):
    """A logged evaluation the loop can replay (it only compares canonical hashes)."""

    @property
    def canonical(self) -> str: ...


_L = TypeVar("_L", bound=Logged)
_L_contra = TypeVar("_L_contra", bound=Logged, contravariant=True)


class Executor(Protocol[_L_contra]):
    """Where the loop's evaluations happen: at once (``run_search``) or by workers in batches
    (``run_distributed``). Run indices are given in call order, each the next one."""

    @property
    def history(self) -> History: ...

    def adopt(self, entry: _L_contra) -> None:
        """Take a logged evaluation as the next run index."""

    def submit(self, round_: int, arch: Arch, canonical: str) -> None:
        """Evaluate ``arch`` as the next run index."""

    def pending(self) -> int:
        """Run indices adopted or submitted but not in the history yet."""

    def flush(self) -> None:
        """Add every pending run index to the history, in index order."""


@dataclass
class LoopOutcome:
    """How the loop ended: strategy seconds per round, why it stopped, logged evaluations
    it did not use."""

    round_seconds: list[float]
    stop_reason: str
    n_unused: int


class _AskTellLoop(Generic[_L]):
    """The ask/tell loop (see the module docstring), over an ``Executor``."""

    def __init__(
        self,
        space: SearchSpace,
        budget: Budget,
        executor: Executor[_L],
        logged: Sequence[_L],
    ) -> None:
        self.space = space
        self.budget = budget
        self.executor = executor
        self.history = executor.history
        self.logged = logged
        self.pos = 0  # logged run indices consumed so far
        self.stop_reason = ""

    def allows(self) -> bool:
        """Whether the budget allows one more run index; sets the stop reason if not."""
        n = len(self.history) + self.executor.pending()
        if self.budget.allows(n, self.history.seconds):
            return True
        self.stop_reason = self.budget.stop_reason(n, self.history.seconds)
        return False

    def _adopt_next(self, planned: set[str]) -> None:
        entry = self.logged[self.pos]
        self.executor.adopt(entry)
        planned.add(entry.canonical)
        self.pos += 1

    def _diverge(self, planned: set[str]) -> None:
        """The strategy proposes something else than the log holds: adopt the rest of the log."""
        logger.warning(
            "the strategy diverges from the run log at evaluation %d (non-deterministic "
            "strategy or predictor?); adopting the %d remaining logged evaluations as "
            "they are, so the rest of this run differs from an uninterrupted one",
            len(self.history) + self.executor.pending(),
            len(self.logged) - self.pos,
        )
        while self.pos < len(self.logged) and self.allows():
            self._adopt_next(planned)

    def run_batch(self, batch: Sequence[Arch], round_: int) -> None:
        """Replay, adopt or submit each new arch of ``batch`` in order, then flush."""
        planned: set[str] = set()
        for arch in batch:
            canon = self.space.canonical(arch)
            if self.history.seen(canon) or canon in planned:
                continue
            if not self.allows():
                break
            if self.pos < len(self.logged) and self.logged[self.pos].canonical == canon:
                self._adopt_next(planned)
                continue
            if self.pos < len(self.logged):
                self._diverge(planned)
                if canon in planned or self.history.seen(canon):
                    continue
                if not self.allows():
                    break
            self.executor.submit(round_, arch, canon)
            planned.add(canon)
        self.executor.flush()


def ask_tell_loop(
    strategy: Strategy,
    budget: Budget,
    seed: int,
    executor: Executor[_L],
    space: SearchSpace,
    logged: Sequence[_L] = (),
    logged_seconds: dict[int, float] | None = None,
    record_round: Callable[[int, float], None] = lambda r, s: None,
) -> LoopOutcome:
    """Run ``strategy`` until ``budget`` (or the strategy) stops it, evaluating through
    ``executor`` and replaying ``logged`` (in run-index order) where the strategy proposes
    what the log holds."""
    loop = _AskTellLoop(space, budget, executor, logged)
    history = executor.history
    round_seconds: list[float] = []
    strategy.start(space, seed)
    round_ = 0
    idle = 0
    new: list[Observation] = []
    while not loop.stop_reason:
        if not loop.allows():
            break
        batch, seconds = propose(strategy, history, new, round_, logged_seconds or {}, record_round)
        round_seconds.append(seconds)
        if not batch:
            loop.stop_reason = "the strategy has nothing new to propose"
            break
        n_before = len(history)
        loop.run_batch(batch, round_)
        new = [history[i] for i in range(n_before, len(history))]
        idle, loop.stop_reason = count_idle(bool(new), idle, loop.stop_reason)
        round_ += 1
    n_unused = len(logged) - loop.pos
    log_stop(len(history), loop.stop_reason, n_unused)
    return LoopOutcome(round_seconds, loop.stop_reason, n_unused)


class _LocalExecutor:
    """Evaluates each arch at once in this process, logging it; replays logged evaluations."""

    def __init__(
        self,
        evaluator: Evaluator,
        log: OptunaRunLog,
        on_evaluation: Callable[[Evaluation, History], None] | None,
    ) -> None:
        self.evaluator = evaluator
        self.log = log
        self.on_evaluation = on_evaluation
        self.history = History()
        self.evaluations: list[Evaluation] = []
        self.n_replayed = 0

    def _add(self, ev: Evaluation) -> None:
        self.history.add(ev.observation())
        self.evaluations.append(ev)
        if self.on_evaluation is not None:
            self.on_evaluation(ev, self.history)

    def adopt(self, entry: Evaluation) -> None:
        self._add(entry)
        self.n_replayed += 1

    def submit(self, round_: int, arch: Arch, canonical: str) -> None:
        index = len(self.history)
        handle = self.log.begin(index, round_, arch, canonical)
        try:
            result = self.evaluator.evaluate(arch)
            score = float(result.score)
            if not math.isfinite(score):
                raise RunError(f"evaluator returned a non-finite score {score} for {canonical}")
        except BaseException as exc:
            self.log.fail(handle, f"{type(exc).__name__}: {exc}")
            raise
        ev = Evaluation(
            index=index,
            round=round_,
            arch=arch,
            canonical=canonical,
            score=score,
            cost_seconds=float(result.cost_seconds),
            metrics=dict(result.metrics),
        )
        self.log.finish(handle, ev)
        self._add(ev)

    def pending(self) -> int:
        return 0

    def flush(self) -> None:
        pass


def run_settings(
    strategy: Strategy, evaluator: Evaluator, seed: int, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The settings a run log records and compares on resume."""
    settings: dict[str, Any] = {
        "method": strategy.name,
        "strategy": strategy.settings(),
        "seed": int(seed),
        "space": evaluator.space.name,
        "evaluator": type(evaluator).__name__,
    }
    dataset = getattr(evaluator, "dataset", None)
    dataset = getattr(dataset, "name", dataset)
    if isinstance(dataset, str):
        settings["dataset"] = dataset
    if extra:
        settings.update(extra)
    return settings


def run_search(
    strategy: Strategy,
    evaluator: Evaluator,
    budget: Budget,
    seed: int,
    *,
    log: OptunaRunLog | None = None,
    resume: bool = False,
    extra_settings: dict[str, Any] | None = None,
    on_evaluation: Callable[[Evaluation, History], None] | None = None,
) -> RunResult:
    """Run ``strategy`` on ``evaluator`` until ``budget`` (or the strategy) stops it.

    Parameters
    ----------
    log:
        The run log (default: a fresh in-memory Optuna log).
    resume:
        Continue the run the log holds (``RunError`` if the log holds a run and this is false,
        or if its settings differ).
    extra_settings:
        More settings to record and compare on resume (data directory, table file, ...).
    on_evaluation:
        Called after every evaluation, replayed ones included (progress display).

    Raises whatever the evaluator raises (the trial is marked failed first, so a resume
    evaluates that arch again) and ``RunError`` for a non-finite score.
    """
    t_start = time.perf_counter()
    log = log if log is not None else OptunaRunLog()
    settings = run_settings(strategy, evaluator, seed, extra_settings)
    logged = log.open(settings, resume=resume)
    log.set_attr("budget", budget.to_json())
    if logged.completed or logged.n_interrupted:
        logger.info(
            "resuming: %d logged evaluations, %d interrupted",
            len(logged.completed),
            logged.n_interrupted,
        )
    executor = _LocalExecutor(evaluator, log, on_evaluation)
    outcome = ask_tell_loop(
        strategy,
        budget,
        seed,
        executor,
        evaluator.space,
        logged.completed,
        logged.round_seconds,
        log.record_round,
    )
    return RunResult(
        settings=settings,
        evaluations=executor.evaluations,
        round_seconds=outcome.round_seconds,
        stop_reason=outcome.stop_reason,
        n_replayed=executor.n_replayed,
        n_interrupted=logged.n_interrupted,
        wall_seconds=time.perf_counter() - t_start,
        seconds_spent=executor.history.seconds,
    )
