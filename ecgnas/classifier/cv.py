"""Record-wise k-fold cross-validation over DS1: the selection signal of the ECG recipe, and
the members of the shipped ensemble.

``cross_validate(arch, hyperparams, setup, seed)`` splits the 22 DS1 records into
``setup.folds`` folds (``ecgnas.data.splits.kfold_splits``: every record in exactly one
validation fold, folds balanced so that each holds S and V beats on both sides). For each
fold it trains the model on the other folds' records for exactly ``hyperparams.epochs``
epochs (``TrainConfig.select="last"``: the held-out records are never used to pick an epoch),
fits a temperature on the held-out records, and keeps their predictions. The score is the
**pooled** out-of-fold result: every DS1 beat is predicted once, by the model that did not
see its record, and per-class F1 and macro-F1 are computed over all of them together (a
fold with few S beats does not swing a per-fold mean).

Only DS1 is read (``load_ds1`` passes ``allowed=DS1``; beats passed in are checked too).
The fold models, each with its temperature, are the members of the ensemble classifier
(``ecgnas.classifier.ensemble``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgnas.classifier.recipe import (
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
from ecgnas.spaces.base import Arch
from ecgnas.train.metrics import ClassMetrics, classification_metrics

if TYPE_CHECKING:
    from ecgnas.classifier.final import FitResult
    from ecgnas.data.dataset import BeatSet
    from ecgnas.data.splits import RecordSplit
    from ecgnas.train.trainer import BeatArrays

log = logging.getLogger(__name__)

FOLD_SEED_STRIDE = 1000
"""Fold ``i`` of training seed ``s`` trains with seed ``s * FOLD_SEED_STRIDE + i``."""


@dataclass
class FoldFit:
    """One fold: the model trained on the other folds and its held-out predictions."""

    split: RecordSplit
    seed: int
    state_dict: dict[str, Any]
    temperature: float
    val_logits: np.ndarray
    """float64 [n_val, C] logits of the held-out records' beats (before temperature)."""
    val_metrics: ClassMetrics
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class CVResult:
    """Pooled out-of-fold results of one recipe and training seed."""

    arch: Arch
    settings: dict[str, Any]
    hyperparams: Hyperparams
    setup: Setup
    seed: int
    folds: list[FoldFit]
    y: np.ndarray
    """int64 [n] DS1 labels, in the order of the beats passed in."""
    pred: np.ndarray
    """int64 [n] the out-of-fold prediction of each beat."""
    record: np.ndarray
    metrics: ClassMetrics
    seconds: float

    @property
    def score(self) -> float:
        """Pooled out-of-fold macro-F1 (``nan`` becomes 0 so that tuning can rank)."""
        v = self.metrics.macro_f1
        return 0.0 if np.isnan(v) else float(v)

    def per_class_f1(self) -> dict[str, float]:
        return dict(zip(self.metrics.class_names, self.metrics.f1.tolist()))

    def summary(self) -> dict[str, Any]:
        """JSON-able: pooled metrics, per-fold F1 and temperatures, the settings."""
        return {
            "seed": self.seed,
            "pooled": self.metrics.to_dict(),
            "folds": [
                {
                    "val_records": list(f.split.val),
                    "seed": f.seed,
                    "temperature": f.temperature,
                    "val_macro_f1": f.val_metrics.macro_f1,
                }
                for f in self.folds
            ],
            "hyperparams": self.hyperparams.to_json(),
            "setup": self.setup.to_json(),
            "arch": self.arch.to_json(),
            "seconds": self.seconds,
        }


def fit_fold(
    arch: Arch,
    hyperparams: Hyperparams,
    setup: Setup,
    seed: int,
    train: BeatArrays,
    val: BeatArrays,
    split: RecordSplit,
    *,
    device: str = "cpu",
    progress: Callable[[int, dict[str, float]], None] | None = None,
    fast: bool = False,
    watch: bool = True,
) -> FoldFit:
    """Train one fold for exactly ``hyperparams.epochs`` epochs, then fit its temperature
    on the held-out records. ``fast``: score the held-out records only after the last
    epoch (the same result; ``history`` then has no per-epoch validation F1) and train on
    fixed-shape batches (``TrainConfig.fixed_batches``). ``watch=False`` alone scores the
    held-out records once, after the last epoch, and changes nothing else (the same
    weights and predictions; ``history`` has no per-epoch validation F1)."""
    from ecgnas.classifier.calibration import fit_temperature
    from ecgnas.classifier.final import logits_of
    from ecgnas.train.trainer import train_classifier

    settings = model_settings(arch, setup, hyperparams.dropout)
    build = model_factory(arch, settings, hyperparams.dropout, seed)
    config = replace(
        train_config(hyperparams, setup, seed, device),
        select="last",
        watch=watch and not fast,
        fixed_batches=fast,
    )
    result = train_classifier(build, train, val, config, setup.classes, progress=progress)
    if result.val_logits is not None and result.device == "cpu":
        logits = result.val_logits  # the same float32 eval-mode pass, kept by the trainer
    else:  # mixed precision on a GPU: score the kept weights again in float32, same device
        model = build()
        model.load_state_dict(result.state_dict)
        logits = logits_of(model.eval(), val.x, val.rr, setup.eval_batch_size, result.device)
    return FoldFit(
        split=split,
        seed=seed,
        state_dict=result.state_dict,
        temperature=fit_temperature(logits, val.y),
        val_logits=logits,
        val_metrics=result.val_metrics,
        history=result.history,
    )


def cross_validate(
    arch: Arch,
    hyperparams: Hyperparams,
    setup: Setup,
    seed: int = 0,
    *,
    beats: BeatSet | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    fast: bool = False,
    val_majority: int | None = None,
    watch: bool = True,
) -> CVResult:
    """Record-wise ``setup.folds``-fold CV of the recipe over DS1 (see the module docstring).

    ``beats``: DS1 beats already loaded with ``setup`` (``ConfigError`` if any record is
    outside DS1). ``fast``, ``watch``: see ``fit_fold``. ``val_majority`` (proxies):
    score only this many random held-out beats of the majority class (N) per fold, every
    other beat, and weight those N beats up to their fold's count in the pooled confusion
    matrix (an unbiased estimate of its counts, rounded); unscored beats get prediction -1.
    Raises what the data layer and the trainer raise.
    """

    t0 = time.perf_counter()
    setup = setup_for(arch, setup)
    beats = ds1_beats(beats, setup, data_dir, cache_dir, who="cross-validation")
    arrays = as_arrays(beats, setup.inputs)
    pred = np.full(len(arrays), -1, dtype=np.int64)
    weight = np.ones(len(arrays))
    folds: list[FoldFit] = []
    for i, split in enumerate(ds1_splits(beats, setup, kfold=True)):
        tr = np.isin(arrays.record, split.train)
        va = np.isin(arrays.record, split.val)
        if val_majority is not None:
            va = _subsample_majority(
                arrays.y, va, val_majority, weight, seed * FOLD_SEED_STRIDE + i
            )
        fold = fit_fold(
            arch,
            hyperparams,
            setup,
            seed * FOLD_SEED_STRIDE + i,
            _take(arrays, tr),
            _take(arrays, va),
            split,
            device=device,
            fast=fast,
            watch=watch,
        )
        pred[va] = fold.val_logits.argmax(axis=1)
        folds.append(fold)
        log.info(
            "fold %d/%d (val %s): macro-F1 %.4f, T %.3f",
            i + 1,
            setup.folds,
            ",".join(split.val),
            fold.val_metrics.macro_f1,
            fold.temperature,
        )
    if val_majority is None:
        metrics = classification_metrics(arrays.y, pred, setup.classes)
    else:
        metrics = _weighted_metrics(arrays.y, pred, weight, setup.classes)
    return CVResult(
        arch=arch,
        settings=model_settings(arch, setup, hyperparams.dropout),
        hyperparams=hyperparams,
        setup=setup,
        seed=seed,
        folds=folds,
        y=np.asarray(arrays.y, dtype=np.int64),
        pred=pred,
        record=arrays.record,
        metrics=metrics,
        seconds=time.perf_counter() - t0,
    )


def _subsample_majority(
    y: np.ndarray, va: np.ndarray, keep: int, weight: np.ndarray, seed: int
) -> np.ndarray:
    """``va`` with all but ``keep`` random majority-class beats dropped; the kept ones get
    weight ``n_majority / keep`` in ``weight`` (in place)."""
    majority = int(np.bincount(y).argmax())
    held = np.flatnonzero(va & (y == majority))
    if len(held) <= keep:
        return va
    kept = np.random.default_rng(seed).choice(held, size=keep, replace=False)
    out = va & (y != majority)
    out[kept] = True
    weight[kept] = len(held) / keep
    return out


def _weighted_metrics(
    y: np.ndarray, pred: np.ndarray, weight: np.ndarray, classes: tuple[str, ...]
) -> ClassMetrics:
    from ecgnas.train.metrics import metrics_from_confusion

    scored = pred >= 0
    n = len(classes)
    cm = np.zeros((n, n))
    np.add.at(cm, (y[scored], pred[scored]), weight[scored])
    return metrics_from_confusion(np.rint(cm).astype(np.int64), classes)


def _take(arrays: BeatArrays, mask: np.ndarray) -> BeatArrays:
    from ecgnas.train.trainer import BeatArrays

    return BeatArrays(
        x=arrays.x[mask], rr=arrays.rr[mask], y=arrays.y[mask], record=arrays.record[mask]
    )


def fit_ensemble(
    arch: Arch,
    hyperparams: Hyperparams,
    setup: Setup,
    seed: int = 0,
    *,
    beats: BeatSet | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    tuned_from: dict[str, Any] | None = None,
) -> FitResult:
    """The final model as the ensemble of the ``setup.folds`` cross-validation fold models.

    Reads DS1 only. Its DS1 numbers (``val_metrics``, ``val_calibration``) are the pooled
    out-of-fold ones: each beat scored by the member that did not train on its record,
    calibrated by that member's temperature. The ensemble's own temperature is 1 (its
    output is already an average of calibrated probabilities).
    """
    from ecgnas.classifier.calibration import nll, reliability, softmax
    from ecgnas.classifier.ensemble import ensemble_state
    from ecgnas.classifier.final import FitResult
    from ecgnas.classifier.report import ECE_BINS
    from ecgnas.data.splits import RecordSplit

    setup = setup_for(arch, setup)
    cv = cross_validate(
        arch,
        hyperparams,
        setup,
        seed,
        beats=beats,
        data_dir=data_dir,
        cache_dir=cache_dir,
        device=device,
    )
    temps = [f.temperature for f in cv.folds]
    raw = np.zeros((len(cv.y), len(setup.classes)))
    scaled = np.zeros_like(raw)
    for fold in cv.folds:
        va = np.isin(cv.record, fold.split.val)
        raw[va] = fold.val_logits
        scaled[va] = fold.val_logits / fold.temperature
    counts = np.bincount(cv.y, minlength=len(setup.classes)).tolist()
    records = tuple(sorted(set(cv.record.tolist())))
    return FitResult(
        arch=arch,
        settings=cv.settings,
        hyperparams=hyperparams,
        setup=setup,
        seed=seed,
        split=RecordSplit(train=records, val=records),
        state_dict=ensemble_state([f.state_dict for f in cv.folds], temps),
        temperature=1.0,
        best_epoch=hyperparams.epochs - 1,
        epochs_run=hyperparams.epochs,
        val_metrics=cv.metrics,
        val_calibration={
            "nll_uncalibrated": nll(raw, cv.y, 1.0),
            "nll_calibrated": nll(scaled, cv.y, 1.0),
            "ece_uncalibrated": reliability(softmax(raw), cv.y, ECE_BINS).ece,
            "ece_calibrated": reliability(softmax(scaled), cv.y, ECE_BINS).ece,
        },
        train_counts=counts,
        val_counts=counts,
        seconds=cv.seconds,
        history=[row for f in cv.folds for row in f.history],
        tuned_from=tuned_from,
        ensemble={
            "members": len(cv.folds),
            "temperatures": temps,
            "fold_val_records": [list(f.split.val) for f in cv.folds],
            "fold_seeds": [f.seed for f in cv.folds],
            "what": "members = the DS1 cross-validation fold models; output = log of the "
            "mean of their calibrated probabilities",
        },
    )
