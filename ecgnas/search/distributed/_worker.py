"""The worker: claims the study's ``WAITING`` trials one at a time and evaluates them."""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

from ecgnas.errors import RunError
from ecgnas.evaluate import Evaluator, EvaluatorFactory, build_evaluator
from ecgnas.search.distributed._heartbeat import Heartbeat
from ecgnas.search.distributed._settings import DISTRIBUTED_FORMAT
from ecgnas.search.distributed._storage import RetryingStorage, RetryPolicy, open_run_storage
from ecgnas.search.runlog import result_attr
from ecgnas.spaces.base import Arch

if TYPE_CHECKING:
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

logger = logging.getLogger("ecgnas.search.distributed")


@dataclass
class WorkerReport:
    """What one worker did: evaluations completed, failed (evaluator error), lost (its trial
    was handed out again before it finished), storage outages it waited through, and why it
    stopped."""

    worker_id: str
    n_completed: int = 0
    n_failed: int = 0
    n_lost: int = 0
    storage_outages: int = 0
    stop_reason: str = ""


class _Terminated(BaseException):
    """Raised in the worker's main thread by SIGTERM."""


def _wait_for_study(
    store: RetryingStorage, study_name: str, wait_s: float, stop: threading.Event
) -> tuple[int, dict[str, Any]]:
    """The study's id and user attrs, once the coordinator has set it up (``RunError`` if
    that does not happen within ``wait_s``)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            study_id: int | None = int(store.get_study_id_from_name(study_name))
        except KeyError:
            study_id = None
        if study_id is not None:
            attrs = store.get_study_user_attrs(study_id)
            dist = attrs.get("distributed")
            if isinstance(dist, dict) and dist.get("format") == DISTRIBUTED_FORMAT:
                return study_id, attrs
        if time.monotonic() >= deadline or stop.is_set():
            if study_id is None:
                raise RunError(f"no study {study_name!r} in the storage after {wait_s:.0f} s")
            raise RunError(
                f"study {study_name!r} is not a distributed ecgnas run "
                f"(format {DISTRIBUTED_FORMAT})"
            )
        time.sleep(0.2)


class _Worker:
    """One worker's claims and evaluations in one study."""

    def __init__(
        self,
        store: RetryingStorage,
        study_id: int,
        evaluator: Evaluator,
        heartbeat_s: float,
        report: WorkerReport,
    ) -> None:
        self.store = store
        self.study_id = study_id
        self.evaluator = evaluator
        self.heartbeat_s = heartbeat_s
        self.report = report
        self.identity = {"id": report.worker_id, "host": socket.gethostname(), "pid": os.getpid()}

    def claim(self, waiting: list[FrozenTrial]) -> FrozenTrial | None:
        """The first of ``waiting`` this worker could set ``RUNNING`` (exactly one claimant
        succeeds per trial); ``None`` if others took them all."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        for trial in sorted(waiting, key=lambda t: t.number):
            try:
                ok = self.store.set_trial_state_values(
                    self.study_id, trial.number, TrialState.RUNNING
                )
            except UpdateFinishedTrialError:
                ok = False
            if ok:
                return trial
        return None

    def evaluate(self, trial: FrozenTrial) -> None:
        """Evaluate a claimed trial and complete it (or fail it on an evaluator error)."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        store, sid, number, report = self.store, self.study_id, trial.number, self.report
        start = trial.user_attrs["eval"]
        arch = Arch.from_json(start["arch"])
        try:
            store.set_trial_user_attr(sid, number, "worker", self.identity)
        except UpdateFinishedTrialError:  # failed by the coordinator right after the claim
            report.n_lost += 1
            return
        try:
            with Heartbeat(store.inner, store.trial_id(sid, number), self.heartbeat_s) as beat:
                result = self.evaluator.evaluate(arch)
                score = float(result.score)
                if not math.isfinite(score):
                    raise RunError(f"the evaluator returned a non-finite score {score}")
        except Exception as exc:
            report.n_failed += 1
            logger.warning("evaluation %s (%s) failed: %s", start["index"], arch.key(), exc)
            try:
                error = f"{type(exc).__name__}: {exc}"[:500]
                store.set_trial_user_attr(sid, number, "error", error)
                store.set_trial_state_values(sid, number, TrialState.FAIL)
            except UpdateFinishedTrialError:
                pass
            return
        except BaseException:  # SIGTERM, Ctrl-C: hand the trial back at once
            self._interrupted(number)
            raise
        try:
            if beat.lost.is_set():
                raise UpdateFinishedTrialError("lost")
            attr = result_attr(result.cost_seconds, result.metrics)
            store.set_trial_user_attr(sid, number, "result", attr)
            store.set_trial_state_values(sid, number, TrialState.COMPLETE, [score])
        except UpdateFinishedTrialError:
            # a retried COMPLETE whose first try landed reads as "already finished"
            if store.get_trial(sid, number).state == TrialState.COMPLETE:
                report.n_completed += 1
                return
            report.n_lost += 1
            logger.warning(
                "evaluation %s was handed out again before this worker finished it "
                "(heartbeat missed); result discarded",
                start["index"],
            )
            return
        report.n_completed += 1

    def _interrupted(self, number: int) -> None:
        """Fail the trial at once, without retries (best effort: the heartbeat check catches
        it otherwise)."""
        from optuna.trial import TrialState

        try:
            trial_id = self.store.trial_id(self.study_id, number)  # known since the beat
            self.store.inner.set_trial_user_attr(trial_id, "interrupted", True)
            self.store.inner.set_trial_state_values(trial_id, TrialState.FAIL)
        except Exception:
            pass


def _poll_loop(
    worker: _Worker,
    stop: threading.Event,
    *,
    idle_exit_s: float | None,
    max_evals: int | None,
    parent_pid: int | None,
    poll_s: float,
) -> str:
    """Claim and evaluate until a stop condition holds; the stop reason.

    Idle, a worker reads one study attr per poll: the coordinator changes ``queue`` after it
    creates trials, so the trial list is read again only when it may hold new work (the
    token is read before the list, so no trial created after the list goes unnoticed).
    """
    from optuna.trial import TrialState

    store, report = worker.store, worker.report
    last_work = time.monotonic()
    seen_token: object = object()
    look = True
    while True:
        if stop.is_set():
            return "stopped"
        if parent_pid is not None and os.getppid() != parent_pid:
            return "the coordinator exited"
        if max_evals is not None and report.n_completed + report.n_failed >= max_evals:
            return f"{max_evals} evaluations done"
        attrs = store.get_study_user_attrs(worker.study_id)
        if look or attrs.get("queue") != seen_token:
            seen_token = attrs.get("queue")
            waiting = store.get_all_trials(
                worker.study_id, deepcopy=False, states=(TrialState.WAITING,)
            )
            claimed = worker.claim(waiting)
            if claimed is not None:
                worker.evaluate(claimed)
                last_work = time.monotonic()
                look = True  # more may wait: look again at once
                continue
            look = False
        if attrs.get("finished"):
            return "the run is finished"
        idle = time.monotonic() - last_work
        if idle_exit_s is not None and idle > idle_exit_s:
            return f"idle for {idle_exit_s:.0f} s"
        stop.wait(poll_s if idle < 5.0 else min(1.0, poll_s * (1.0 + idle)))


def run_worker(
    storage: str | os.PathLike[str] | BaseStorage,
    study_name: str = "run",
    *,
    worker_id: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    evaluator_factory: EvaluatorFactory | None = None,
    wait_s: float = 60.0,
    idle_exit_s: float | None = None,
    max_evals: int | None = None,
    parent_pid: int | None = None,
    stop: threading.Event | None = None,
    poll_s: float = 0.1,
    storage_timeout_s: float = 600.0,
    check_schema: bool = True,
) -> WorkerReport:
    """Evaluate the study's ``WAITING`` trials until the run is finished.

    Waits up to ``wait_s`` for the study to appear, builds the evaluator from the study's
    ``distributed`` attr (``evaluator_factory(spec, data_dir, cache_dir)`` replaces
    ``ecgnas.evaluate.build_evaluator``), then claims trials one at a time. Stops when the
    coordinator marks the run finished and nothing waits, after ``idle_exit_s`` without work,
    after ``max_evals`` evaluations, when ``stop`` is set, or when process ``parent_pid`` has
    gone (local workers: a dead coordinator). An evaluator error fails that trial (user attr
    ``error``) and the worker goes on; SIGTERM/SIGINT fail the current trial (``interrupted``)
    and end the worker. Polls every ``poll_s`` while work flows, backing off to 1 s when idle.
    ``check_schema``: see ``ecgnas.search.runlog.open_storage``.

    Raises ``RunError`` (no such study, not a distributed run, storage unreachable) and
    whatever building the evaluator raises (``DataError``, ``ConfigError``).
    """
    from optuna.trial import TrialState

    stop = stop or threading.Event()
    policy = RetryPolicy(storage_timeout_s)
    report = WorkerReport(worker_id or f"{socket.gethostname()}:{os.getpid()}")
    store = RetryingStorage(policy(open_run_storage, storage, check_schema=check_schema), policy)
    study_id, attrs = _wait_for_study(store, study_name, wait_s, stop)
    dist = attrs["distributed"]
    if attrs.get("finished") and not store.get_all_trials(
        study_id, deepcopy=False, states=(TrialState.WAITING,)
    ):
        report.stop_reason = "the run is finished"
        return report
    spec = dict(dist["evaluator"])
    evaluator = (evaluator_factory or build_evaluator)(spec, data_dir, cache_dir)
    worker = _Worker(store, study_id, evaluator, float(dist["heartbeat_s"]), report)
    logger.info("worker %s: evaluating for study %r (%s)", report.worker_id, study_name, spec)

    previous = None
    if threading.current_thread() is threading.main_thread():

        def on_term(signum: int, frame: FrameType | None) -> None:
            raise _Terminated()

        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        report.stop_reason = _poll_loop(
            worker,
            stop,
            idle_exit_s=idle_exit_s,
            max_evals=max_evals,
            parent_pid=parent_pid,
            poll_s=poll_s,
        )
    except (_Terminated, KeyboardInterrupt):
        report.stop_reason = "terminated"
    finally:
        report.storage_outages = policy.outages
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    logger.info(
        "worker %s: %d completed, %d failed, %d lost; %s",
        report.worker_id,
        report.n_completed,
        report.n_failed,
        report.n_lost,
        report.stop_reason,
    )
    return report
