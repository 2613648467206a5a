"""The final model: retrain on DS1, calibrate on held-out DS1 records, evaluate once on DS2.

Three steps, kept apart so that a test can watch which records each one reads:

1. ``fit_final`` (DS1 only; the loader is restricted to DS1): train the arch with the
   (tuned) ``Hyperparams`` on the DS1 training records, early-stop on the held-out DS1
   records of the same record-wise split as tuning, then fit the temperature on those
   held-out records (``ecgnas.classifier.calibration.fit_temperature``).
2. ``evaluate_ds2`` (DS2 only, once): classify every DS2 beat. 4-class metrics (N, S, V, F;
   the model's classes) and a 5-class table where the reference Q beats are counted: the
   model cannot predict Q, so every Q beat is an error in that table. Per-record metrics,
   NLL, ECE and reliability data before and after temperature scaling. Nothing computed here
   flows back into training, selection or calibration.
3. ``write_final``: the classifier bundle (``ecgnas.classifier.bundle.save_bundle``) with
   its model card, and ``<report_dir>/final_<name>.{md,json}`` plus
   ``final_<name>_confusion.png`` and ``final_<name>_reliability.png``
   (``ecgnas.classifier.report``). Every number says whether it is DS1-validation or
   DS2-test.

Choosing among seeds and shipping the chosen bundle are in ``ecgnas.classifier.protocol``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgnas.classifier.bundle import package_versions, preprocessing_contract, save_bundle
from ecgnas.classifier.calibration import Reliability, fit_temperature, nll, reliability, softmax
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
from ecgnas.classifier.report import (
    DS1_CV_NOTE,
    DS1_VAL_NOTE,
    DS2_NOTE,
    ECE_BINS,
    plot_confusion,
    plot_reliability,
    render_model_card,
    render_report,
    report_json,
    training_json,
)
from ecgnas.io import atomic_write_json, atomic_write_text
from ecgnas.spaces.base import Arch
from ecgnas.train.metrics import AAMI5, ClassMetrics, classification_metrics, per_record_metrics

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ecgnas.data.dataset import BeatSet
    from ecgnas.data.splits import RecordSplit

log = logging.getLogger(__name__)


@dataclass
class FitResult:
    """The DS1-only part of the final training (weights, temperature, DS1-val numbers)."""

    arch: Arch
    settings: dict[str, Any]
    hyperparams: Hyperparams
    setup: Setup
    seed: int
    split: RecordSplit
    state_dict: dict[str, torch.Tensor]
    temperature: float
    best_epoch: int
    epochs_run: int
    val_metrics: ClassMetrics
    val_calibration: dict[str, float]
    train_counts: list[int]
    val_counts: list[int]
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    tuned_from: dict[str, Any] | None = None
    ensemble: dict[str, Any] | None = None
    """For a cross-validation ensemble: ``members``, ``temperatures`` (one per member) and
    ``fold_val_records``; ``None`` for a single model."""

    def build_model(self) -> nn.Module:
        """The trained model (eval mode, CPU): one network, or the ensemble of the folds."""
        from ecgnas.train.models import build_ecg_model

        if self.ensemble is not None:
            from ecgnas.classifier.ensemble import build_ensemble

            model = build_ensemble(self.arch, self.settings, self.ensemble["temperatures"])
        else:
            model = build_ecg_model(self.arch, self.settings)
        model.load_state_dict(self.state_dict)
        return model.eval()


def logits_of(
    model: nn.Module, x: np.ndarray, rr: np.ndarray, batch_size: int, device: str = "cpu"
) -> np.ndarray:
    """float64 [n, C] outputs of ``model`` (eval mode, no grad, float32) for model inputs
    ``x``, ``rr``, computed on ``device`` (the model is moved there)."""
    import torch

    from ecgnas.train.trainer import predict_logits, resolve_device

    target = resolve_device(device)
    model = model.to(target)
    with torch.inference_mode():
        out = predict_logits(
            model,
            torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(target),
            torch.from_numpy(np.ascontiguousarray(rr, dtype=np.float32)).to(target),
            batch_size,
        )
    return out.cpu().numpy().astype(np.float64)


def _logits(model: nn.Module, beats: BeatSet, setup: Setup) -> np.ndarray:
    arrays = as_arrays(beats, setup.inputs)
    return logits_of(model, arrays.x, arrays.rr, setup.eval_batch_size)


def fit_final(
    arch: Arch,
    hyperparams: Hyperparams,
    setup: Setup,
    seed: int = 0,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    beats: BeatSet | None = None,
    tuned_from: dict[str, Any] | None = None,
) -> FitResult:
    """Train on DS1-train records, early-stop and fit ``T`` on DS1-val records (step 1);
    with ``setup.final == "ensemble"``, the DS1 cross-validation ensemble instead
    (``ecgnas.classifier.cv.fit_ensemble``).

    Reads DS1 only. ``beats`` may pass DS1 beats already loaded with ``setup``. Raises what
    the data layer and trainer raise (``DataError``, ``ConfigError``).
    """
    from ecgnas.train.trainer import train_classifier

    setup = setup_for(arch, setup)
    if setup.final == "ensemble":
        from ecgnas.classifier.cv import fit_ensemble

        return fit_ensemble(
            arch,
            hyperparams,
            setup,
            seed,
            beats=beats,
            data_dir=data_dir,
            cache_dir=cache_dir,
            device=device,
            tuned_from=tuned_from,
        )
    t0 = time.perf_counter()
    setup_h = replace(setup, cv="holdout")
    beats = ds1_beats(beats, setup_h, data_dir, cache_dir, who="final training")
    split = ds1_splits(beats, setup_h)[0]
    train_set = beats.select_records(split.train)
    val_set = beats.select_records(split.val)
    settings = model_settings(arch, setup_h, hyperparams.dropout)
    build = model_factory(arch, settings, hyperparams.dropout, seed)
    config = train_config(hyperparams, setup_h, seed, device)
    log.info(
        "final training of %s (seed %d): %d DS1-train beats, %d DS1-val beats",
        arch.key(),
        seed,
        len(train_set),
        len(val_set),
    )
    result = train_classifier(
        build,
        as_arrays(train_set, setup.inputs),
        as_arrays(val_set, setup.inputs),
        config,
        setup.classes,
    )
    fit = FitResult(
        arch=arch,
        settings=settings,
        hyperparams=hyperparams,
        setup=setup_h,
        seed=seed,
        split=split,
        state_dict=result.state_dict,
        temperature=1.0,
        best_epoch=result.best_epoch,
        epochs_run=len(result.history),
        val_metrics=result.val_metrics,
        val_calibration={},
        train_counts=train_set.class_counts().tolist(),
        val_counts=val_set.class_counts().tolist(),
        seconds=0.0,
        history=result.history,
        tuned_from=tuned_from,
    )
    val_logits = _logits(fit.build_model(), val_set, setup)
    temperature = fit_temperature(val_logits, val_set.y)
    fit.temperature = temperature
    fit.val_calibration = {
        "nll_uncalibrated": nll(val_logits, val_set.y, 1.0),
        "nll_calibrated": nll(val_logits, val_set.y, temperature),
        "ece_uncalibrated": reliability(softmax(val_logits), val_set.y, ECE_BINS).ece,
        "ece_calibrated": reliability(softmax(val_logits, temperature), val_set.y, ECE_BINS).ece,
    }
    fit.seconds = time.perf_counter() - t0
    log.info(
        "DS1-val macro-F1 %.4f (best epoch %d), temperature %.3f",
        fit.val_metrics.macro_f1,
        fit.best_epoch,
        temperature,
    )
    return fit


@dataclass(frozen=True)
class TestEvaluation:
    """DS2-test results of one fitted model (step 2)."""

    metrics4: ClassMetrics
    metrics5: ClassMetrics
    per_record: dict[str, ClassMetrics]
    reliability_uncalibrated: Reliability
    reliability_calibrated: Reliability
    nll_uncalibrated: float
    nll_calibrated: float
    n_beats: int
    seconds: float
    beats: dict[str, np.ndarray] = field(default_factory=dict)
    """Per DS2 beat of the model's classes: ``y`` and ``pred`` (class indices, int64 [n])
    and ``record`` (str [n]), for analyses such as a bootstrap over records."""

    def to_json(self) -> dict[str, Any]:
        return {
            "what": DS2_NOTE,
            "n_beats_all_classes": self.n_beats,
            "four_class": self.metrics4.to_dict(),
            "five_class": {
                **self.metrics5.to_dict(),
                "note": "reference Q beats counted; the 4-class model never predicts Q",
            },
            "per_record": {r: m.to_dict() for r, m in self.per_record.items()},
            "calibration": {
                "nll_uncalibrated": self.nll_uncalibrated,
                "nll_calibrated": self.nll_calibrated,
                "ece_uncalibrated": self.reliability_uncalibrated.ece,
                "ece_calibrated": self.reliability_calibrated.ece,
                "ece_bins": ECE_BINS,
                "reliability_calibrated": self.reliability_calibrated.to_dict(),
                "reliability_uncalibrated": self.reliability_uncalibrated.to_dict(),
            },
        }


def evaluate_ds2(
    fit: FitResult,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> TestEvaluation:
    """Classify every DS2 beat once and compute the test metrics (step 2; reads DS2 only)."""
    from ecgnas.data.dataset import load_beats
    from ecgnas.data.splits import DS2

    t0 = time.perf_counter()
    beats = load_beats(
        DS2,
        fit.setup.preprocess,
        classes=AAMI5,
        data_dir=data_dir,
        cache_dir=cache_dir,
        allowed=DS2,
    )
    logits = _logits(fit.build_model(), beats, fit.setup)
    pred = logits.argmax(axis=1)
    classes = fit.setup.classes
    index5 = np.asarray([AAMI5.index(c) for c in classes])
    in_model = np.isin(beats.y, index5)
    y4 = np.searchsorted(index5, beats.y[in_model])  # AAMI5 index -> model class index
    pred4 = pred[in_model]
    y5 = beats.y
    pred5 = index5[pred]
    logits4 = logits[in_model]
    return TestEvaluation(
        metrics4=classification_metrics(y4, pred4, classes),
        metrics5=classification_metrics(y5, pred5, AAMI5),
        per_record=per_record_metrics(y4, pred4, beats.record[in_model], classes),
        reliability_uncalibrated=reliability(softmax(logits4), y4, ECE_BINS),
        reliability_calibrated=reliability(softmax(logits4, fit.temperature), y4, ECE_BINS),
        nll_uncalibrated=nll(logits4, y4, 1.0),
        nll_calibrated=nll(logits4, y4, fit.temperature),
        n_beats=len(beats),
        seconds=time.perf_counter() - t0,
        beats={"y": y4, "pred": pred4, "record": beats.record[in_model]},
    )


def contract_for(fit: FitResult, test: TestEvaluation | None, name: str) -> dict[str, Any]:
    """The bundle contract (without format fields and hash, added by ``save_bundle``)."""
    metrics: dict[str, Any] = {
        "ds1_validation": {
            "what": DS1_CV_NOTE if fit.ensemble is not None else DS1_VAL_NOTE,
            "four_class": fit.val_metrics.to_dict(),
        }
    }
    if test is not None:
        metrics["ds2_test"] = {
            "what": DS2_NOTE,
            "four_class": test.metrics4.to_dict(),
            "five_class": test.metrics5.to_dict(),
            "ece_calibrated": test.reliability_calibrated.ece,
            "ece_uncalibrated": test.reliability_uncalibrated.ece,
        }
    return {
        "name": name,
        "arch": fit.arch.to_json(),
        "model_settings": fit.settings,
        "preprocessing": preprocessing_contract(fit.setup.preprocess, inputs=fit.setup.inputs),
        "class_names": list(fit.setup.classes),
        "temperature": fit.temperature,
        "metrics": metrics,
        "training": training_json(fit),
        "versions": package_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **({"ensemble": fit.ensemble} if fit.ensemble is not None else {}),
    }


@dataclass(frozen=True)
class FinalOutputs:
    bundle: Path
    report_md: Path
    report_json: Path
    confusion_png: Path
    reliability_png: Path


def write_final(
    fit: FitResult,
    test: TestEvaluation,
    *,
    name: str,
    bundle_dir: str | os.PathLike[str],
    report_dir: str | os.PathLike[str],
    command: str,
) -> FinalOutputs:
    """Write the bundle, ``final_<name>.{md,json}`` and the two PNGs (step 3)."""
    reports = Path(report_dir)
    reports.mkdir(parents=True, exist_ok=True)
    bundle = save_bundle(
        bundle_dir,
        fit.state_dict,
        contract_for(fit, test, name),
        render_model_card(fit, test, name),
    )
    out = FinalOutputs(
        bundle=bundle,
        report_md=reports / f"final_{name}.md",
        report_json=reports / f"final_{name}.json",
        confusion_png=reports / f"final_{name}_confusion.png",
        reliability_png=reports / f"final_{name}_reliability.png",
    )
    plot_confusion(
        test.metrics4.confusion,
        test.metrics4.class_names,
        f"{name}: DS2-test confusion ({int(test.metrics4.support.sum()):,} beats)",
        out.confusion_png,
    )
    plot_reliability(
        test.reliability_uncalibrated,
        test.reliability_calibrated,
        f"{name}: DS2-test reliability (T = {fit.temperature:.2f} fitted on DS1-val)",
        out.reliability_png,
    )
    atomic_write_json(out.report_json, report_json(fit, test, name, command))
    atomic_write_text(out.report_md, render_report(fit, test, name, command))
    return out
