"""The final-model protocol across seeds: tune, train every seed, evaluate each once on DS2,
choose one seed by DS1-validation, compare two models, ship the chosen bundle.

* ``run_model``: ``tune`` on DS1 (journal in ``<out>/tune-<label>``, resumable), then for
  every seed ``fit_final`` (DS1 only), ``evaluate_ds2`` once and ``write_final`` into
  ``<out>/<label>/seed<k>/``, with a ``result.json`` summary and the DS2 predictions
  (``ds2_predictions.npz``). A seed whose ``result.json`` exists is read back, not rerun.
* ``choose_seed``: **the seed with the best DS1-validation macro-F1** (never DS2); on a tie
  the first of the list (the order the seeds were given) wins.
* ``bootstrap_difference``: a 95 % interval of the mean over seed pairs of
  (macro-F1 A - macro-F1 B) on DS2, resampling DS2 *records* with replacement; macro-F1 is
  ``ecgnas.train.metrics``'s (the classes with reference beats in the resample).
* shipping is ``ecgnas.classifier.bundle.ship_bundle`` (atomic swap).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ecgnas.errors import RunError
from ecgnas.train.metrics import AAMI4, confusion_matrix, metrics_from_confusion

if TYPE_CHECKING:
    from ecgnas.classifier.final import FitResult, TestEvaluation
    from ecgnas.classifier.recipe import Setup
    from ecgnas.data.dataset import BeatSet
    from ecgnas.spaces.base import Arch

log = logging.getLogger(__name__)

SEED_RESULT_FILE: Final = "result.json"
PREDICTIONS_FILE: Final = "ds2_predictions.npz"
REPORT_SUFFIXES: Final = (".md", ".json", "_confusion.png", "_reliability.png")

SeedSummary = dict[str, Any]
"""One seed's ``result.json``: ``seed``, ``name``, ``ds1_val_macro_f1``, ``ds2_macro_f1``,
per-class DS2 ``ds2_f1``/``ds2_se``/``ds2_ppv``, ECE, temperature, epochs, seconds."""
Predictions = Mapping[str, np.ndarray]
"""Per DS2 beat: ``y`` and ``pred`` (class indices, int [n]) and ``record`` (str [n])."""


def seed_dir(out: str | os.PathLike[str], label: str, seed: int) -> Path:
    """``<out>/<label>/seed<seed>``: where one seed's bundle, reports and results live."""
    return Path(out) / label / f"seed{seed}"


def choose_seed(seeds: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The seed summary with the highest ``ds1_val_macro_f1`` (first of equals wins).

    DS2 numbers play no part. Raises ``RunError`` for an empty list.
    """
    if not seeds:
        raise RunError("no finished seed to choose from")
    return max(seeds, key=lambda x: x["ds1_val_macro_f1"])


def _macro_f1(y: np.ndarray, pred: np.ndarray, class_names: Sequence[str]) -> float:
    cm = confusion_matrix(y, pred, len(class_names))
    return metrics_from_confusion(cm, class_names).macro_f1


def bootstrap_difference(
    pairs: Sequence[tuple[Predictions, Predictions]],
    class_names: Sequence[str] = AAMI4,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """95 % interval of mean-over-pairs (macro-F1 A - macro-F1 B), resampling DS2 records.

    Each resample draws as many records as the first pair's A has, with replacement, from
    its sorted record names, and pools their beats in each model's predictions; the same
    draw is used for every pair. Returns the 2.5 and 97.5 percentiles of ``n_boot``
    resamples (numpy's default linear interpolation).
    """
    if not pairs:
        raise RunError("no seed pairs to bootstrap")
    rng = np.random.default_rng(seed)
    records = sorted(set(pairs[0][0]["record"].tolist()))
    index = [
        (
            {r: np.flatnonzero(a["record"] == r) for r in records},
            {r: np.flatnonzero(b["record"] == r) for r in records},
        )
        for a, b in pairs
    ]
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        chosen = rng.choice(records, size=len(records), replace=True)
        d = []
        for (a, b), (ia, ib) in zip(pairs, index, strict=True):
            sa = np.concatenate([ia[r] for r in chosen])
            sb = np.concatenate([ib[r] for r in chosen])
            d.append(
                _macro_f1(a["y"][sa], a["pred"][sa], class_names)
                - _macro_f1(b["y"][sb], b["pred"][sb], class_names)
            )
        diffs[i] = np.mean(d)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return float(lo), float(hi)


def _seed_summary(fit: FitResult, test: TestEvaluation, name: str, seconds: float) -> SeedSummary:
    import torch

    m, v = test.metrics4, fit.val_metrics
    return {
        "seed": fit.seed,
        "name": name,
        "ds1_val_macro_f1": v.macro_f1,
        "ds2_macro_f1": m.macro_f1,
        "ds2_f1": dict(zip(m.class_names, m.f1.tolist())),
        "ds2_se": dict(zip(m.class_names, m.se.tolist())),
        "ds2_ppv": dict(zip(m.class_names, m.ppv.tolist())),
        "ds2_jkappa": m.jkappa,
        "ds2_accuracy": m.accuracy,
        "ds2_ece_uncalibrated": test.reliability_uncalibrated.ece,
        "ds2_ece_calibrated": test.reliability_calibrated.ece,
        "temperature": fit.temperature,
        "best_epoch": fit.best_epoch,
        "epochs_run": fit.epochs_run,
        "train_seconds": fit.seconds,
        "seconds": seconds,
        "torch_threads": torch.get_num_threads(),
    }


def run_seed(
    label: str,
    arch: Arch,
    seed: int,
    out: str | os.PathLike[str],
    *,
    tuned_dir: str | os.PathLike[str],
    command: str,
    ds1: BeatSet | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> SeedSummary:
    """Train one seed with the tuned recipe, evaluate it once on DS2 and write everything.

    A seed whose ``result.json`` exists is read back instead (resume).
    """
    from ecgnas.classifier.final import evaluate_ds2, fit_final, write_final
    from ecgnas.classifier.tune import read_tuned
    from ecgnas.io import atomic_write_json

    directory = seed_dir(out, label, seed)
    result_file = directory / SEED_RESULT_FILE
    if result_file.is_file():
        return dict(json.loads(result_file.read_text(encoding="utf-8")))
    tuned = read_tuned(tuned_dir)
    t0 = time.perf_counter()
    fit = fit_final(
        arch,
        tuned.params,
        tuned.setup,
        seed,
        data_dir=data_dir,
        cache_dir=cache_dir,
        beats=ds1,
        tuned_from={"source": str(tuned.source), "best_value": tuned.best_value},
    )
    test = evaluate_ds2(fit, data_dir=data_dir, cache_dir=cache_dir)
    name = f"{label}_seed{seed}"
    write_final(
        fit,
        test,
        name=name,
        bundle_dir=directory / "bundle",
        report_dir=directory,
        command=f"{command}  # model {label}, seed {seed}",
    )
    beats = test.beats
    np.savez(directory / PREDICTIONS_FILE, y=beats["y"], pred=beats["pred"], record=beats["record"])
    summary = _seed_summary(fit, test, name, time.perf_counter() - t0)
    atomic_write_json(result_file, summary)
    log.info(
        "%s seed %d: DS1-val macro-F1 %.4f, DS2 macro-F1 %.4f",
        label,
        seed,
        summary["ds1_val_macro_f1"],
        summary["ds2_macro_f1"],
    )
    return summary


def run_model(
    label: str,
    arch: Arch,
    setup: Setup,
    out: str | os.PathLike[str],
    *,
    trials: int,
    seeds: Sequence[int],
    tune_seed: int = 0,
    command: str = "",
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Tune ``arch`` on DS1, then train and evaluate every seed (``run_seed``).

    Returns ``label``, ``arch``, ``arch_key``, ``tune`` (best value and params, trial
    counts, completed trials' seconds, this run's tuning seconds) and ``seeds`` (the
    summaries, in the order of ``seeds``).
    """
    from ecgnas.classifier.recipe import load_ds1, setup_for
    from ecgnas.classifier.tune import TUNE_FILE, tune

    ds1 = load_ds1(setup_for(arch, setup), data_dir, cache_dir)  # the arch's fs and window
    t0 = time.perf_counter()
    tune_dir = Path(out) / f"tune-{label}"
    tune(
        arch,
        trials,
        tune_dir,
        setup=setup,
        seed=tune_seed,
        data_dir=data_dir,
        cache_dir=cache_dir,
        beats=ds1,
    )
    tune_json = json.loads((tune_dir / TUNE_FILE).read_text(encoding="utf-8"))
    tune_seconds = time.perf_counter() - t0
    summaries = [
        run_seed(
            label,
            arch,
            seed,
            out,
            tuned_dir=tune_dir,
            command=command,
            ds1=ds1,
            data_dir=data_dir,
            cache_dir=cache_dir,
        )
        for seed in seeds
    ]
    return {
        "label": label,
        "arch": arch.to_json(),
        "arch_key": arch.key(),
        "tune": {
            "best_value": tune_json["best_value"],
            "best_params": tune_json["best_params"],
            "n_complete": tune_json["n_complete"],
            "n_pruned": tune_json["n_pruned"],
            "trial_seconds": [t["seconds"] for t in tune_json["trials"] if t["seconds"]],
            "seconds_this_run": tune_seconds,
        },
        "seeds": summaries,
    }


def publish_reports(
    out: str | os.PathLike[str],
    label: str,
    chosen: Mapping[str, Any],
    reports: str | os.PathLike[str],
) -> list[Path]:
    """Copy the chosen seed's ``final_<name>{.md,.json,_confusion.png,_reliability.png}``
    into ``reports`` and return the copies."""
    target = Path(reports)
    target.mkdir(parents=True, exist_ok=True)
    source = seed_dir(out, label, int(chosen["seed"]))
    copies = []
    for suffix in REPORT_SUFFIXES:
        file = f"final_{chosen['name']}{suffix}"
        shutil.copyfile(source / file, target / file)
        copies.append(target / file)
    return copies


def paired_comparison(
    out: str | os.PathLike[str],
    a: Sequence[Mapping[str, Any]],
    b: Sequence[Mapping[str, Any]],
    labels: tuple[str, str] = ("nas", "manual"),
    class_names: Sequence[str] = AAMI4,
) -> dict[str, Any]:
    """Model A against model B on the seeds both finished: ``seeds``, the per-seed
    ``paired_differences`` of DS2 macro-F1 (A - B), and ``bootstrap_ci_95`` over DS2
    records (``bootstrap_difference`` on the saved DS2 predictions)."""
    by_a = {int(x["seed"]): x for x in a}
    by_b = {int(x["seed"]): x for x in b}
    common = sorted(set(by_a) & set(by_b))
    diffs = [by_a[s]["ds2_macro_f1"] - by_b[s]["ds2_macro_f1"] for s in common]
    pairs = [
        (
            dict(np.load(seed_dir(out, labels[0], s) / PREDICTIONS_FILE)),
            dict(np.load(seed_dir(out, labels[1], s) / PREDICTIONS_FILE)),
        )
        for s in common
    ]
    ci = bootstrap_difference(pairs, class_names)
    return {"seeds": common, "paired_differences": diffs, "bootstrap_ci_95": ci}
