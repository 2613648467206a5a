"""The run log: every evaluation of a run, in an Optuna storage, so a killed run can resume.

Layout (one Optuna study per run, direction ``maximize``):

* study user attrs: ``ecgnas_runlog`` (format version), ``settings`` (method, strategy
  settings, seed, space, evaluator: compared on resume), ``budget`` (the latest one; a
  resumed run may extend it), and ``round:NNNNN`` = ``{"strategy_seconds": s}`` for every
  ask/tell round, so a device-time budget replays identically;
* one trial per evaluation: ``study.ask()`` when it starts, with user attr ``eval`` =
  ``{"index", "round", "arch" (JSON), "canonical"}``; ``study.tell(trial, score)`` when it
  ends, with user attr ``result`` = ``{"cost_seconds", "metrics"}`` (one attr each, since a
  journal storage fsyncs every write). A trial still ``RUNNING`` when the log is reopened
  belongs to a killed process: it is marked ``FAIL`` (user attr ``fail_reason``) and its arch
  is evaluated again, since it never finished.

Storage: ``None`` -> ``InMemoryStorage`` (benchmarks: about 0.04 ms per trial); a path ->
``JournalStorage(JournalFileBackend(path))`` (a directory gets ``runlog.journal`` inside);
a URL containing ``://`` (``sqlite:///...``, ``postgresql://...``) -> Optuna's RDB storage;
or any ``optuna.storages.BaseStorage``. Optuna is imported only when a log is opened.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecgnas.errors import RunError
from ecgnas.search.base import Evaluation
from ecgnas.spaces.base import Arch

if TYPE_CHECKING:
    import optuna

FORMAT_VERSION = 1
JOURNAL_NAME = "runlog.journal"
#: settings keys that may change on resume (everything else must match)
_MUTABLE_KEYS = frozenset({"budget"})


def _round_key(round_: int) -> str:
    return f"round:{round_:05d}"


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


def open_storage(spec: Any = None) -> Any:
    """An Optuna storage from a spec (see the module docstring); ``RunError`` if unusable."""
    import optuna
    from optuna.storages import BaseStorage, InMemoryStorage, JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if spec is None:
        return InMemoryStorage()
    if isinstance(spec, BaseStorage):
        return spec
    text = os.fspath(spec)
    if "://" in text:
        try:
            return optuna.storages.get_storage(text)
        except Exception as exc:  # optuna/sqlalchemy raise many kinds
            raise RunError(f"cannot open run-log storage {text!r}: {exc}") from exc
    path = Path(text).expanduser()
    if path.is_dir() or text.endswith(os.sep) or not path.suffix:
        path = path / JOURNAL_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    except OSError as exc:
        raise RunError(f"cannot open run log {path}: {exc}") from exc


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


def _settings_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
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


class OptunaRunLog:
    """A run log in one Optuna study (see the module docstring).

    Parameters
    ----------
    storage:
        ``None`` (in memory), a journal path or run directory, an RDB URL, or a storage.
    study_name:
        The study holding this run; one study per run.
    """

    def __init__(self, storage: Any = None, study_name: str = "run") -> None:
        self._spec = storage
        self.study_name = study_name
        self._study: optuna.Study | None = None
        self._trials: dict[int, optuna.Trial] = {}

    def _storage(self) -> Any:
        """The storage this log opens (a new handle on the same data)."""
        return open_storage(self._spec)

    @property
    def study(self) -> optuna.Study:
        if self._study is None:
            raise RunError("the run log is not open")
        return self._study

    def open(self, settings: dict[str, Any], resume: bool) -> LoggedRun:
        """Create the study, or reopen it when ``resume`` is true.

        Raises ``RunError`` if the study exists and ``resume`` is false, if it is not an
        ecgnas run log, or if its settings differ from ``settings`` (budget excepted).
        """
        import optuna
        from optuna.trial import TrialState

        storage = self._storage()
        names = optuna.get_all_study_names(storage)
        if self.study_name not in names:
            with _quiet_optuna():
                study = optuna.create_study(
                    storage=storage, study_name=self.study_name, direction="maximize"
                )
            study.set_user_attr("ecgnas_runlog", FORMAT_VERSION)
            study.set_user_attr("settings", settings)
            self._study = study
            return LoggedRun()

        with _quiet_optuna():
            study = optuna.load_study(storage=storage, study_name=self.study_name)
        if study.user_attrs.get("ecgnas_runlog") != FORMAT_VERSION:
            raise RunError(
                f"study {self.study_name!r} is not an ecgnas run log (v{FORMAT_VERSION})"
            )
        trials = study.get_trials(deepcopy=False)
        if not resume and trials:
            raise RunError(
                f"run log {self.study_name!r} already holds {len(trials)} trials; "
                "resume it or start a new run directory"
            )
        diffs = _settings_diff(study.user_attrs.get("settings", {}), settings)
        if diffs:
            raise RunError("cannot resume with different settings: " + "; ".join(diffs))
        study.set_user_attr("settings", settings)
        self._study = study

        logged = LoggedRun()
        for trial in trials:
            if trial.state == TrialState.RUNNING:
                storage.set_trial_user_attr(trial._trial_id, "fail_reason", "interrupted")
                storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
                logged.n_interrupted += 1
        done = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.number)
        for i, trial in enumerate(done):
            start, result = trial.user_attrs.get("eval"), trial.user_attrs.get("result")
            if not start or not result or start.get("index") != i:
                raise RunError(
                    f"run log {self.study_name!r} is inconsistent at trial {trial.number} "
                    f"(expected evaluation {i} with its 'eval' and 'result' attrs)"
                )
            logged.completed.append(
                Evaluation(
                    index=i,
                    round=int(start["round"]),
                    arch=Arch.from_json(start["arch"]),
                    canonical=str(start["canonical"]),
                    score=float(trial.value),  # type: ignore[arg-type]
                    cost_seconds=float(result["cost_seconds"]),
                    metrics=dict(result.get("metrics", {})),
                )
            )
        for key, value in study.user_attrs.items():
            if key.startswith("round:"):
                logged.round_seconds[int(key[6:])] = float(value["strategy_seconds"])
        return logged

    def set_attr(self, key: str, value: Any) -> None:
        """Set a study-level user attr (JSON-serialisable)."""
        self.study.set_user_attr(key, value)

    def record_round(self, round_: int, strategy_seconds: float) -> None:
        self.study.set_user_attr(_round_key(round_), {"strategy_seconds": strategy_seconds})

    def begin(self, index: int, round_: int, arch: Arch, canonical: str) -> int:
        """Start a trial for one evaluation; returns its handle."""
        trial = self.study.ask()
        trial.set_user_attr(
            "eval",
            {"index": index, "round": round_, "arch": arch.to_json(), "canonical": canonical},
        )
        self._trials[trial.number] = trial
        return trial.number

    def finish(self, handle: int, evaluation: Evaluation) -> None:
        """Complete the trial with the evaluation's score, cost and metrics."""
        if not math.isfinite(evaluation.score):
            raise RunError(f"non-finite score {evaluation.score} for {evaluation.canonical}")
        trial = self._trials.pop(handle)
        trial.set_user_attr(
            "result", {"cost_seconds": evaluation.cost_seconds, "metrics": dict(evaluation.metrics)}
        )
        self.study.tell(trial, evaluation.score)

    def fail(self, handle: int, reason: str) -> None:
        """Mark the trial failed (its arch will be evaluated again on resume)."""
        from optuna.trial import TrialState

        trial = self._trials.pop(handle)
        trial.set_user_attr("fail_reason", reason[:500])
        self.study.tell(trial, state=TrialState.FAIL)
