"""The coordinator: the ask/tell loop's evaluations become ``WAITING`` trials for workers."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ecgnas.errors import ConfigError, RunError
from ecgnas.evaluate import EvaluatorSpec, evaluator_kind
from ecgnas.search.base import Evaluation, History, Strategy
from ecgnas.search.budget import Budget
from ecgnas.search.distributed._heartbeat import BeatWatch
from ecgnas.search.distributed._local import LocalWorkers, default_log_dir
from ecgnas.search.distributed._settings import (
    DISTRIBUTED_FORMAT,
    EXECUTION,
    DistributedSettings,
)
from ecgnas.search.distributed._storage import RetryingStorage, RetryPolicy, open_run_storage
from ecgnas.search.driver import RunResult, ask_tell_loop
from ecgnas.search.runlog import (
    eval_attr,
    evaluation_of,
    logged_round_seconds,
    open_study,
    round_key,
    round_value,
)
from ecgnas.spaces.base import Arch, SearchSpace

if TYPE_CHECKING:
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

logger = logging.getLogger("ecgnas.search.distributed")


@dataclass
class _Slot:
    """One run index of the current batch: its arch and the trials (by number) that serve it."""

    index: int
    round: int
    arch: Arch
    canonical: str
    live: set[int] = field(default_factory=set)  # WAITING / RUNNING trial numbers
    attempts: int = 0
    reasons: list[str] = field(default_factory=list)
    evaluation: Evaluation | None = None


@dataclass
class LoggedIndex:
    """What the study holds for one run index when the coordinator starts."""

    index: int
    round: int
    arch: Arch
    canonical: str
    complete: FrozenTrial | None = None  # the earliest COMPLETE trial
    live: set[int] = field(default_factory=set)  # WAITING / RUNNING trial numbers
    attempts: int = 0


def _fail_reason(trial: FrozenTrial) -> str:
    if "error" in trial.user_attrs:
        return f"evaluator error: {trial.user_attrs['error']}"
    if trial.user_attrs.get("interrupted"):
        return "worker stopped"
    return "worker lost (no heartbeat)"


def _worker_name(trial: FrozenTrial, default: str) -> str:
    worker = trial.user_attrs.get("worker")
    return str(worker.get("id", default)) if isinstance(worker, dict) else default


class Coordinator:
    """The ``Executor`` of a distributed run: a batch's run indices become ``WAITING``
    trials, ``flush`` waits for them (handing lost ones out again) and adds them in order."""

    def __init__(
        self,
        storage: RetryingStorage,
        study_id: int,
        config: DistributedSettings,
        local: LocalWorkers | None,
        on_evaluation: Callable[[Evaluation, History], None] | None,
    ) -> None:
        self.storage = storage
        self.study_id = study_id
        self.config = config
        self.local = local
        self.on_evaluation = on_evaluation
        self.history = History()
        self.evaluations: list[Evaluation] = []
        self.watch = BeatWatch(config.grace_s)
        self.n_lost = 0
        self.n_errors = 0
        self.n_replayed = 0
        self._slots: list[_Slot] = []
        self._outages = 0
        self._quiet_until = 0.0

    # --- the study's state -----------------------------------------------------------------
    def read_log(self) -> list[LoggedIndex]:
        """Every run index the study holds, in index order (``RunError`` if inconsistent)."""
        from optuna.trial import TrialState

        trials = self.storage.get_all_trials(self.study_id, deepcopy=False)
        by_index: dict[int, LoggedIndex] = {}
        for trial in sorted(trials, key=lambda t: t.number):
            start = trial.user_attrs.get("eval")
            if not start:
                continue
            i = int(start["index"])
            entry = by_index.get(i)
            if entry is None:
                entry = by_index[i] = LoggedIndex(
                    i, int(start["round"]), Arch.from_json(start["arch"]), str(start["canonical"])
                )
            elif entry.canonical != start["canonical"]:
                raise RunError(
                    f"the run log holds two archs for evaluation {i} "
                    f"({entry.canonical} and {start['canonical']}): not an ecgnas run?"
                )
            entry.attempts += 1
            if trial.state == TrialState.COMPLETE:
                if entry.complete is None:
                    entry.complete = trial
            elif trial.state in (TrialState.WAITING, TrialState.RUNNING):
                entry.live.add(trial.number)
        if sorted(by_index) != list(range(len(by_index))):
            raise RunError("the run log's evaluation indices are not contiguous")
        return [by_index[i] for i in range(len(by_index))]

    def record_round(self, round_: int, seconds: float) -> None:
        self.storage.set_study_user_attr(self.study_id, round_key(round_), round_value(seconds))

    # --- the Executor ----------------------------------------------------------------------
    def pending(self) -> int:
        return len(self._slots)

    def adopt(self, entry: LoggedIndex) -> None:
        slot = _Slot(entry.index, entry.round, entry.arch, entry.canonical)
        slot.attempts = entry.attempts
        if entry.complete is not None:
            slot.evaluation = evaluation_of(entry.complete)
            self.n_replayed += 1
        else:
            slot.live = set(entry.live)
        self._slots.append(slot)

    def submit(self, round_: int, arch: Arch, canonical: str) -> None:
        self._slots.append(_Slot(len(self.history) + len(self._slots), round_, arch, canonical))

    def flush(self) -> None:
        """Enqueue what needs it, wait for every slot, add them in index order."""
        slots, self._slots = self._slots, []
        for slot in slots:
            if slot.evaluation is None and not slot.live:
                self._enqueue(slot)
        self._announce()
        added = self._add_ready(slots, 0)
        idle_since = time.monotonic()
        warned_idle = False
        while added < len(slots):
            if self.local is not None:
                self.local.check()
            running = self._poll(slots[added:])
            before = added
            added = self._add_ready(slots, added)
            now = time.monotonic()
            if added > before or running:
                idle_since, warned_idle = now, False
            elif not warned_idle and now - idle_since > self.config.worker_start_s:
                warned_idle = True
                logger.warning(
                    "%d evaluations wait and no worker has taken one for %.0f s: start workers "
                    "(ecgnas worker --storage ... --study ...)",
                    len(slots) - added,
                    now - idle_since,
                )
            self._check_stale(running, now)
            if added < len(slots):
                time.sleep(self.config.poll_s)

    # --- one batch -------------------------------------------------------------------------
    def _enqueue(self, slot: _Slot) -> None:
        from optuna.trial import TrialState, create_trial

        if slot.attempts >= self.config.max_attempts:
            raise RunError(
                f"evaluation {slot.index} ({slot.arch.key()}) failed {slot.attempts} times; "
                f"last: {slot.reasons[-1] if slot.reasons else 'unknown'}"
            )
        slot.attempts += 1
        attr = eval_attr(slot.index, slot.round, slot.arch, slot.canonical, slot.attempts)
        template = create_trial(state=TrialState.WAITING, user_attrs={"eval": attr})
        slot.live.add(self.storage.create_new_trial(self.study_id, template))

    def _announce(self) -> None:
        """Tell idle workers that trials wait (study attr ``queue``: a new token each time)."""
        self.storage.set_study_user_attr(self.study_id, "queue", uuid.uuid4().hex)

    def _add_ready(self, slots: list[_Slot], added: int) -> int:
        """Add the finished prefix of ``slots`` (from ``added`` on) to the history."""
        while added < len(slots) and slots[added].evaluation is not None:
            ev = slots[added].evaluation
            assert ev is not None
            if ev.index != len(self.history):
                raise RunError(f"evaluation {ev.index} arrived as number {len(self.history)}")
            self.history.add(ev.observation())
            self.evaluations.append(ev)
            if self.on_evaluation is not None:
                self.on_evaluation(ev, self.history)
            added += 1
        return added

    def _poll(self, slots: list[_Slot]) -> list[FrozenTrial]:
        """Read the slots' finished trials, hand lost evaluations out again; the trials
        ``RUNNING`` now."""
        from optuna.trial import TrialState

        live_now = {
            t.number: t
            for t in self.storage.get_all_trials(
                self.study_id, deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING)
            )
        }
        for slot in slots:
            for number in sorted(slot.live):
                if number not in live_now:
                    self._settle(slot, number)
            if slot.evaluation is not None and slot.live:
                self._cancel(slot.live, "duplicate of a completed trial")
                slot.live.clear()
            if slot.evaluation is None and not slot.live:
                logger.warning(
                    "handing evaluation %d (%s) out again (%s)",
                    slot.index,
                    slot.arch.key(),
                    slot.reasons[-1] if slot.reasons else "no trial",
                )
                self._enqueue(slot)
                self._announce()
        return [t for t in live_now.values() if t.state == TrialState.RUNNING]

    def _settle(self, slot: _Slot, number: int) -> None:
        """Take a finished trial of ``slot``: its evaluation, or why it failed."""
        from optuna.trial import TrialState

        trial = self.storage.get_trial(self.study_id, number)
        if trial.state == TrialState.COMPLETE:
            if slot.evaluation is None:
                slot.evaluation = evaluation_of(trial)
            slot.live.discard(number)
        elif trial.state == TrialState.FAIL:
            slot.live.discard(number)
            slot.reasons.append(_fail_reason(trial))
            if "error" in trial.user_attrs:
                self.n_errors += 1
                logger.warning(
                    "evaluation %d (%s) failed on %s: %s",
                    slot.index,
                    slot.arch.key(),
                    _worker_name(trial, "?"),
                    trial.user_attrs["error"],
                )
            else:
                self.n_lost += 1

    def _check_stale(self, running: list[FrozenTrial], now: float) -> None:
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        if self.storage.outages != self._outages:  # the storage was away: judge no one yet
            self._outages = self.storage.outages
            self.watch.reset()
            self._quiet_until = now + self.config.grace_s
        if now < self._quiet_until:
            return
        for trial in self.watch.stale(running, now):
            try:
                self.storage.set_trial_state_values(self.study_id, trial.number, TrialState.FAIL)
            except UpdateFinishedTrialError:
                continue  # it finished meanwhile
            logger.warning(
                "trial %d (evaluation %s) is stale: no heartbeat for %.0f s from %s",
                trial.number,
                trial.user_attrs.get("eval", {}).get("index", "?"),
                self.config.grace_s,
                _worker_name(trial, "no worker recorded"),
            )

    def _cancel(self, numbers: set[int], reason: str) -> None:
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        for number in sorted(numbers):
            try:
                self.storage.set_trial_state_values(self.study_id, number, TrialState.FAIL)
            except UpdateFinishedTrialError:
                continue
            logger.info("trial %d cancelled: %s", number, reason)

    def cancel_waiting(self) -> None:
        """Fail every ``WAITING`` trial left in the study (the run is over)."""
        from optuna.trial import TrialState

        waiting = self.storage.get_all_trials(
            self.study_id, deepcopy=False, states=(TrialState.WAITING,)
        )
        self._cancel({t.number for t in waiting}, "the run is over")


def distributed_settings_of(
    strategy: Strategy,
    space: SearchSpace,
    evaluator_spec: EvaluatorSpec,
    seed: int,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The settings a distributed run records and compares on resume."""
    settings: dict[str, Any] = {
        "method": strategy.name,
        "strategy": strategy.settings(),
        "seed": int(seed),
        "space": space.name,
        "evaluator": dict(evaluator_spec),
        "execution": EXECUTION,
    }
    if extra:
        settings.update(extra)
    return settings


def _setup_study(
    store: RetryingStorage,
    study_name: str,
    settings: dict[str, Any],
    resume: bool,
    budget: Budget,
    evaluator_spec: EvaluatorSpec,
    config: DistributedSettings,
) -> tuple[int, dict[int, float]]:
    """Create or reopen the study and record what workers read; ``(study id, logged round
    seconds)``."""
    study_id, _ = open_study(store, study_name, settings, resume)
    store.set_study_user_attr(study_id, "finished", False)  # before workers look
    store.set_study_user_attr(study_id, "budget", budget.to_json())
    store.set_study_user_attr(
        study_id,
        "distributed",
        {
            "format": DISTRIBUTED_FORMAT,
            "evaluator": dict(evaluator_spec),
            "heartbeat_s": config.heartbeat_s,
            "grace_s": config.grace_s,
        },
    )
    return study_id, logged_round_seconds(store.get_study_user_attrs(study_id))


def run_distributed(
    strategy: Strategy,
    evaluator_spec: EvaluatorSpec,
    budget: Budget,
    seed: int,
    *,
    storage: str | os.PathLike[str] | BaseStorage,
    study_name: str = "run",
    workers: int = 0,
    resume: bool = False,
    extra_settings: dict[str, Any] | None = None,
    on_evaluation: Callable[[Evaluation, History], None] | None = None,
    config: DistributedSettings | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
) -> RunResult:
    """Run ``strategy`` with its evaluations spread over workers (see the package docstring).

    Parameters
    ----------
    evaluator_spec:
        JSON spec of the evaluator every worker builds (``ecgnas.evaluate.build_evaluator``;
        e.g. ``benchmarks.nb201_table.nb201_spec``, ``train.ecg_evaluator.mitbih_spec``).
    storage:
        A journal path or run directory (one machine, or NFS), an RDB URL
        (``postgresql://user@host:port/db``), or an Optuna storage object.
    workers:
        Local worker processes to start (0: only workers started elsewhere with
        ``ecgnas worker``); each is pinned to one GPU when the evaluator uses a device, and
        started again when it dies (up to ``config.max_worker_restarts`` times).
    resume:
        Continue the run the study holds (``RunError`` if the study holds trials and this is
        false, or if its settings differ; the budget may change).
    on_evaluation:
        Called after each evaluation is added to the history, in run order (replays too).
    data_dir / cache_dir:
        Passed to local workers (``--data-dir``/``--cache-dir``).
    log_dir:
        Where local workers write ``worker-<slot>.log`` (default: ``workers/`` beside a
        journal, else a new temp directory).

    Raises ``RunError`` when a run index fails ``config.max_attempts`` times, the storage stays
    unreachable, or every local worker is down; ``ConfigError`` for a bad spec or setting.
    """
    config = config or DistributedSettings()
    if workers < 0:
        raise ConfigError(f"workers must be >= 0, got {workers}")
    t_start = time.perf_counter()
    kind = evaluator_kind(evaluator_spec)
    space = kind.space_of(evaluator_spec)
    settings = distributed_settings_of(strategy, space, evaluator_spec, seed, extra_settings)
    store = RetryingStorage(open_run_storage(storage), RetryPolicy(config.storage_timeout_s))
    study_id, logged_seconds = _setup_study(
        store, study_name, settings, resume, budget, evaluator_spec, config
    )
    local: LocalWorkers | None = None
    if workers:
        if not isinstance(storage, str | os.PathLike):
            raise ConfigError("local workers need a storage path or URL, not a storage object")
        local = LocalWorkers.start(
            workers, storage, study_name, uses_device=kind.uses_device, data_dir=data_dir,
            cache_dir=cache_dir, log_dir=default_log_dir(storage, log_dir),
            max_restarts=config.max_worker_restarts,
        )  # fmt: skip
    coord = Coordinator(store, study_id, config, local, on_evaluation)
    finished = False
    try:
        logged = coord.read_log()
        if logged:
            n_complete = sum(1 for e in logged if e.complete is not None)
            logger.info("resuming: %d logged evaluations (%d complete)", len(logged), n_complete)
        outcome = ask_tell_loop(
            strategy, budget, seed, coord, space, logged, logged_seconds, coord.record_round
        )
        coord.cancel_waiting()
        store.set_study_user_attr(study_id, "finished", True)
        finished = True
    finally:
        if local is not None:
            local.stop(graceful=finished)
    return RunResult(
        settings=settings,
        evaluations=coord.evaluations,
        round_seconds=outcome.round_seconds,
        stop_reason=outcome.stop_reason,
        n_replayed=coord.n_replayed,
        n_interrupted=coord.n_lost,
        wall_seconds=time.perf_counter() - t_start,
        seconds_spent=coord.history.seconds,
        extra={
            "workers": workers,
            "n_lost": coord.n_lost,
            "n_errors": coord.n_errors,
            "storage_outages": store.outages,
            "worker_restarts": local.n_restarts if local is not None else 0,
            "study": study_name,
        },
    )
