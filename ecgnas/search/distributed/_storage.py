"""The run's storage as every distributed process sees it: each call retried through outages."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from ecgnas.errors import ConfigError, RunError
from ecgnas.search._storage_errors import is_transient, root_cause
from ecgnas.search.runlog import open_storage

if TYPE_CHECKING:
    from optuna.storages import BaseStorage
    from optuna.study import StudyDirection
    from optuna.trial import FrozenTrial, TrialState

logger = logging.getLogger("ecgnas.search.distributed")

_P = ParamSpec("_P")
_T = TypeVar("_T")


def open_run_storage(
    spec: str | os.PathLike[str] | BaseStorage | None, *, check_schema: bool = True
) -> BaseStorage:
    """An Optuna storage that other processes can open too (``runlog.open_storage`` rules:
    a path or run directory -> the journal file, a URL -> ``RDBStorage`` with pre-ping, a
    storage object as it is); ``ConfigError`` for ``None`` (an in-memory storage is this
    process's alone)."""
    if spec is None:
        raise ConfigError("a distributed run needs a storage that other processes can open")
    return open_storage(spec, check_schema=check_schema)


class RetryPolicy:
    """Calls a function, retrying transient errors for up to ``timeout_s`` seconds.

    ``outages`` counts the outages survived, so a caller can tell that one happened.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.outages = 0

    def __call__(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        first: float | None = None
        delay = 0.25
        while True:
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                now = time.monotonic()
                if first is None:
                    first = now
                    self.outages += 1
                    logger.warning("storage unreachable (%s); retrying", root_cause(exc))
                if now - first > self.timeout_s:
                    raise RunError(
                        f"the run storage has been unreachable for {now - first:.0f} s: "
                        f"{root_cause(exc)}"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if first is not None:
                logger.warning("storage reachable again after %.1f s", time.monotonic() - first)
            return result


class RetryingStorage:
    """The storage calls of a distributed run, each one retried by ``policy``.

    Trials are named by number (``FrozenTrial.number``, public); ``trial_id`` maps a number to
    the storage's trial id through the storage's public API and remembers the answer (it
    never changes). ``inner`` is the storage itself, for calls that must not wait out an
    outage (heartbeats, last-moment clean-up).
    """

    def __init__(self, inner: BaseStorage, policy: RetryPolicy) -> None:
        self.inner = inner
        self.policy = policy
        self._ids: dict[tuple[int, int], int] = {}

    @property
    def outages(self) -> int:
        return self.policy.outages

    # --- studies ---------------------------------------------------------------------------
    def get_study_id_from_name(self, study_name: str) -> int:
        return self.policy(self.inner.get_study_id_from_name, study_name)

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        return self.policy(self.inner.create_new_study, directions, study_name)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self.policy(self.inner.get_study_user_attrs, study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self.policy(self.inner.set_study_user_attr, study_id, key, value)

    # --- trials ----------------------------------------------------------------------------
    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Sequence[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        states_arg = tuple(states) if states is not None else None
        return self.policy(self.inner.get_all_trials, study_id, deepcopy, states_arg)

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial) -> int:
        """A new trial from ``template_trial``; its number (its id is remembered)."""
        trial_id = self.policy(self.inner.create_new_trial, study_id, template_trial)
        number = self.policy(self.inner.get_trial_number_from_id, trial_id)
        self._ids[study_id, number] = trial_id
        return number

    def trial_id(self, study_id: int, number: int) -> int:
        key = (study_id, number)
        if key not in self._ids:
            self._ids[key] = self.policy(
                self.inner.get_trial_id_from_study_id_trial_number, study_id, number
            )
        return self._ids[key]

    def get_trial(self, study_id: int, number: int) -> FrozenTrial:
        return self.policy(self.inner.get_trial, self.trial_id(study_id, number))

    def set_trial_state_values(
        self,
        study_id: int,
        number: int,
        state: TrialState,
        values: Sequence[float] | None = None,
    ) -> bool:
        """``False`` when another process set the state first; ``UpdateFinishedTrialError``
        when the trial is already finished."""
        trial_id = self.trial_id(study_id, number)
        return self.policy(self.inner.set_trial_state_values, trial_id, state, values)

    def set_trial_user_attr(self, study_id: int, number: int, key: str, value: Any) -> None:
        trial_id = self.trial_id(study_id, number)
        self.policy(self.inner.set_trial_user_attr, trial_id, key, value)
