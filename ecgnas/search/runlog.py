"""The run log: every evaluation of a run, in an Optuna storage, so a killed run can resume.

This module owns the run log's schema; every other module reads and writes it through the
functions here. Layout (one Optuna study per run, direction ``maximize``):

* study user attrs: ``ecgnas_runlog`` (format version), ``settings`` (method, strategy
  settings, seed, space, evaluator: compared on resume), ``budget`` (the latest one; a
  resumed run may extend it), and ``round:NNNNN`` = ``{"strategy_seconds": s}`` for every
  ask/tell round, so a device-time budget replays identically;
* one trial per evaluation: ``study.ask()`` when it starts, with user attr ``eval`` =
  ``{"index", "round", "arch" (JSON), "canonical"}`` (``eval_attr``; distributed runs add
  ``"attempt"``); ``study.tell(trial, score)`` when it ends, with user attr ``result`` =
  ``{"cost_seconds", "metrics"}`` (``result_attr``; one attr each, since a journal storage
  fsyncs every write). ``evaluation_of`` reads a ``COMPLETE`` trial back. A trial still
  ``RUNNING`` when a one-process log is reopened belongs to a killed process: it is marked
  ``FAIL`` (user attr ``fail_reason``) and its arch is evaluated again, since it never finished.

Storage (``open_storage``, the one opener for every ``--storage`` string of ecgnas):
``None`` -> ``InMemoryStorage`` (benchmarks: about 0.04 ms per trial); a path ->
``JournalStorage(JournalFileBackend(path))`` (a directory, or a path without a suffix, gets
``runlog.journal`` inside); a URL containing ``://`` (``sqlite:///...``,
``postgresql://user@host:port/db``) -> Optuna's ``RDBStorage`` with connection pre-ping behind
Optuna's trial cache; or any ``optuna.storages.BaseStorage``, returned as it is. Optuna is
imported only when a log is opened.
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ecgnas.errors import ConfigError, RunError
from ecgnas.search._storage_errors import redact, root_cause
from ecgnas.search.base import Evaluation
from ecgnas.spaces.base import Arch

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage
    from optuna.study import StudyDirection
    from optuna.trial import FrozenTrial, TrialState

FORMAT_VERSION = 1
JOURNAL_NAME = "runlog.journal"
#: settings keys that may change on resume (everything else must match)
_MUTABLE_KEYS = frozenset({"budget"})
#: a JSON object (user attrs, settings)
JSONDict = dict[str, Any]


# ==========================================================================================
# opening a storage
# ==========================================================================================


def rdb_url(url: str) -> str:
    """``postgresql://`` with the driver that is installed (psycopg 3, else psycopg2)."""
    scheme, sep, rest = url.partition("://")
    if scheme != "postgresql":
        return url
    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{driver}{sep}{rest}"
    raise ConfigError(
        "a postgresql:// storage needs a PostgreSQL driver: pip install 'ecgnas[distributed]' "
        "(psycopg2-binary)"
    )


def _open_rdb(text: str, check_schema: bool) -> BaseStorage:
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
            raise ConfigError(f"cannot open storage {redact(text)}: {exc}") from exc
        except Exception as exc:  # sqlalchemy raises many kinds
            # processes that open a fresh database at once race to create Optuna's tables;
            # the losers find them created when they try again
            if "already exists" in str(exc) and attempt < 4:
                time.sleep(0.2 * (attempt + 1))
                continue
            raise RunError(f"cannot open storage {redact(text)}: {root_cause(exc)}") from exc
    raise AssertionError("unreachable")


def journal_path(spec: str | os.PathLike[str]) -> Path:
    """The journal file a path names: itself, or ``runlog.journal`` inside a directory (an
    existing one, a path ending in a separator, or a path without a suffix)."""
    text = os.fspath(spec)
    path = Path(text).expanduser()
    if path.is_dir() or text.endswith(os.sep) or not path.suffix:
        path = path / JOURNAL_NAME
    return path


def open_storage(
    spec: str | os.PathLike[str] | BaseStorage | None = None, *, check_schema: bool = True
) -> BaseStorage:
    """An Optuna storage from a spec (see the module docstring).

    ``check_schema=False`` skips Optuna's RDB schema version check and table creation (about
    a second; local workers skip them, the coordinator that started them has done both).
    ``RunError`` if the storage cannot be opened (passwords never appear in the message);
    ``ConfigError`` for a PostgreSQL URL without a driver installed.
    """
    from optuna.storages import BaseStorage, InMemoryStorage, JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if spec is None:
        return InMemoryStorage()
    if isinstance(spec, BaseStorage):
        return spec
    text = os.fspath(spec)
    if "://" in text:
        return _open_rdb(text, check_schema)
    path = journal_path(text)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    except OSError as exc:
        raise RunError(f"cannot open run log {path}: {exc}") from exc


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silence Optuna's INFO lines (study created, ...) while the log talks to it."""
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(before, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


# ==========================================================================================
# the schema
# ==========================================================================================


class StudyStorage(Protocol):
    """The storage calls a run log makes (``BaseStorage`` and the distributed run's retrying
    storage both serve)."""

    def get_study_id_from_name(self, study_name: str) -> int: ...

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int: ...

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]: ...

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None: ...

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Sequence[TrialState] | None = None,
    ) -> list[FrozenTrial]: ...


def eval_attr(
    index: int, round_: int, arch: Arch, canonical: str, attempt: int | None = None
) -> JSONDict:
    """The ``eval`` user attr of the trial of one evaluation (``attempt``: distributed runs)."""
    attr: JSONDict = {
        "index": index,
        "round": round_,
        "arch": arch.to_json(),
        "canonical": canonical,
    }
    if attempt is not None:
        attr["attempt"] = attempt
    return attr


def result_attr(cost_seconds: float, metrics: Mapping[str, float | str]) -> JSONDict:
    """The ``result`` user attr of a finished evaluation."""
    return {"cost_seconds": float(cost_seconds), "metrics": dict(metrics)}


def evaluation_of(trial: FrozenTrial) -> Evaluation:
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


def round_key(round_: int) -> str:
    """The study attr that holds the strategy seconds of one round."""
    return f"round:{round_:05d}"


def round_value(strategy_seconds: float) -> JSONDict:
    return {"strategy_seconds": strategy_seconds}


def logged_round_seconds(attrs: Mapping[str, Any]) -> dict[int, float]:
    """Strategy seconds of each logged round, by round number, from the study attrs."""
    return {
        int(key[6:]): float(value["strategy_seconds"])
        for key, value in attrs.items()
        if key.startswith("round:")
    }


def _settings_diff(old: JSONDict, new: JSONDict, prefix: str = "") -> list[str]:
    diffs: list[str] = []
    for key in sorted(set(old) | set(new)):
        if not prefix and key in _MUTABLE_KEYS:
            continue
        a, b = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            diffs.extend(_settings_diff(a, b, prefix=f"{name}."))
        elif a != b:
            diffs.append(f"{name}: logged {a!r}, now {b!r}")
    return diffs


def open_study(
    storage: StudyStorage, study_name: str, settings: JSONDict, resume: bool
) -> tuple[int, bool]:
    """Create the run's study, or reopen it and check it; ``(study id, created)``.

    Raises ``RunError`` if the study exists and holds trials while ``resume`` is false, if it
    is not an ecgnas run log, or if its settings differ from ``settings`` (budget excepted).
    A reopened study gets ``settings`` recorded (so a changed budget is the latest one).
    """
    from optuna.study import StudyDirection

    try:
        study_id: int | None = storage.get_study_id_from_name(study_name)
    except KeyError:
        study_id = None
    if study_id is None:
        with _quiet_optuna():
            study_id = storage.create_new_study([StudyDirection.MAXIMIZE], study_name)
        storage.set_study_user_attr(study_id, "ecgnas_runlog", FORMAT_VERSION)
        storage.set_study_user_attr(study_id, "settings", settings)
        return int(study_id), True
    attrs = storage.get_study_user_attrs(study_id)
    if attrs.get("ecgnas_runlog") != FORMAT_VERSION:
        raise RunError(f"study {study_name!r} is not an ecgnas run log (v{FORMAT_VERSION})")
    n_trials = len(storage.get_all_trials(study_id, deepcopy=False))
    if not resume and n_trials:
        raise RunError(
            f"run log {study_name!r} already holds {n_trials} trials; "
            "resume it or start a new run (directory or study)"
        )
    diffs = _settings_diff(attrs.get("settings", {}), settings)
    if diffs:
        raise RunError("cannot resume with different settings: " + "; ".join(diffs))
    storage.set_study_user_attr(study_id, "settings", settings)
    return int(study_id), False


# ==========================================================================================
# the one-process run log
# ==========================================================================================


@dataclass
class LoggedRun:
    """What an opened log already holds.

    completed:
        Finished evaluations, in evaluation order.
    round_seconds:
        Strategy seconds of each logged round, by round number.
    n_interrupted:
        Trials found ``RUNNING`` (a killed process) and now marked ``FAIL``.
    """

    completed: list[Evaluation] = field(default_factory=list)
    round_seconds: dict[int, float] = field(default_factory=dict)
    n_interrupted: int = 0


class OptunaRunLog:
    """A run log in one Optuna study (see the module docstring).

    Parameters
    ----------
    storage:
        ``None`` (in memory), a journal path or run directory, an RDB URL, or a storage.
    study_name:
        The study holding this run; one study per run.
    """

    def __init__(
        self,
        storage: str | os.PathLike[str] | BaseStorage | None = None,
        study_name: str = "run",
    ) -> None:
        self._spec = storage
        self.study_name = study_name
        self._study: optuna.Study | None = None
        self._trials: dict[int, optuna.Trial] = {}

    @property
    def study(self) -> optuna.Study:
        if self._study is None:
            raise RunError("the run log is not open")
        return self._study

    def open(self, settings: JSONDict, resume: bool) -> LoggedRun:
        """Create the study, or reopen it when ``resume`` is true (see ``open_study``)."""
        import optuna
        from optuna.trial import TrialState

        storage = open_storage(self._spec)
        study_id, created = open_study(storage, self.study_name, settings, resume)
        with _quiet_optuna():
            self._study = optuna.load_study(storage=storage, study_name=self.study_name)
        logged = LoggedRun()
        if created:
            return logged
        trials = storage.get_all_trials(study_id, deepcopy=False)
        for trial in trials:
            if trial.state == TrialState.RUNNING:
                trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
                storage.set_trial_user_attr(trial_id, "fail_reason", "interrupted")
                storage.set_trial_state_values(trial_id, TrialState.FAIL)
                logged.n_interrupted += 1
        done = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.number)
        for i, trial in enumerate(done):
            start = trial.user_attrs.get("eval")
            if not start or "result" not in trial.user_attrs or start.get("index") != i:
                raise RunError(
                    f"run log {self.study_name!r} is inconsistent at trial {trial.number} "
                    f"(expected evaluation {i} with its 'eval' and 'result' attrs)"
                )
            logged.completed.append(evaluation_of(trial))
        logged.round_seconds = logged_round_seconds(storage.get_study_user_attrs(study_id))
        return logged

    def set_attr(self, key: str, value: Any) -> None:
        """Set a study-level user attr (JSON-serialisable)."""
        self.study.set_user_attr(key, value)

    def record_round(self, round_: int, strategy_seconds: float) -> None:
        self.study.set_user_attr(round_key(round_), round_value(strategy_seconds))

    def begin(self, index: int, round_: int, arch: Arch, canonical: str) -> int:
        """Start a trial for one evaluation; returns its handle."""
        trial = self.study.ask()
        trial.set_user_attr("eval", eval_attr(index, round_, arch, canonical))
        self._trials[trial.number] = trial
        return trial.number

    def finish(self, handle: int, evaluation: Evaluation) -> None:
        """Complete the trial with the evaluation's score, cost and metrics."""
        if not math.isfinite(evaluation.score):
            raise RunError(f"non-finite score {evaluation.score} for {evaluation.canonical}")
        trial = self._trials.pop(handle)
        trial.set_user_attr("result", result_attr(evaluation.cost_seconds, evaluation.metrics))
        self.study.tell(trial, evaluation.score)

    def fail(self, handle: int, reason: str) -> None:
        """Mark the trial failed (its arch will be evaluated again on resume)."""
        from optuna.trial import TrialState

        trial = self._trials.pop(handle)
        trial.set_user_attr("fail_reason", reason[:500])
        self.study.tell(trial, state=TrialState.FAIL)
