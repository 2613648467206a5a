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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecgnas.errors import RunError
from ecgnas.evaluate import Evaluator
from ecgnas.search.base import Evaluation, History, Observation, Strategy
from ecgnas.search.budget import Budget
from ecgnas.search.runlog import OptunaRunLog
from ecgnas.spaces.base import Arch

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
    space = evaluator.space
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

    history = History()
    evaluations: list[Evaluation] = []
    round_seconds: list[float] = []
    replay = logged.completed
    pos = 0
    n_replayed = 0

    def add(ev: Evaluation) -> None:
        history.add(ev.observation())
        evaluations.append(ev)
        if on_evaluation is not None:
            on_evaluation(ev, history)

    def evaluate_live(arch: Any, canon: str, round_: int) -> Evaluation:
        index = len(history)
        handle = log.begin(index, round_, arch, canon)
        try:
            result = evaluator.evaluate(arch)
            score = float(result.score)
            if not math.isfinite(score):
                raise RunError(f"evaluator returned a non-finite score {score} for {canon}")
        except BaseException as exc:
            log.fail(handle, f"{type(exc).__name__}: {exc}")
            raise
        ev = Evaluation(
            index=index,
            round=round_,
            arch=arch,
            canonical=canon,
            score=score,
            cost_seconds=float(result.cost_seconds),
            metrics=dict(result.metrics),
        )
        log.finish(handle, ev)
        return ev

    strategy.start(space, seed)
    round_ = 0
    idle = 0
    new: list[Observation] = []
    stop_reason = ""
    while not stop_reason:
        if not budget.allows(len(history), history.seconds):
            stop_reason = budget.stop_reason(len(history), history.seconds)
            break
        batch, seconds = propose(
            strategy, history, new, round_, logged.round_seconds, log.record_round
        )
        round_seconds.append(seconds)
        if not batch:
            stop_reason = "the strategy has nothing new to propose"
            break

        n_before = len(history)
        for arch in batch:
            canon = space.canonical(arch)
            if history.seen(canon):
                continue
            if not budget.allows(len(history), history.seconds):
                stop_reason = budget.stop_reason(len(history), history.seconds)
                break
            if pos < len(replay) and replay[pos].canonical == canon:
                add(replay[pos])
                pos += 1
                n_replayed += 1
                continue
            if pos < len(replay):
                rest = [ev for ev in replay[pos:] if not history.seen(ev.canonical)]
                logger.warning(
                    "the strategy diverges from the run log at evaluation %d (non-deterministic "
                    "strategy or predictor?); adopting the %d remaining logged evaluations as "
                    "they are, so the rest of this run differs from an uninterrupted one",
                    len(history),
                    len(rest),
                )
                for ev in rest:
                    add(ev)
                n_replayed += len(rest)
                pos = len(replay)
                if history.seen(canon):
                    continue
                if not budget.allows(len(history), history.seconds):
                    stop_reason = budget.stop_reason(len(history), history.seconds)
                    break
            add(evaluate_live(arch, canon, round_))

        new = [history[i] for i in range(n_before, len(history))]
        idle, stop_reason = count_idle(bool(new), idle, stop_reason)
        round_ += 1

    log_stop(len(history), stop_reason, len(replay) - pos)
    return RunResult(
        settings=settings,
        evaluations=evaluations,
        round_seconds=round_seconds,
        stop_reason=stop_reason,
        n_replayed=n_replayed,
        n_interrupted=logged.n_interrupted,
        wall_seconds=time.perf_counter() - t_start,
        seconds_spent=history.seconds,
    )
