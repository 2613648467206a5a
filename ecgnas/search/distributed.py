"""One search over many processes and machines, with an Optuna storage as the only engine.

A *coordinator* (``run_distributed``) runs the same ask/tell loop as ``run_search``; *workers*
(``run_worker``, ``ecgnas worker``) evaluate. They share nothing but one Optuna study:

* the coordinator asks the strategy for a batch, skips archs already evaluated, stops at the
  remaining budget, and creates one ``WAITING`` trial per new arch (user attr ``eval`` =
  ``{"index", "round", "arch", "canonical", "attempt"}``, ``index`` being the run index);
* a worker lists the ``WAITING`` trials (idle, it reads only the study attr ``queue``, which
  the coordinator changes after it creates trials) and claims one with
  ``storage.set_trial_state_values(trial_id, RUNNING)``, which succeeds for exactly one
  claimant (the storage serialises it: a row lock in an RDB, the log order in a journal);
  it records ``worker``, beats (user attr ``heartbeat``, a counter, every ``heartbeat_s``)
  while it evaluates, sets ``result`` = ``{"cost_seconds", "metrics"}`` and completes the
  trial with the score. An evaluator error sets ``error`` and fails the trial;
* the coordinator waits until every trial of the batch is ``COMPLETE``, adds the
  evaluations to the history **in batch (index) order**, whatever order they finished in,
  and tells the strategy. So the history, the strategy's next batch and the best arch equal
  those of a one-process ``run_search`` with the same seed whenever the evaluator is
  deterministic (tabular benchmarks) and the budget counts evaluations.

Lost work. A trial is *stale* when its ``heartbeat`` has not changed for ``grace_s`` seconds
of the coordinator's clock (so clocks of different machines never need to agree). The
coordinator marks it ``FAIL`` and enqueues the same arch again under the same run index
(``attempt`` + 1). Only ``COMPLETE`` trials count and the history takes one per run index, so
a killed worker's evaluation is redone exactly once and counted once; a worker that was only
slow finds its trial failed and discards its result (the storage refuses to complete a
finished trial). A run index whose trials failed ``max_attempts`` times stops the run with
``RunError``. Optuna's own heartbeat is not used: ``JournalStorage`` has none (Optuna 5.0),
and ``RDBStorage``'s ignores ``RUNNING`` trials that never beat (a worker killed between its
claim and its first beat would hang the run); one mechanism serves every storage.

Budget. ``max_evals`` is checked before each arch is enqueued, so a run never exceeds it. A
seconds budget can only be checked against the costs of finished evaluations, so the last
batch may overshoot it by up to one batch of evaluations (one-process runs: one evaluation)
plus one round of strategy time; costs are summed over all workers (device seconds).

Resume (``resume=True``): the strategy is re-run from the start with the same seed; every
proposal whose run index already has a ``COMPLETE`` trial is answered from it, ``WAITING``
and ``RUNNING`` trials are awaited, stale and failed ones enqueued again. The logged strategy
seconds of each round replace measured ones. A strategy that proposes something else than
the log holds (non-deterministic predictor) gets every remaining logged evaluation adopted
(awaited, then added in index order) and the run continues from there, differing from an
uninterrupted one (a warning says so).

What survives what:

* a worker killed (any signal, power loss): its trial is handed out again after ``grace_s``;
  a worker stopped with SIGTERM/SIGINT fails its trial at once, which is handed out again;
* the coordinator killed: workers finish the trials already enqueued (local workers then
  exit, remote ones wait), results stay in the storage; run it again with ``resume=True``;
* the storage server restarted (PostgreSQL) or briefly unreachable: every process retries
  its storage calls for up to ``storage_timeout_s``, and the coordinator waits another
  ``grace_s`` after an outage before it judges heartbeats; committed trials survive;
* the journal file lives as long as its file system (``fsync`` on every write); on NFS it
  serves a few machines (Optuna's lock file), PostgreSQL serves many.

Evaluators. Workers build their evaluator from the study's user attr ``distributed`` =
``{"evaluator": spec, ...}`` through ``EVALUATOR_KINDS`` (``spec["evaluator"]`` is the key:
``"nb201"`` the tabular NB201 lookup with an optional artificial ``delay_s``; ``"mitbih"``
the ECG evaluator on DS1), so ``ecgnas worker --storage URL --study NAME`` needs no other
flag. Local workers (``workers=N``) are ``python -m ecgnas.cli.worker`` processes, each pinned
to one GPU by ``CUDA_VISIBLE_DEVICES`` when the evaluator uses a device and GPUs exist
(round-robin when there are more workers than GPUs; without GPUs each gets
``OMP_NUM_THREADS`` = cores / workers unless set); the coordinator never evaluates.
Coordinator and workers must run the same ecgnas version (the study records the protocol
``format``; a worker refuses another one). One coordinator per study.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ecgnas.errors import ConfigError, RunError
from ecgnas.evaluate import Evaluator, Result
from ecgnas.search.base import Evaluation, History, Observation, Strategy
from ecgnas.search.budget import Budget
from ecgnas.search.driver import RunResult, count_idle, log_stop, propose
from ecgnas.search.runlog import (
    FORMAT_VERSION,
    _quiet_optuna,
    _round_key,
    _settings_diff,
    open_storage,
)
from ecgnas.spaces.base import Arch, SearchSpace

logger = logging.getLogger(__name__)

#: version of the study layout described in the module docstring
DISTRIBUTED_FORMAT = 1
#: how ``settings["execution"]`` marks a distributed run (a one-process resume refuses it)
EXECUTION = "distributed"

# ==========================================================================================
# evaluators by name
# ==========================================================================================

#: ``factory(spec, data_dir, cache_dir) -> Evaluator``; the directories are the worker's own
EvaluatorFactory = Callable[[dict[str, Any], "str | os.PathLike[str] | None", Any], Evaluator]


class DelayedEvaluator:
    """Wraps an evaluator and sleeps ``delay_s`` wall seconds before each evaluation.

    An artificial evaluation time for tabular benchmarks (tests, the scaling benchmark):
    the ``Result`` (score, charged cost, metrics) is the wrapped evaluator's, unchanged.
    """

    def __init__(self, inner: Evaluator, delay_s: float) -> None:
        if not delay_s >= 0:
            raise ConfigError(f"delay_s must be >= 0, got {delay_s}")
        self.inner = inner
        self.delay_s = float(delay_s)
        self.space = inner.space
        self.dataset = getattr(inner, "dataset", None)

    def evaluate(self, arch: Arch) -> Result:
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.inner.evaluate(arch)


@dataclass(frozen=True)
class EvaluatorKind:
    """How a worker builds one kind of evaluator from its JSON spec.

    space: the search space of the spec (the coordinator needs no data for it);
    build: the evaluator (loads tables or data; may take a while); uses_device: whether
    evaluations run on a GPU when there is one (local workers are then pinned to one each).
    """

    space: Callable[[dict[str, Any]], SearchSpace]
    build: EvaluatorFactory
    uses_device: bool


def _nb201_space(spec: dict[str, Any]) -> SearchSpace:
    from ecgnas.spaces.nb201 import NB201Space

    return NB201Space()


def _nb201_build(spec: dict[str, Any], data_dir: Any, cache_dir: Any) -> Evaluator:
    from ecgnas.benchmarks.nb201_table import NB201Evaluator, NB201Table

    table = NB201Table.load(data_dir if data_dir is not None else spec.get("data_dir"))
    inner = NB201Evaluator(table, str(spec.get("dataset", "cifar10-valid")))
    delay = float(spec.get("delay_s", 0.0))
    return DelayedEvaluator(inner, delay) if delay else inner


def _mitbih_space(spec: dict[str, Any]) -> SearchSpace:
    from ecgnas.spaces.registry import get_space

    return get_space(str(spec.get("space", "ecg1d")))


def _mitbih_build(spec: dict[str, Any], data_dir: Any, cache_dir: Any) -> Evaluator:
    from ecgnas.train.ecg_data import load_ds1_split
    from ecgnas.train.ecg_evaluator import ECGEvaluator, ProxySettings

    kwargs: dict[str, Any] = {
        "val_fraction": float(spec.get("val_fraction", 0.2)),
        "split_seed": int(spec.get("split_seed", 0)),
        "data_dir": data_dir if data_dir is not None else spec.get("data_dir"),
        "cache_dir": cache_dir if cache_dir is not None else spec.get("cache_dir"),
    }
    if spec.get("records") is not None:
        kwargs["records"] = tuple(str(r) for r in spec["records"])
    try:
        proxy = ProxySettings(**spec.get("proxy", {}))
    except TypeError as exc:
        raise ConfigError(f"bad proxy settings in the evaluator spec: {exc}") from exc
    return ECGEvaluator(_mitbih_space(spec), load_ds1_split(**kwargs), proxy)


#: the evaluator kinds a worker can build, by ``spec["evaluator"]``
EVALUATOR_KINDS: Mapping[str, EvaluatorKind] = MappingProxyType(
    {
        "nb201": EvaluatorKind(_nb201_space, _nb201_build, uses_device=False),
        "mitbih": EvaluatorKind(_mitbih_space, _mitbih_build, uses_device=True),
    }
)


def evaluator_kind(spec: Mapping[str, Any]) -> EvaluatorKind:
    """The kind named by ``spec["evaluator"]``; ``ConfigError`` for a missing or unknown one."""
    name = spec.get("evaluator")
    if name not in EVALUATOR_KINDS:
        raise ConfigError(
            f"unknown evaluator {name!r} in the evaluator spec; known: {', '.join(EVALUATOR_KINDS)}"
        )
    return EVALUATOR_KINDS[str(name)]


def build_evaluator(
    spec: dict[str, Any],
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Evaluator:
    """The evaluator of ``spec`` (``data_dir``/``cache_dir`` override the spec's own)."""
    return evaluator_kind(spec).build(spec, data_dir, cache_dir)


def nb201_spec(
    dataset: str = "cifar10-valid", delay_s: float = 0.0, data_dir: str | None = None
) -> dict[str, Any]:
    """The spec of the NB201 lookup evaluator with an artificial ``delay_s`` per evaluation.

    ``data_dir`` is recorded for the workers; leave it ``None`` when workers on other
    machines resolve their own (``--data-dir`` or ``ECGNAS_DATA_DIR``).
    """
    from ecgnas.benchmarks.nb201_table import get_dataset

    get_dataset(dataset)
    if not delay_s >= 0:
        raise ConfigError(f"delay_s must be >= 0, got {delay_s}")
    spec: dict[str, Any] = {"evaluator": "nb201", "dataset": dataset, "delay_s": float(delay_s)}
    if data_dir is not None:
        spec["data_dir"] = str(data_dir)
    return spec


def mitbih_spec(
    space: str,
    proxy: dict[str, Any],
    *,
    val_fraction: float = 0.2,
    split_seed: int = 0,
    records: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The spec of the ECG evaluator (``ProxySettings.to_json()`` as ``proxy``); workers read
    DS1 from their own data directory."""
    spec: dict[str, Any] = {
        "evaluator": "mitbih",
        "space": space,
        "proxy": dict(proxy),
        "val_fraction": float(val_fraction),
        "split_seed": int(split_seed),
    }
    if records is not None:
        spec["records"] = [str(r) for r in records]
    return spec


# ==========================================================================================
# storage
# ==========================================================================================


def rdb_url(url: str) -> str:
    """``postgresql://`` with the driver that is installed (psycopg 3, else psycopg2)."""
    scheme, sep, rest = url.partition("://")
    if scheme != "postgresql":
        return url
    import importlib.util

    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{driver}{sep}{rest}"
    raise ConfigError(
        "a postgresql:// storage needs a PostgreSQL driver: pip install 'ecgnas[distributed]' "
        "(psycopg2-binary)"
    )


def open_run_storage(spec: Any, *, check_schema: bool = True) -> Any:
    """An Optuna storage for a distributed run.

    A path or run directory -> the journal file (``open_storage`` rules: a directory gets
    ``runlog.journal``); a URL (``postgresql://user@host:port/db``, ``sqlite:///...``) ->
    ``RDBStorage`` with connection pre-ping, so a restarted server is reconnected to, behind
    Optuna's trial cache (what ``optuna.create_study(storage=url)`` uses: finished trials are
    read once, so polling costs grow with the unfinished trials only); a storage object is
    returned as it is. ``check_schema=False`` skips Optuna's RDB schema version check and
    table creation (about a second; local workers skip them, the coordinator that started
    them has done both). ``RunError`` if the storage cannot be opened.
    """
    if spec is None:
        raise ConfigError("a distributed run needs a storage that other processes can open")
    text = spec if isinstance(spec, str) else None
    if text is None and isinstance(spec, os.PathLike):
        text = os.fspath(spec)
    if text is None or "://" not in text:
        return open_storage(spec)
    import optuna

    url = rdb_url(text)
    for attempt in range(5):
        try:
            rdb = optuna.storages.RDBStorage(
                url,
                engine_kwargs={"pool_pre_ping": True},
                skip_compatibility_check=not check_schema,
                skip_table_creation=not check_schema,
            )
            return optuna.storages.get_storage(rdb)
        except ImportError as exc:
            raise ConfigError(f"cannot open storage {text!r}: {exc}") from exc
        except Exception as exc:  # sqlalchemy raises many kinds
            # processes that open a fresh database at once race to create Optuna's tables;
            # the losers find them created when they try again
            if "already exists" in str(exc) and attempt < 4:
                time.sleep(0.2 * (attempt + 1))
                continue
            raise RunError(f"cannot open storage {_redact(text)}: {_root_cause(exc)}") from exc
    raise AssertionError("unreachable")


def _redact(url: str) -> str:
    """The URL without a password (for messages)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    cred, at, host = rest.rpartition("@")
    user = cred.split(":", 1)[0]
    return f"{scheme}{sep}{user}{at}{host}"


def _is_transient(exc: BaseException) -> bool:
    """Whether a storage error may go away on retry (connection lost, server restarting)."""
    seen: BaseException | None = exc
    for _ in range(20):  # the cause chain, bounded
        if seen is None:
            break
        if isinstance(seen, FileNotFoundError | PermissionError | IsADirectoryError):
            return False
        if isinstance(seen, OSError | ConnectionError | TimeoutError):
            return True
        module = type(seen).__module__
        if module.startswith("sqlalchemy") and type(seen).__name__ in (
            "OperationalError",
            "InterfaceError",
            "DisconnectionError",
            "TimeoutError",
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _root_cause(exc: BaseException) -> str:
    """``Type: message`` of the innermost cause that has a message (Optuna wraps driver
    errors in vaguer ones)."""
    best: BaseException = exc
    inner: BaseException | None = exc
    for _ in range(20):
        if inner is None:
            break
        if str(inner).strip():
            best = inner
        inner = inner.__cause__ or inner.__context__
    text = str(best).strip().splitlines()
    return f"{type(best).__name__}: {text[0] if text else ''}"


class _Retry:
    """Calls storage operations, retrying transient errors for up to ``timeout_s`` seconds.

    ``outages`` counts the outages survived, so a caller can tell that one happened.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.outages = 0

    def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        first: float | None = None
        delay = 0.25
        while True:
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                if not _is_transient(exc):
                    raise
                now = time.monotonic()
                if first is None:
                    first = now
                    self.outages += 1
                    logger.warning("storage unreachable (%s); retrying", _root_cause(exc))
                if now - first > self.timeout_s:
                    raise RunError(
                        f"the run storage has been unreachable for {now - first:.0f} s: "
                        f"{_root_cause(exc)}"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if first is not None:
                logger.warning("storage reachable again after %.1f s", time.monotonic() - first)
            return result


# ==========================================================================================
# settings
# ==========================================================================================


@dataclass(frozen=True)
class DistributedSettings:
    """How coordinator and workers talk (all in seconds).

    heartbeat_s: a worker's beat interval; grace_s: no beat for this long (coordinator's
    clock) and the trial is stale (>= 2 x heartbeat_s); poll_s: the coordinator's polling
    interval; max_attempts: trials per run index before the run stops with ``RunError``;
    storage_timeout_s: how long storage calls are retried through an outage;
    worker_start_s: how long local workers may take to start before the coordinator warns.
    """

    heartbeat_s: float = 10.0
    grace_s: float = 60.0
    poll_s: float = 0.1
    max_attempts: int = 3
    storage_timeout_s: float = 600.0
    worker_start_s: float = 120.0

    def __post_init__(self) -> None:
        for name in ("heartbeat_s", "grace_s", "poll_s", "storage_timeout_s", "worker_start_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.grace_s < 2 * self.heartbeat_s:
            raise ConfigError(
                f"grace_s ({self.grace_s}) must be at least twice heartbeat_s ({self.heartbeat_s})"
            )
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {self.max_attempts}")


# ==========================================================================================
# the coordinator
# ==========================================================================================


@dataclass
class _Slot:
    """One run index of the current batch: its arch and the trials that serve it."""

    index: int
    round: int
    arch: Arch
    canonical: str
    live: set[int] = field(default_factory=set)  # WAITING / RUNNING trial ids
    attempts: int = 0
    reasons: list[str] = field(default_factory=list)
    evaluation: Evaluation | None = None


@dataclass
class _LoggedIndex:
    """What the study holds for one run index when the coordinator starts."""

    index: int
    round: int
    arch: Arch
    canonical: str
    complete: Any = None  # the earliest COMPLETE FrozenTrial
    live: set[int] = field(default_factory=set)
    attempts: int = 0


def _evaluation_of(trial: Any) -> Evaluation:
    """The ``Evaluation`` of a ``COMPLETE`` trial; ``RunError`` if its attrs are broken."""
    start, result = trial.user_attrs.get("eval"), trial.user_attrs.get("result")
    if not start or not result or trial.value is None:
        raise RunError(f"trial {trial.number} is COMPLETE without its 'eval'/'result' attrs")
    return Evaluation(
        index=int(start["index"]),
        round=int(start["round"]),
        arch=Arch.from_json(start["arch"]),
        canonical=str(start["canonical"]),
        score=float(trial.value),
        cost_seconds=float(result["cost_seconds"]),
        metrics=dict(result.get("metrics", {})),
    )


def _fail_reason(trial: Any) -> str:
    if "error" in trial.user_attrs:
        return f"evaluator error: {trial.user_attrs['error']}"
    if trial.user_attrs.get("interrupted"):
        return "worker stopped"
    return "worker lost (no heartbeat)"


class _BeatWatch:
    """Finds stale trials: a ``heartbeat`` attr unchanged for ``grace_s`` (this clock)."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self._seen: dict[int, tuple[Any, float]] = {}

    def reset(self) -> None:
        """Forget what was seen (after a storage outage: give every worker a new grace)."""
        self._seen.clear()

    def stale(self, running: Sequence[Any], now: float) -> list[Any]:
        out = []
        seen: dict[int, tuple[Any, float]] = {}
        for trial in running:
            beat = (trial.user_attrs.get("heartbeat"), trial.user_attrs.get("worker"))
            old = self._seen.get(trial._trial_id)
            if old is None or old[0] != beat:
                seen[trial._trial_id] = (beat, now)
                continue
            seen[trial._trial_id] = old
            if now - old[1] > self.grace_s:
                out.append(trial)
        self._seen = seen
        return out


class _Coordinator:
    def __init__(
        self,
        storage: Any,
        study_id: int,
        space: SearchSpace,
        config: DistributedSettings,
        retry: _Retry,
        local: _LocalWorkers | None,
        on_evaluation: Callable[[Evaluation, History], None] | None,
    ) -> None:
        self.storage = storage
        self.study_id = study_id
        self.space = space
        self.config = config
        self.retry = retry
        self.local = local
        self.on_evaluation = on_evaluation
        self.history = History()
        self.evaluations: list[Evaluation] = []
        self.watch = _BeatWatch(config.grace_s)
        self.n_lost = 0
        self.n_errors = 0
        self._outages = 0
        self._quiet_until = 0.0

    # --- the study's state -----------------------------------------------------------------
    def read_log(self) -> list[_LoggedIndex]:
        """Every run index the study holds, in index order (``RunError`` if inconsistent)."""
        from optuna.trial import TrialState

        trials = self.retry(self.storage.get_all_trials, self.study_id, deepcopy=False)
        by_index: dict[int, _LoggedIndex] = {}
        for trial in sorted(trials, key=lambda t: t.number):
            start = trial.user_attrs.get("eval")
            if not start:
                continue
            i = int(start["index"])
            entry = by_index.get(i)
            if entry is None:
                entry = by_index[i] = _LoggedIndex(
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
                entry.live.add(trial._trial_id)
        if sorted(by_index) != list(range(len(by_index))):
            raise RunError("the run log's evaluation indices are not contiguous")
        return [by_index[i] for i in range(len(by_index))]

    # --- one batch -------------------------------------------------------------------------
    def _enqueue(self, slot: _Slot) -> None:
        from optuna.trial import TrialState, create_trial

        if slot.attempts >= self.config.max_attempts:
            raise RunError(
                f"evaluation {slot.index} ({slot.arch.key()}) failed {slot.attempts} times; "
                f"last: {slot.reasons[-1] if slot.reasons else 'unknown'}"
            )
        slot.attempts += 1
        template = create_trial(
            state=TrialState.WAITING,
            user_attrs={
                "eval": {
                    "index": slot.index,
                    "round": slot.round,
                    "arch": slot.arch.to_json(),
                    "canonical": slot.canonical,
                    "attempt": slot.attempts,
                }
            },
        )
        trial_id = self.retry(self.storage.create_new_trial, self.study_id, template_trial=template)
        slot.live.add(trial_id)

    def _announce(self) -> None:
        """Tell idle workers that trials wait (study attr ``queue``: a new token each time)."""
        self.retry(self.storage.set_study_user_attr, self.study_id, "queue", uuid.uuid4().hex)

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

    def await_slots(self, slots: list[_Slot]) -> None:
        """Enqueue what needs it, wait for every slot, add them in index order."""
        from optuna.trial import TrialState

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
            live_now = {
                t._trial_id: t
                for t in self.retry(
                    self.storage.get_all_trials,
                    self.study_id,
                    deepcopy=False,
                    states=(TrialState.WAITING, TrialState.RUNNING),
                )
            }
            for slot in slots[added:]:
                for tid in sorted(slot.live):
                    if tid in live_now:
                        continue
                    trial = self.retry(self.storage.get_trial, tid)
                    if trial.state == TrialState.COMPLETE:
                        if slot.evaluation is None:
                            slot.evaluation = _evaluation_of(trial)
                        slot.live.discard(tid)
                    elif trial.state == TrialState.FAIL:
                        slot.live.discard(tid)
                        reason = _fail_reason(trial)
                        slot.reasons.append(reason)
                        if "error" in trial.user_attrs:
                            self.n_errors += 1
                            logger.warning(
                                "evaluation %d (%s) failed on %s: %s",
                                slot.index,
                                slot.arch.key(),
                                trial.user_attrs.get("worker", {}).get("id", "?"),
                                trial.user_attrs["error"],
                            )
                        else:
                            self.n_lost += 1
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
            before = added
            added = self._add_ready(slots, added)
            now = time.monotonic()
            running = [t for t in live_now.values() if t.state == TrialState.RUNNING]
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

    def _check_stale(self, running: list[Any], now: float) -> None:
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        if self.retry.outages != self._outages:  # the storage was away: judge no one yet
            self._outages = self.retry.outages
            self.watch.reset()
            self._quiet_until = now + self.config.grace_s
        if now < self._quiet_until:
            return
        for trial in self.watch.stale(running, now):
            try:
                self.retry(self.storage.set_trial_state_values, trial._trial_id, TrialState.FAIL)
            except UpdateFinishedTrialError:
                continue  # it finished meanwhile
            worker = trial.user_attrs.get("worker", {}).get("id", "no worker recorded")
            logger.warning(
                "trial %d (evaluation %s) is stale: no heartbeat for %.0f s from %s",
                trial.number,
                trial.user_attrs.get("eval", {}).get("index", "?"),
                self.config.grace_s,
                worker,
            )

    def _cancel(self, trial_ids: set[int], reason: str) -> None:
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        for tid in sorted(trial_ids):
            try:
                self.retry(self.storage.set_trial_state_values, tid, TrialState.FAIL)
            except UpdateFinishedTrialError:
                continue
            logger.info("trial id %d cancelled: %s", tid, reason)

    def cancel_waiting(self) -> None:
        """Fail every ``WAITING`` trial left in the study (the run is over)."""
        from optuna.trial import TrialState

        waiting = self.retry(
            self.storage.get_all_trials, self.study_id, deepcopy=False, states=(TrialState.WAITING,)
        )
        self._cancel({t._trial_id for t in waiting}, "the run is over")


def distributed_settings_of(
    strategy: Strategy,
    space: SearchSpace,
    evaluator_spec: dict[str, Any],
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


def _open_study(
    storage: Any,
    study_name: str,
    settings: dict[str, Any],
    resume: bool,
    retry: _Retry,
) -> int:
    """Create the study (or reopen it on resume) and check its settings; its id."""
    import optuna

    try:
        study_id = retry(storage.get_study_id_from_name, study_name)
    except KeyError:
        study_id = None
    if study_id is None:
        with _quiet_optuna():
            study = retry(
                optuna.create_study, storage=storage, study_name=study_name, direction="maximize"
            )
        retry(storage.set_study_user_attr, study._study_id, "ecgnas_runlog", FORMAT_VERSION)
        retry(storage.set_study_user_attr, study._study_id, "settings", settings)
        retry(storage.set_study_user_attr, study._study_id, "finished", False)
        return int(study._study_id)
    attrs = retry(storage.get_study_user_attrs, study_id)
    if attrs.get("ecgnas_runlog") != FORMAT_VERSION:
        raise RunError(f"study {study_name!r} is not an ecgnas run log (v{FORMAT_VERSION})")
    n_trials = len(retry(storage.get_all_trials, study_id, deepcopy=False))
    if not resume and n_trials:
        raise RunError(
            f"study {study_name!r} already holds {n_trials} trials; resume it or use a new study"
        )
    diffs = _settings_diff(attrs.get("settings", {}), settings)
    if diffs:
        raise RunError("cannot resume with different settings: " + "; ".join(diffs))
    retry(storage.set_study_user_attr, study_id, "finished", False)  # before workers look
    retry(storage.set_study_user_attr, study_id, "settings", settings)
    return int(study_id)


def run_distributed(
    strategy: Strategy,
    evaluator_spec: dict[str, Any],
    budget: Budget,
    seed: int,
    *,
    storage: Any,
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
    """Run ``strategy`` with its evaluations spread over workers (see the module docstring).

    Parameters
    ----------
    evaluator_spec:
        JSON spec of the evaluator every worker builds (``nb201_spec``, ``mitbih_spec``).
    storage:
        A journal path or run directory (one machine, or NFS), an RDB URL
        (``postgresql://user@host:port/db``), or an Optuna storage object.
    workers:
        Local worker processes to start (0: only workers started elsewhere with
        ``ecgnas worker``); each is pinned to one GPU when the evaluator uses a device.
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
    unreachable, or every local worker exits; ``ConfigError`` for a bad spec or setting.
    """
    config = config or DistributedSettings()
    if workers < 0:
        raise ConfigError(f"workers must be >= 0, got {workers}")
    t_start = time.perf_counter()
    kind = evaluator_kind(evaluator_spec)
    space = kind.space(evaluator_spec)
    settings = distributed_settings_of(strategy, space, evaluator_spec, seed, extra_settings)
    retry = _Retry(config.storage_timeout_s)
    store = open_run_storage(storage)
    study_id = _open_study(store, study_name, settings, resume, retry)
    retry(store.set_study_user_attr, study_id, "budget", budget.to_json())
    retry(
        store.set_study_user_attr,
        study_id,
        "distributed",
        {
            "format": DISTRIBUTED_FORMAT,
            "evaluator": dict(evaluator_spec),
            "heartbeat_s": config.heartbeat_s,
            "grace_s": config.grace_s,
        },
    )
    attrs = retry(store.get_study_user_attrs, study_id)
    logged_seconds = {
        int(k[6:]): float(v["strategy_seconds"]) for k, v in attrs.items() if k.startswith("round:")
    }

    local: _LocalWorkers | None = None
    if workers:
        local = _LocalWorkers.start(
            workers,
            storage,
            study_name,
            uses_device=kind.uses_device,
            data_dir=data_dir,
            cache_dir=cache_dir,
            log_dir=_default_log_dir(storage, log_dir),
        )
    coord = _Coordinator(store, study_id, space, config, retry, local, on_evaluation)
    finished = False
    try:
        logged = coord.read_log()
        n_complete = sum(1 for e in logged if e.complete is not None)
        if logged:
            logger.info("resuming: %d logged evaluations (%d complete)", len(logged), n_complete)
        result = _search_loop(coord, strategy, budget, seed, logged, logged_seconds)
        coord.cancel_waiting()
        retry(store.set_study_user_attr, study_id, "finished", True)
        finished = True
    finally:
        if local is not None:
            local.stop(graceful=finished)
    result.settings = settings
    result.wall_seconds = time.perf_counter() - t_start
    result.extra.update(
        {
            "workers": workers,
            "n_lost": coord.n_lost,
            "n_errors": coord.n_errors,
            "storage_outages": retry.outages,
            "study": study_name,
        }
    )
    return result


def _search_loop(
    coord: _Coordinator,
    strategy: Strategy,
    budget: Budget,
    seed: int,
    logged: list[_LoggedIndex],
    logged_seconds: dict[int, float],
) -> RunResult:
    """The ask/tell loop of ``run_search``, one awaited batch per round."""
    history, space = coord.history, coord.space
    round_seconds: list[float] = []
    n_replayed = 0
    pos = 0  # logged run indices consumed so far
    strategy.start(space, seed)
    round_ = 0
    idle = 0
    new: list[Observation] = []
    stop_reason = ""

    def from_log(entry: _LoggedIndex) -> _Slot:
        nonlocal n_replayed
        slot = _Slot(entry.index, entry.round, entry.arch, entry.canonical)
        slot.attempts = entry.attempts
        if entry.complete is not None:
            slot.evaluation = _evaluation_of(entry.complete)
            n_replayed += 1
        else:
            slot.live = set(entry.live)
        return slot

    while not stop_reason:
        if not budget.allows(len(history), history.seconds):
            stop_reason = budget.stop_reason(len(history), history.seconds)
            break
        batch, seconds = propose(
            strategy,
            history,
            new,
            round_,
            logged_seconds,
            lambda r, sec: coord.retry(
                coord.storage.set_study_user_attr,
                coord.study_id,
                _round_key(r),
                {"strategy_seconds": sec},
            ),
        )
        round_seconds.append(seconds)
        if not batch:
            stop_reason = "the strategy has nothing new to propose"
            break

        slots: list[_Slot] = []
        planned: set[str] = set()
        for arch in batch:
            canon = space.canonical(arch)
            if history.seen(canon) or canon in planned:
                continue
            if not budget.allows(len(history) + len(slots), history.seconds):
                stop_reason = budget.stop_reason(len(history) + len(slots), history.seconds)
                break
            index = len(history) + len(slots)
            if pos < len(logged) and logged[pos].canonical == canon:
                slots.append(from_log(logged[pos]))
                planned.add(canon)
                pos += 1
                continue
            if pos < len(logged):
                logger.warning(
                    "the strategy diverges from the run log at evaluation %d (non-deterministic "
                    "strategy or predictor?); adopting the %d remaining logged evaluations as "
                    "they are, so the rest of this run differs from an uninterrupted one",
                    index,
                    len(logged) - pos,
                )
                while pos < len(logged) and budget.allows(
                    len(history) + len(slots), history.seconds
                ):
                    slots.append(from_log(logged[pos]))
                    planned.add(logged[pos].canonical)
                    pos += 1
                if canon in planned or history.seen(canon):
                    continue
                if not budget.allows(len(history) + len(slots), history.seconds):
                    stop_reason = budget.stop_reason(len(history) + len(slots), history.seconds)
                    break
                index = len(history) + len(slots)
            slots.append(_Slot(index, round_, arch, canon))
            planned.add(canon)

        n_before = len(history)
        coord.await_slots(slots)
        new = [history[i] for i in range(n_before, len(history))]
        idle, stop_reason = count_idle(bool(new), idle, stop_reason)
        round_ += 1

    log_stop(len(history), stop_reason, len(logged) - pos)
    return RunResult(
        settings={},
        evaluations=coord.evaluations,
        round_seconds=round_seconds,
        stop_reason=stop_reason,
        n_replayed=n_replayed,
        n_interrupted=coord.n_lost,
        seconds_spent=history.seconds,
    )


# ==========================================================================================
# local worker processes
# ==========================================================================================


def device_assignments(workers: int, visible: Sequence[str]) -> list[str | None]:
    """The ``CUDA_VISIBLE_DEVICES`` value of each local worker slot.

    ``visible``: the GPUs this process may use (its own ``CUDA_VISIBLE_DEVICES`` entries,
    else ``0..n-1``); empty -> ``None`` for every slot (CPU). More workers than GPUs share
    them round-robin (slot i gets ``visible[i % len(visible)]``).
    """
    if not visible:
        return [None] * workers
    return [str(visible[i % len(visible)]) for i in range(workers)]


def _visible_gpus() -> list[str]:
    """The GPUs local workers may be pinned to (imports torch)."""
    import torch

    count = torch.cuda.device_count()
    if count == 0:
        return []
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env:
        entries = [e.strip() for e in env.split(",") if e.strip()]
        return entries[:count]
    return [str(i) for i in range(count)]


def _default_log_dir(storage: Any, log_dir: Any) -> Path:
    if log_dir is not None:
        return Path(log_dir)
    text = os.fspath(storage) if isinstance(storage, str | os.PathLike) else None
    if text is not None and "://" not in text:
        path = Path(text)
        base = path if path.is_dir() or not path.suffix else path.parent
        return base / "workers"
    return Path(tempfile.mkdtemp(prefix="ecgnas-workers-"))


class _LocalWorkers:
    """``python -m ecgnas.cli.worker`` processes started by the coordinator."""

    def __init__(self, procs: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
        self.procs = procs
        self.logs = logs
        self._reported: set[int] = set()

    @classmethod
    def start(
        cls,
        n: int,
        storage: Any,
        study_name: str,
        *,
        uses_device: bool,
        data_dir: Any,
        cache_dir: Any,
        log_dir: Path,
    ) -> _LocalWorkers:
        if not isinstance(storage, str | os.PathLike):
            raise ConfigError("local workers need a storage path or URL, not a storage object")
        log_dir.mkdir(parents=True, exist_ok=True)
        devices = device_assignments(n, _visible_gpus() if uses_device else [])
        # CPU-only training: share the cores instead of n workers each using all of them
        threads = str(max(1, (os.cpu_count() or 1) // n))
        host = socket.gethostname()
        procs: list[subprocess.Popen[bytes]] = []
        logs: list[Path] = []
        for slot, device in enumerate(devices):
            cmd = [
                sys.executable,
                "-m",
                "ecgnas.cli.worker",
                "--storage",
                os.fspath(storage),
                "--study",
                study_name,
                "--worker-id",
                f"{host}/local{slot}",
                "--parent-pid",
                str(os.getpid()),
            ]
            if data_dir is not None:
                cmd += ["--data-dir", os.fspath(data_dir)]
            if cache_dir is not None:
                cmd += ["--cache-dir", os.fspath(cache_dir)]
            env = dict(os.environ)
            if device is not None:
                env["CUDA_VISIBLE_DEVICES"] = device
            elif uses_device:
                env.setdefault("OMP_NUM_THREADS", threads)
                env.setdefault("MKL_NUM_THREADS", threads)
            log_path = log_dir / f"worker-{slot}.log"
            with open(log_path, "ab") as log_fh:
                procs.append(
                    subprocess.Popen(
                        cmd, env=env, stdin=subprocess.DEVNULL, stdout=log_fh, stderr=log_fh
                    )
                )
            logs.append(log_path)
            logger.info(
                "local worker %d: pid %d%s, log %s",
                slot,
                procs[-1].pid,
                f", CUDA_VISIBLE_DEVICES={device}" if device is not None else "",
                log_path,
            )
        return cls(procs, logs)

    def _tail(self, i: int) -> str:
        try:
            lines = self.logs[i].read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def check(self) -> None:
        """Warn about exited workers; ``RunError`` when all of them have exited."""
        codes = [p.poll() for p in self.procs]
        for i, code in enumerate(codes):
            if code is not None and i not in self._reported:
                self._reported.add(i)
                logger.warning(
                    "local worker %d exited with code %d: %s (log %s)",
                    i,
                    code,
                    self._tail(i),
                    self.logs[i],
                )
        if all(c is not None for c in codes):
            raise RunError(
                f"all {len(codes)} local workers exited; worker 0 said: {self._tail(0)!r} "
                f"(logs in {self.logs[0].parent})"
            )

    def stop(self, graceful: bool, wait_s: float = 10.0) -> None:
        """Let workers exit (the run is finished), else terminate them; kill stragglers."""
        deadline = time.monotonic() + (wait_s if graceful else 0.0)
        for p in self.procs:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


# ==========================================================================================
# the worker
# ==========================================================================================


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


class _Heartbeat:
    """Beats for one trial in a background thread (user attr ``heartbeat``: a counter)."""

    def __init__(self, storage: Any, trial_id: int, interval_s: float) -> None:
        self.storage = storage
        self.trial_id = trial_id
        self.interval_s = interval_s
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ecgnas-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._beat(0)  # the first beat before the evaluation starts
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self, n: int) -> None:
        from optuna.exceptions import UpdateFinishedTrialError

        try:
            self.storage.set_trial_user_attr(self.trial_id, "heartbeat", n)
        except UpdateFinishedTrialError:
            self.lost.set()  # the coordinator gave this trial to someone else
        except Exception as exc:  # a storage hiccup: the next beat tries again
            logger.debug("heartbeat failed: %s", exc)

    def _run(self) -> None:
        n = 1
        while not self._stop.wait(self.interval_s) and not self.lost.is_set():
            self._beat(n)
            n += 1


def _wait_for_study(
    storage: Any, study_name: str, wait_s: float, retry: _Retry, stop: threading.Event
) -> tuple[int, dict[str, Any]]:
    """The study's id and user attrs, once the coordinator has set it up (``RunError`` if
    that does not happen within ``wait_s``)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            study_id = int(retry(storage.get_study_id_from_name, study_name))
        except KeyError:
            study_id = None
        if study_id is not None:
            attrs = retry(storage.get_study_user_attrs, study_id)
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


def run_worker(
    storage: Any,
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
    ``build_evaluator``), then claims trials one at a time. Stops when the coordinator marks
    the run finished and nothing waits, after ``idle_exit_s`` without work, after
    ``max_evals`` evaluations, when ``stop`` is set, or when process ``parent_pid`` has gone
    (local workers: a dead coordinator). An evaluator error fails that trial (user attr
    ``error``) and the worker goes on; SIGTERM/SIGINT fail the current trial (``interrupted``)
    and end the worker. Polls every ``poll_s`` while work flows, backing off to 1 s when idle.
    ``check_schema``: see ``open_run_storage``.

    Raises ``RunError`` (no such study, not a distributed run, storage unreachable) and
    whatever building the evaluator raises (``DataError``, ``ConfigError``).
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    stop = stop or threading.Event()
    retry = _Retry(storage_timeout_s)
    worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
    report = WorkerReport(worker_id)
    store = retry(open_run_storage, storage, check_schema=check_schema)
    study_id, attrs = _wait_for_study(store, study_name, wait_s, retry, stop)
    dist = attrs["distributed"]
    if attrs.get("finished") and not retry(
        store.get_all_trials, study_id, deepcopy=False, states=(TrialState.WAITING,)
    ):
        report.stop_reason = "the run is finished"
        return report
    spec = dict(dist["evaluator"])
    evaluator = (evaluator_factory or _default_factory)(spec, data_dir, cache_dir)
    heartbeat_s = float(dist["heartbeat_s"])
    logger.info("worker %s: evaluating for study %r (%s)", worker_id, study_name, spec)
    identity = {"id": worker_id, "host": socket.gethostname(), "pid": os.getpid()}

    previous = None
    if threading.current_thread() is threading.main_thread():

        def on_term(signum: int, frame: object) -> None:
            raise _Terminated()

        previous = signal.signal(signal.SIGTERM, on_term)

    def evaluate(trial: Any) -> None:
        tid = trial._trial_id
        start = trial.user_attrs["eval"]
        arch = Arch.from_json(start["arch"])
        try:
            retry(store.set_trial_user_attr, tid, "worker", identity)
        except UpdateFinishedTrialError:  # failed by the coordinator right after the claim
            report.n_lost += 1
            return
        try:
            with _Heartbeat(store, tid, heartbeat_s) as beat:
                result = evaluator.evaluate(arch)
                score = float(result.score)
                if not math.isfinite(score):
                    raise RunError(f"the evaluator returned a non-finite score {score}")
        except Exception as exc:
            report.n_failed += 1
            logger.warning("evaluation %s (%s) failed: %s", start["index"], arch.key(), exc)
            try:
                retry(store.set_trial_user_attr, tid, "error", f"{type(exc).__name__}: {exc}"[:500])
                retry(store.set_trial_state_values, tid, TrialState.FAIL)
            except UpdateFinishedTrialError:
                pass
            return
        except BaseException:  # SIGTERM, Ctrl-C: hand the trial back at once
            try:
                store.set_trial_user_attr(tid, "interrupted", True)
                store.set_trial_state_values(tid, TrialState.FAIL)
            except Exception:  # best effort: the heartbeat check catches it otherwise
                pass
            raise
        try:
            if beat.lost.is_set():
                raise UpdateFinishedTrialError("lost")
            retry(
                store.set_trial_user_attr,
                tid,
                "result",
                {"cost_seconds": float(result.cost_seconds), "metrics": dict(result.metrics)},
            )
            retry(store.set_trial_state_values, tid, TrialState.COMPLETE, [score])
        except UpdateFinishedTrialError:
            # a retried COMPLETE whose first try landed reads as "already finished"
            if retry(store.get_trial, tid).state == TrialState.COMPLETE:
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

    # Idle, a worker reads one study attr per poll: the coordinator changes ``queue`` after it
    # creates trials, so the trial list is read again only when it may hold new work (the
    # token is read before the list, so no trial created after the list goes unnoticed).
    last_work = time.monotonic()
    seen_token: Any = object()
    look = True
    try:
        while True:
            if stop.is_set():
                report.stop_reason = "stopped"
                break
            if parent_pid is not None and os.getppid() != parent_pid:
                report.stop_reason = "the coordinator exited"
                break
            if max_evals is not None and report.n_completed + report.n_failed >= max_evals:
                report.stop_reason = f"{max_evals} evaluations done"
                break
            attrs = retry(store.get_study_user_attrs, study_id)
            if look or attrs.get("queue") != seen_token:
                seen_token = attrs.get("queue")
                waiting = retry(
                    store.get_all_trials, study_id, deepcopy=False, states=(TrialState.WAITING,)
                )
                claimed = None
                for trial in sorted(waiting, key=lambda t: t.number):
                    try:
                        ok = retry(
                            store.set_trial_state_values, trial._trial_id, TrialState.RUNNING
                        )
                    except UpdateFinishedTrialError:
                        ok = False
                    if ok:
                        claimed = trial
                        break
                if claimed is not None:
                    evaluate(claimed)
                    last_work = time.monotonic()
                    look = True  # more may wait: look again at once
                    continue
                look = False
            if attrs.get("finished"):
                report.stop_reason = "the run is finished"
                break
            idle = time.monotonic() - last_work
            if idle_exit_s is not None and idle > idle_exit_s:
                report.stop_reason = f"idle for {idle_exit_s:.0f} s"
                break
            stop.wait(poll_s if idle < 5.0 else min(1.0, poll_s * (1.0 + idle)))
    except (_Terminated, KeyboardInterrupt):
        report.stop_reason = "terminated"
    finally:
        report.storage_outages = retry.outages
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    logger.info(
        "worker %s: %d completed, %d failed, %d lost; %s",
        worker_id,
        report.n_completed,
        report.n_failed,
        report.n_lost,
        report.stop_reason,
    )
    return report


def _default_factory(spec: dict[str, Any], data_dir: Any, cache_dir: Any) -> Evaluator:
    return build_evaluator(spec, data_dir, cache_dir)
