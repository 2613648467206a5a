"""Optuna tuning of the final model's training hyperparameters, on DS1 only.

The *recipe* shared by tuning and final training lives here too:

* ``Hyperparams``: what is tuned (learning rate, weight decay, batch size, dropout, epochs,
  loss and its class weighting or focal gamma, augmentation strength).
* ``Setup``: what is fixed for a study and reused by ``ecgnas train`` (preprocessing, the
  record-wise DS1 split, N-beat subsampling per epoch, early-stopping patience, the range of
  epochs, holdout or k-fold objective).

**Objective.** DS1 validation macro-F1 over N, S, V, F on held-out *records*: with
``cv="holdout"`` one ``validation_split`` of DS1 (5 of 22 records, 23 %); with
``cv="kfold"`` the mean over ``kfold_splits`` folds. The value of one training run is the
macro-F1 of its best epoch (the trainer early-stops on the same records), so the objective
is optimistic as an estimate; it only ranks hyperparameters. No DS2 record is ever opened:
beats are loaded with ``allowed=DS1``, so the data layer refuses any other record.

**Speed.** Each epoch trains on every S, V and F beat of the training records and a fresh
random subset of at most ``Setup.max_majority`` N beats (``None``: all N beats). Class
weights are computed on the full training set, so subsampling does not change them.

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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ecgnas.data.preprocess import PreprocessConfig
from ecgnas.errors import ConfigError, RunError, check_fields
from ecgnas.io import atomic_write_json
from ecgnas.spaces.base import Arch
from ecgnas.train.metrics import AAMI4

if TYPE_CHECKING:
    import optuna
    from torch import nn

    from ecgnas.data.dataset import BeatSet
    from ecgnas.data.splits import RecordSplit
    from ecgnas.train.trainer import BeatArrays, TrainConfig

log = logging.getLogger(__name__)

TUNE_FILE: Final = "tune.json"
JOURNAL_FILE: Final = "tune.journal"
ATTR_KEY: Final = "ecgnas"
CV_MODES: Final = ("holdout", "kfold")
PRUNERS: Final = ("median", "hyperband", "none")
BATCH_SIZES: Final = (64, 128, 256)
N_STARTUP: Final = 5
"""Trials before TPE takes over: the default recipe, then a scrambled Sobol design."""
LOSSES: Final = ("weighted_ce", "focal")


@dataclass(frozen=True)
class Hyperparams:
    """Training hyperparameters of the final model (the tuned part).

    lr: peak learning rate of AdamW's one-cycle schedule. weight_decay: AdamW decoupled
    decay. batch_size: beats per step. dropout: probability before the classifier (ecg1d:
    the ``dropout`` model setting; manual baseline: every dropout layer of the network,
    replacing the grid's value). epochs: maximum epochs (early stopping may end sooner).
    loss: ``"weighted_ce"`` or ``"focal"``; both weight class ``c`` by ``(n/n_c) **
    class_weight_power`` (0: unweighted). focal_gamma: focusing exponent (focal only).
    augment: strength in [0, 1] of amplitude, offset and noise augmentation.
    """

    lr: float = 3e-3
    weight_decay: float = 1e-2
    batch_size: int = 128
    dropout: float = 0.1
    epochs: int = 10
    loss: str = "weighted_ce"
    class_weight_power: float = 0.5
    focal_gamma: float = 2.0
    augment: float = 0.0

    def __post_init__(self) -> None:
        if not (self.lr > 0 and self.weight_decay >= 0 and self.batch_size >= 1):
            raise ConfigError(f"bad hyperparameters: {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Hyperparams:
        """Inverse of ``to_json``; unknown keys raise ``ConfigError``, missing keys default."""
        return cls(**check_fields(cls, obj, "hyperparameter(s)"))


@dataclass(frozen=True)
class Setup:
    """The fixed part of the recipe, shared by a tuning study and the final training.

    preprocess: how records become beats (its digest is recorded in the study).
    classes: the model's classes (N, S, V, F).
    cv: ``"holdout"`` (one record-wise validation split) or ``"kfold"`` (``folds`` folds;
        tuning only: final training always uses the holdout split).
    val_fraction: share of DS1 records held out (holdout; 5 of 22 records at 0.2).
    split_seed: seed of the record-wise split (fixed across training seeds).
    max_majority: N beats per epoch (a fresh random subset each epoch), None for all.
    patience: epochs without a better validation macro-F1 before stopping.
    min_epochs, max_epochs: range of the tuned number of epochs.
    eval_batch_size: beats per forward pass when scoring (small batches are faster on CPU).
    """

    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    classes: tuple[str, ...] = AAMI4
    cv: str = "holdout"
    folds: int = 5
    val_fraction: float = 0.2
    split_seed: int = 0
    max_majority: int | None = 4000
    patience: int = 4
    min_epochs: int = 3
    max_epochs: int = 10
    eval_batch_size: int = 256

    def __post_init__(self) -> None:
        if self.cv not in CV_MODES:
            raise ConfigError(f"cv must be one of {', '.join(CV_MODES)}, got {self.cv!r}")
        if self.cv == "kfold" and self.folds < 2:
            raise ConfigError(f"k-fold needs at least 2 folds, got {self.folds}")
        if self.max_majority is not None and self.max_majority < 1:
            raise ConfigError(f"max_majority must be >= 1 or None, got {self.max_majority}")
        if not 1 <= self.min_epochs <= self.max_epochs:
            raise ConfigError(
                f"need 1 <= min_epochs <= max_epochs, got {self.min_epochs}, {self.max_epochs}"
            )
        if self.patience < 1:
            raise ConfigError(f"patience must be >= 1, got {self.patience}")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["preprocess"] = self.preprocess.to_json()
        out["classes"] = list(self.classes)
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Setup:
        kwargs = check_fields(cls, obj, "setup key(s)")
        if "preprocess" in kwargs:
            kwargs["preprocess"] = PreprocessConfig.from_json(kwargs["preprocess"])
        if "classes" in kwargs:
            kwargs["classes"] = tuple(kwargs["classes"])
        return cls(**kwargs)


# --- the recipe ---------------------------------------------------------------------------


def model_settings(arch: Arch, setup: Setup, dropout: float) -> dict[str, Any]:
    """The ``build_ecg_model`` settings for ``arch`` with this setup's head and window."""
    from ecgnas.train.models import default_settings

    settings = default_settings(
        arch, n_classes=len(setup.classes), n_rr=6, input_len=setup.preprocess.window
    )
    if arch.space == "ecg1d":
        settings["dropout"] = float(dropout)
    return settings


def model_factory(
    arch: Arch, settings: dict[str, Any], dropout: float, seed: int
) -> Callable[[], nn.Module]:
    """A zero-argument builder of the model (what ``train_classifier`` takes).

    The manual baseline's dropout layers are set to ``dropout`` after building (its grid
    value is replaced), so both models are tuned over the same dropout range.
    """

    def build() -> nn.Module:
        from torch import nn

        from ecgnas.train.models import build_ecg_model

        model = build_ecg_model(arch, settings, seed=seed)
        if arch.space != "ecg1d":
            for module in model.modules():
                if isinstance(module, nn.Dropout):
                    module.p = float(dropout)
        return model

    return build


def train_config(hp: Hyperparams, setup: Setup, seed: int, device: str = "cpu") -> TrainConfig:
    """The trainer settings of one run of the recipe."""
    from ecgnas.train.trainer import TrainConfig

    return TrainConfig(
        epochs=hp.epochs,
        batch_size=hp.batch_size,
        lr=hp.lr,
        weight_decay=hp.weight_decay,
        loss=hp.loss,
        class_weight_power=hp.class_weight_power,
        focal_gamma=hp.focal_gamma,
        max_majority_per_epoch=setup.max_majority,
        patience=setup.patience,
        augment=hp.augment,
        seed=seed,
        device=device,
        amp=True,
        eval_batch_size=setup.eval_batch_size,
    )


def load_ds1(
    setup: Setup,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> BeatSet:
    """All DS1 beats of ``setup.classes`` (records outside DS1 are refused by the data layer)."""
    from ecgnas.data.dataset import load_beats
    from ecgnas.data.splits import DS1

    return load_beats(
        DS1,
        setup.preprocess,
        classes=setup.classes,
        data_dir=data_dir,
        cache_dir=cache_dir,
        allowed=DS1,
    )


def ds1_splits(beats: BeatSet, setup: Setup, *, kfold: bool | None = None) -> list[RecordSplit]:
    """The record-wise DS1 split(s): one holdout split, or ``setup.folds`` folds."""
    from ecgnas.data.splits import DS1, kfold_splits, validation_split

    counts = beats.record_class_counts()
    use_kfold = setup.cv == "kfold" if kfold is None else kfold
    if use_kfold:
        return kfold_splits(counts, DS1, k=setup.folds, seed=setup.split_seed)
    return [validation_split(counts, DS1, val_fraction=setup.val_fraction, seed=setup.split_seed)]


def as_arrays(beats: BeatSet) -> BeatArrays:
    """The trainer's view of a ``BeatSet``."""
    from ecgnas.train.trainer import BeatArrays

    return BeatArrays(x=beats.x, rr=beats.rr, y=beats.y, record=beats.record)


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


def _storage(out_dir: Path, storage: str | None) -> tuple[Any, str]:
    import optuna

    if storage:
        return storage, storage
    path = out_dir / JOURNAL_FILE
    backend = optuna.storages.journal.JournalFileBackend(str(path))
    return optuna.storages.JournalStorage(backend), str(path)


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


def study_identity(arch: Arch, setup: Setup, seed: int, splits: list[RecordSplit]) -> dict:
    """What a study is bound to; resuming with anything different is refused."""
    return {
        "arch": arch.to_json(),
        "preprocess_digest": setup.preprocess.digest(),
        "splits": [{"train": list(s.train), "val": list(s.val)} for s in splits],
        "seed": int(seed),
        "setup": setup.to_json(),
    }


def _check_identity(stored: dict, wanted: dict, study_name: str) -> None:
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
    import optuna

    from ecgnas.data.splits import DS1
    from ecgnas.train.trainer import train_classifier

    setup = setup or Setup()
    if n_trials < 1:
        raise ConfigError(f"trials must be >= 1, got {n_trials}")
    if pruner not in PRUNERS:
        raise ConfigError(f"unknown pruner {pruner!r} (choose {', '.join(PRUNERS)})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = study_name or f"ecgnas-tune-{arch.key()}"
    t_start = time.perf_counter()

    if beats is None:
        beats = load_ds1(setup, data_dir, cache_dir)
    elif not set(np.unique(beats.record).tolist()) <= set(DS1):
        raise ConfigError("tune: the beats passed in include records outside DS1")
    splits = ds1_splits(beats, setup)
    identity = study_identity(arch, setup, seed, splits)

    store, storage_label = _storage(out, storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=store,
        study_name=name,
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=_pruner(pruner, setup),
    )
    stored = study.user_attrs.get(ATTR_KEY)
    if stored is None:
        if study.trials:
            raise RunError(f"study {name!r} has trials but no ecgnas settings: not ours")
        study.set_user_attr(ATTR_KEY, identity)
        study.enqueue_trial(default_trial_params(setup))
    else:
        _check_identity(stored, identity, name)
    finished_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=finished_states))
    remaining = n_trials - done
    parts = [
        (as_arrays(beats.select_records(s.train)), as_arrays(beats.select_records(s.val)))
        for s in splits
    ]

    def objective(trial: optuna.Trial) -> float:
        hp = suggest(trial, setup)
        config = train_config(hp, setup, seed, device)
        build = model_factory(arch, model_settings(arch, setup, hp.dropout), hp.dropout, seed)
        scores: list[float] = []
        t0 = time.perf_counter()
        for fold, (train_part, val_part) in enumerate(parts):
            best = -math.inf

            def report(epoch: int, row: dict[str, float]) -> None:
                nonlocal best
                best = max(best, row["val_macro_f1"])
                if len(parts) == 1:
                    trial.report(best, epoch)
                    if trial.should_prune():
                        raise optuna.TrialPruned(f"pruned at epoch {epoch}")

            result = train_classifier(
                build, train_part, val_part, config, setup.classes, progress=report
            )
            scores.append(result.score)
            trial.set_user_attr(f"fold{fold}_best_epoch", result.best_epoch)
            if len(parts) > 1:
                trial.report(float(np.mean(scores)), fold)
                if fold < len(parts) - 1 and trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after fold {fold}")
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        trial.set_user_attr("fold_scores", scores)
        value = float(np.mean(scores))
        log.info("trial %d: DS1-val macro-F1 %.4f (%s)", trial.number, value, hp)
        return value

    if remaining > 0:
        log.info(
            "study %s: %d trials finished, running %d more (%s)",
            name,
            done,
            remaining,
            storage_label,
        )
        callbacks = [optuna.study.MaxTrialsCallback(n_trials, states=finished_states)]
        # phase 1: the default recipe (enqueued) and a scrambled Sobol design; phase 2: TPE.
        # Samplers are reseeded with the number of trials already in the study, so a
        # resumed study does not replay the draws of the first run.
        startup = max(0, min(remaining, N_STARTUP - done))
        if startup:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.sampler = optuna.samplers.QMCSampler(
                    qmc_type="sobol",
                    scramble=True,
                    seed=seed,
                    independent_sampler=optuna.samplers.RandomSampler(
                        seed=seed + len(study.trials)
                    ),
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
    else:
        log.info("study %s already has %d finished trials (asked for %d)", name, done, n_trials)

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise RunError(f"study {name!r} has no complete trial (all pruned or failed)")
    best = study.best_trial
    result = TuneResult(
        out_dir=out,
        study_name=name,
        storage=storage_label,
        arch=arch,
        setup=setup,
        seed=seed,
        best_params=hyperparams_from_trial_params(best.params),
        best_value=float(best.value if best.value is not None else float("nan")),
        best_trial=best.number,
        n_complete=len(complete),
        n_pruned=len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,))),
        seconds=time.perf_counter() - t_start,
    )
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
    atomic_write_json(out / TUNE_FILE, payload)
    return result


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


def with_overrides(setup: Setup, **changes: Any) -> Setup:
    """``setup`` with the non-None ``changes`` applied."""
    return replace(setup, **{k: v for k, v in changes.items() if v is not None})
