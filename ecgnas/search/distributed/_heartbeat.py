"""Heartbeats: a worker beats for the trial it evaluates; the coordinator watches the beats."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

logger = logging.getLogger("ecgnas.search.distributed")


class _Beating(Protocol):
    """What the watch reads of a trial (``FrozenTrial`` serves)."""

    @property
    def number(self) -> int: ...

    @property
    def user_attrs(self) -> dict[str, object]: ...


_Trial = TypeVar("_Trial", bound=_Beating)


class BeatWatch:
    """Finds stale trials: a ``heartbeat`` attr unchanged for ``grace_s`` (this clock).

    Trials are told apart by number; a trial that never beat goes stale after ``grace_s``
    too (its worker died between the claim and the first beat).
    """

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self._seen: dict[int, tuple[tuple[object, object], float]] = {}

    def reset(self) -> None:
        """Forget what was seen (after a storage outage: give every worker a new grace)."""
        self._seen.clear()

    def stale(self, running: Sequence[_Trial], now: float) -> list[_Trial]:
        out: list[_Trial] = []
        seen: dict[int, tuple[tuple[object, object], float]] = {}
        for trial in running:
            beat = (trial.user_attrs.get("heartbeat"), trial.user_attrs.get("worker"))
            old = self._seen.get(trial.number)
            if old is None or old[0] != beat:
                seen[trial.number] = (beat, now)
                continue
            seen[trial.number] = old
            if now - old[1] > self.grace_s:
                out.append(trial)
        self._seen = seen
        return out


class Heartbeat:
    """Beats for one trial in a background thread (user attr ``heartbeat``: a counter).

    Beats go to the storage directly, without retries: a failed beat is tried again at the
    next one. ``lost`` is set when the storage says the trial is finished (the coordinator
    gave it to someone else).
    """

    def __init__(self, storage: BaseStorage, trial_id: int, interval_s: float) -> None:
        self.storage = storage
        self.trial_id = trial_id
        self.interval_s = interval_s
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ecgnas-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
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
            self.lost.set()
        except Exception as exc:  # a storage hiccup: the next beat tries again
            logger.debug("heartbeat failed: %s", exc)

    def _run(self) -> None:
        n = 1
        while not self._stop.wait(self.interval_s) and not self.lost.is_set():
            self._beat(n)
            n += 1
