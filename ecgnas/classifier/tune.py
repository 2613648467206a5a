"""Optuna tuning of the final model's training hyperparameters, on DS1 only.

The recipe it tunes (``Hyperparams``, ``Setup``) is in ``ecgnas.classifier.recipe``.

**Objective.** DS1 validation macro-F1 over N, S, V, F on held-out *records*: with
``cv="holdout"`` one ``validation_split`` of DS1 (5 of 22 records, 23 %); with
``cv="kfold"`` the mean over ``kfold_splits`` folds. The value of one training run is the
macro-F1 of its best epoch (the trainer early-stops on the same records), so the objective
is optimistic as an estimate; it only ranks hyperparameters. No DS2 record is ever opened:
beats are loaded with ``allowed=DS1``, so the data layer refuses any other record.

**Study.** Storage: a journal file ``<out>/tune.journal`` by default
(``optuna.storages.JournalStorage`` + ``JournalFileBackend``), or any Optuna storage URL
(``sqlite:///tune.db``, ``postgresql://...``). ``load_if_exists=True``: rerunning resumes;
``trials`` is the total number of finished (complete or pruned) trials wanted, so asking
for 3 after 2 finished runs one more. The study's user attribute ``ecgnas`` records the
arch, the preprocessing digest, the split records, the seed and the setup; resuming with a
different one raises ``RunError``. Sampling: the first trial of a new study is the default
``Hyperparams``; the next ones, up to ``N_STARTUP``, come from a scrambled Sobol design
(``QMCSampler``, even coverage for a small budget); then TPE. Samplers are seeded with
``seed + number of trials already in the study``, so a resumed study does not replay the
draws of the first run. The pruner (median by default) sees the best-so-far validation
macro-F1 after every epoch (holdout) or the mean over finished folds (k-fold).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ecgnas.classifier.recipe import (
    LOSSES,
    Hyperparams,
    Setup,
    as_arrays,
    ds1_beats,
    ds1_splits,
    model_factory,
    model_settings,
    setup_for,
    train_config,
)
from ecgnas.errors import ConfigError, RunError
from ecgnas.io import atomic_write_json
from ecgnas.spaces.base import Arch

if TYPE_CHECKING:
    import optuna

    from ecgnas.data.dataset import BeatSet
    from ecgnas.data.splits import RecordSplit
    from ecgnas.train.trainer import BeatArrays

log = logging.getLogger(__name__)

TUNE_FILE: Final = "tune.json"
JOURNAL_FILE: Final = "tune.journal"
ATTR_KEY: Final = "ecgnas"
PRUNERS: Final = ("median", "hyperband", "none")
BATCH_SIZES: Final = (64, 128, 256)
N_STARTUP: Final = 5
"""Trials before TPE takes over: the default recipe, then a scrambled Sobol design."""


def suggest(trial: optuna.Trial, setup: Setup) -> Hyperparams:
    """Draw one ``Hyperparams`` from the search space (ranges in the code below)."""
    loss = trial.suggest_categorical("loss", list(LOSSES))
    return Hyperparams(
        lr=trial.suggest_float("lr", 1e-4, 1e-2, log=True),
        weight_decay=trial.suggest_float("weight_decay", 1e-5, 1e-1, log=True),
        batch_size=int(trial.suggest_categorical("batch_size", list(BATCH_SIZES))),
        dropout=trial.suggest_float("dropout", 0.0, 0.5),
        epochs=trial.suggest_int("epochs", setup.min_epochs, setup.max_epochs),
        loss=str(loss),
        class_weight_power=trial.suggest_float("class_weight_power", 0.0, 1.0),
        focal_gamma=(
            trial.suggest_float("focal_gamma", 0.5, 3.0)
            if loss == "focal"
            else Hyperparams.focal_gamma
        ),
        augment=trial.suggest_float("augment", 0.0, 1.0),
    )


def hyperparams_from_trial_params(params: dict[str, Any]) -> Hyperparams:
    """``Hyperparams`` from an Optuna trial's ``params`` (absent keys take defaults)."""
    return Hyperparams.from_json({k: v for k, v in params.items()})


def default_trial_params(setup: Setup) -> dict[str, Any]:
    """The default ``Hyperparams`` as Optuna params (epochs clipped into the tuned range)."""
    hp = Hyperparams()
    out = hp.to_json()
    out["epochs"] = int(min(max(hp.epochs, setup.min_epochs), setup.max_epochs))
    out.pop("focal_gamma")  # only drawn for the focal loss
    out.pop("adversarial")  # not tuned
    return out


# --- tuning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TuneResult:
    """What a tuning run left: the best trial and where the study lives."""

    out_dir: Path
    study_name: str
    storage: str
    arch: Arch
    setup: Setup
    seed: int
    best_params: Hyperparams
    best_value: float
    best_trial: int
    n_complete: int
    n_pruned: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "study_name": self.study_name,
            "storage": self.storage,
            "arch": self.arch.to_json(),
            "setup": self.setup.to_json(),
            "seed": self.seed,
            "best_params": self.best_params.to_json(),
            "best_value": self.best_value,
            "best_value_is": "DS1-validation macro-F1 (N, S, V, F), record-wise",
            "best_trial": self.best_trial,
            "n_complete": self.n_complete,
            "n_pruned": self.n_pruned,
            "seconds_this_run": self.seconds,
        }


def _storage(out_dir: Path, storage: str | None) -> tuple[optuna.storages.BaseStorage, str]:
    """The study's storage through the run log's one opener (journal file by default; a
    SQLite or PostgreSQL URL as given), and its label for messages."""
    from ecgnas.search.runlog import open_storage

    target = storage or str(out_dir / JOURNAL_FILE)
    return open_storage(target), str(target)


def _pruner(name: str, setup: Setup) -> optuna.pruners.BasePruner:
    import optuna

    if name == "median":
        warmup = 2 if setup.cv == "holdout" else 0
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=warmup)
    if name == "hyperband":
        max_resource = setup.max_epochs if setup.cv == "holdout" else setup.folds
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_resource)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"unknown pruner {name!r} (choose {', '.join(PRUNERS)})")


def study_identity(
    arch: Arch, setup: Setup, seed: int, splits: list[RecordSplit]
) -> dict[str, Any]:
    """What a study is bound to; resuming with anything different is refused."""
    return {
        "arch": arch.to_json(),
        "preprocess_digest": setup.preprocess.digest(),
        "splits": [{"train": list(s.train), "val": list(s.val)} for s in splits],
        "seed": int(seed),
        "setup": setup.to_json(),
    }


def _check_identity(stored: dict[str, Any], wanted: dict[str, Any], study_name: str) -> None:
    for key in ("arch", "preprocess_digest", "splits", "seed", "setup"):
        if stored.get(key) != wanted[key]:
            raise RunError(
                f"study {study_name!r} was tuned with another {key.replace('_', ' ')} "
                f"({json.dumps(stored.get(key), sort_keys=True)[:120]}); use a new --out "
                "or --study-name, or the original settings"
            )


def tune(
    arch: Arch,
    n_trials: int,
    out_dir: str | os.PathLike[str],
    *,
    setup: Setup | None = None,
    seed: int = 0,
    storage: str | None = None,
    study_name: str | None = None,
    pruner: str = "median",
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    beats: BeatSet | None = None,
) -> TuneResult:
    """Run (or resume) the study until ``n_trials`` trials are complete or pruned.

    Writes ``<out_dir>/tune.json`` (``TuneResult.to_json()`` plus every trial) atomically.
    ``beats`` may pass already-loaded DS1 beats (they must be DS1's, classes ``setup.classes``).
    Raises ``RunError`` when resuming a study bound to other settings, ``ConfigError`` for
    bad arguments, ``DataError`` for missing data.
    """

    setup = setup_for(arch, setup or Setup())
    if n_trials < 1:
        raise ConfigError(f"trials must be >= 1, got {n_trials}")
    if pruner not in PRUNERS:
        raise ConfigError(f"unknown pruner {pruner!r} (choose {', '.join(PRUNERS)})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = study_name or f"ecgnas-tune-{arch.key()}"
    t_start = time.perf_counter()

    beats = ds1_beats(beats, setup, data_dir, cache_dir, who="tune")
    splits = ds1_splits(beats, setup)
    identity = study_identity(arch, setup, seed, splits)
    store, storage_label = _storage(out, storage)
    study = _open_study(store, name, seed, _pruner(pruner, setup), setup, identity)
    done = len(study.get_trials(deepcopy=False, states=_finished_states()))
    remaining = n_trials - done
    if remaining > 0:
        log.info(
            "study %s: %d trials finished, running %d more (%s)",
            name,
            done,
            remaining,
            storage_label,
        )
        parts = [
            (
                as_arrays(beats.select_records(s.train), setup.inputs),
                as_arrays(beats.select_records(s.val), setup.inputs),
            )
            for s in splits
        ]
        objective = _objective(arch, setup, seed, device, parts)
        _run_trials(study, objective, n_trials, remaining, done, seed)
    else:
        log.info("study %s already has %d finished trials (asked for %d)", name, done, n_trials)
    result = _tune_result(study, out, storage_label, arch, setup, seed, t_start)
    _write_tune_json(out / TUNE_FILE, result, study, identity)
    return result


def _finished_states() -> tuple[optuna.trial.TrialState, ...]:
    import optuna

    return (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _open_study(
    store: optuna.storages.BaseStorage | str,
    name: str,
    seed: int,
    pruner: optuna.pruners.BasePruner,
    setup: Setup,
    identity: dict[str, Any],
) -> optuna.Study:
    """Create or load the study; a new one is bound to ``identity`` and starts with the
    default recipe enqueued, a loaded one must carry the same ``identity``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=store,
        study_name=name,
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner,
    )
    stored = study.user_attrs.get(ATTR_KEY)
    if stored is None:
        if study.trials:
            raise RunError(f"study {name!r} has trials but no ecgnas settings: not ours")
        study.set_user_attr(ATTR_KEY, identity)
        study.enqueue_trial(default_trial_params(setup))
    else:
        _check_identity(stored, identity, name)
    return study


def _objective(
    arch: Arch,
    setup: Setup,
    seed: int,
    device: str,
    parts: list[tuple[BeatArrays, BeatArrays]],
) -> Callable[[optuna.Trial], float]:
    """The study's objective, on DS1 only.

    Holdout (one part): the best-epoch DS1-validation macro-F1, reported to the pruner
    each epoch. k-fold: each fold trains for exactly the trial's epochs
    (``select="last"``) and the value is the macro-F1 of the out-of-fold predictions
    pooled over the folds (``ecgnas.classifier.cv``), reported after each fold.
    """
    from ecgnas.classifier.cv import FOLD_SEED_STRIDE

    def objective(trial: optuna.Trial) -> float:
        hp = suggest(trial, setup)
        t0 = time.perf_counter()
        if len(parts) == 1:
            value = _holdout_value(trial, arch, hp, setup, seed, device, parts[0])
        else:
            value = _pooled_value(trial, arch, hp, setup, seed, device, parts, FOLD_SEED_STRIDE)
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        log.info("trial %d: DS1 objective %.4f (%s)", trial.number, value, hp)
        return value

    return objective


def _holdout_value(
    trial: optuna.Trial,
    arch: Arch,
    hp: Hyperparams,
    setup: Setup,
    seed: int,
    device: str,
    part: tuple[BeatArrays, BeatArrays],
) -> float:
    import optuna

    from ecgnas.train.trainer import train_classifier

    config = train_config(hp, setup, seed, device)
    build = model_factory(arch, model_settings(arch, setup, hp.dropout), hp.dropout, seed)
    best = -math.inf

    def report(epoch: int, row: dict[str, float]) -> None:
        nonlocal best
        best = max(best, row["val_macro_f1"])
        trial.report(best, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch}")

    result = train_classifier(build, part[0], part[1], config, setup.classes, progress=report)
    trial.set_user_attr("fold0_best_epoch", result.best_epoch)
    trial.set_user_attr("fold_scores", [result.score])
    return result.score


def _pooled_value(
    trial: optuna.Trial,
    arch: Arch,
    hp: Hyperparams,
    setup: Setup,
    seed: int,
    device: str,
    parts: list[tuple[BeatArrays, BeatArrays]],
    stride: int,
) -> float:
    import optuna

    from ecgnas.classifier.cv import fit_fold
    from ecgnas.data.splits import RecordSplit
    from ecgnas.train.metrics import classification_metrics

    ys: list[np.ndarray] = []
    preds: list[np.ndarray] = []
    scores: list[float] = []
    value = 0.0
    for fold, (train_part, val_part) in enumerate(parts):
        split = RecordSplit(
            train=tuple(sorted(set(train_part.record.tolist()))),
            val=tuple(sorted(set(val_part.record.tolist()))),
        )
        fit = fit_fold(
            arch, hp, setup, seed * stride + fold, train_part, val_part, split, device=device
        )
        ys.append(val_part.y)
        preds.append(fit.val_logits.argmax(axis=1))
        scores.append(float(fit.val_metrics.macro_f1))
        pooled = classification_metrics(np.concatenate(ys), np.concatenate(preds), setup.classes)
        value = 0.0 if math.isnan(pooled.macro_f1) else float(pooled.macro_f1)
        trial.report(value, fold)
        if fold < len(parts) - 1 and trial.should_prune():
            raise optuna.TrialPruned(f"pruned after fold {fold}")
    trial.set_user_attr("fold_scores", scores)
    trial.set_user_attr("pooled_f1", dict(zip(pooled.class_names, pooled.f1.tolist())))
    return value


def _run_trials(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    n_trials: int,
    remaining: int,
    done: int,
    seed: int,
) -> None:
    """Phase 1: the default recipe (enqueued) and a scrambled Sobol design; phase 2: TPE.

    Samplers are reseeded with the number of trials already in the study, so a resumed
    study does not replay the draws of the first run.
    """
    import optuna

    callbacks = [optuna.study.MaxTrialsCallback(n_trials, states=_finished_states())]
    startup = max(0, min(remaining, N_STARTUP - done))
    if startup:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.sampler = optuna.samplers.QMCSampler(
                qmc_type="sobol",
                scramble=True,
                seed=seed,
                independent_sampler=optuna.samplers.RandomSampler(seed=seed + len(study.trials)),
                warn_independent_sampling=False,
                warn_asynchronous_seeding=False,
            )
        study.optimize(objective, n_trials=startup, callbacks=callbacks, gc_after_trial=True)
    if remaining - startup > 0:
        study.sampler = optuna.samplers.TPESampler(
            seed=seed + len(study.trials), n_startup_trials=N_STARTUP
        )
        study.optimize(
            objective, n_trials=remaining - startup, callbacks=callbacks, gc_after_trial=True
        )


def _tune_result(
    study: optuna.Study,
    out: Path,
    storage_label: str,
    arch: Arch,
    setup: Setup,
    seed: int,
    t_start: float,
) -> TuneResult:
    """The best trial of the study (``RunError`` when no trial completed)."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise RunError(f"study {study.study_name!r} has no complete trial (all pruned or failed)")
    best = study.best_trial
    pruned = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,))
    return TuneResult(
        out_dir=out,
        study_name=study.study_name,
        storage=storage_label,
        arch=arch,
        setup=setup,
        seed=seed,
        best_params=hyperparams_from_trial_params(best.params),
        best_value=float(best.value if best.value is not None else float("nan")),
        best_trial=best.number,
        n_complete=len(complete),
        n_pruned=len(pruned),
        seconds=time.perf_counter() - t_start,
    )


def _write_tune_json(
    path: Path, result: TuneResult, study: optuna.Study, identity: dict[str, Any]
) -> None:
    payload = result.to_json()
    payload["splits"] = identity["splits"]
    payload["trials"] = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "params": t.params,
            "last_epoch": max(t.intermediate_values) if t.intermediate_values else None,
            "seconds": t.user_attrs.get("seconds"),
        }
        for t in study.get_trials(deepcopy=False)
    ]
    atomic_write_json(path, payload)


# --- reading a tuning run back ----------------------------------------------------------------


@dataclass(frozen=True)
class Tuned:
    """A finished tuning run as ``ecgnas train --tuned`` reads it from ``tune.json``."""

    arch: Arch
    setup: Setup
    params: Hyperparams
    best_value: float
    seed: int
    source: Path


def read_tuned(tune_dir: str | os.PathLike[str]) -> Tuned:
    """Read ``<tune_dir>/tune.json``; ``RunError`` when it is missing or malformed."""
    path = Path(tune_dir) / TUNE_FILE
    if not path.is_file():
        raise RunError(f"no {TUNE_FILE} in {tune_dir} (run `ecgnas tune` first)")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        return Tuned(
            arch=Arch.from_json(obj["arch"]),
            setup=Setup.from_json(obj["setup"]),
            params=Hyperparams.from_json(obj["best_params"]),
            best_value=float(obj["best_value"]),
            seed=int(obj["seed"]),
            source=path,
        )
    except (ValueError, KeyError, TypeError, ConfigError) as exc:
        raise RunError(f"{path} is not a valid tuning result ({exc})") from exc
