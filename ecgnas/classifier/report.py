"""The final model's reports: ``final_<name>.{md,json}``, its two figures and the model card.

Every number is labelled DS1-validation (held-out DS1 records: early stopping, temperature)
or DS2-test (classified once, after training). Figures and files are written atomically.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ecgnas.io import atomic_path
from ecgnas.spaces.base import Arch

if TYPE_CHECKING:
    from ecgnas.classifier.calibration import Reliability
    from ecgnas.classifier.final import FitResult, TestEvaluation
    from ecgnas.data.inputs import InputConfig
    from ecgnas.train.metrics import ClassMetrics

ECE_BINS: Final = 15
WEAK_F1: Final = 0.2
"""A class whose DS2 F1 is below this gets its own limitation line in the model card."""

DS1_CV_NOTE: Final = (
    "DS1-validation (cross-validation): pooled out-of-fold predictions, each DS1 beat scored "
    "by the ensemble member that did not train on its record (not a test set)"
)
DS1_VAL_NOTE: Final = (
    "DS1-validation: held-out DS1 records used for early stopping and temperature fitting "
    "(not a test set)"
)
DS2_NOTE: Final = "DS2-test: de Chazal's 22 test records, evaluated once after training"


def _f(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.{digits}f}"


def class_table(m: ClassMetrics) -> list[str]:
    """Markdown rows: per-class Se, +P, F1, support."""
    lines = ["| class | Se | +P | F1 | support |", "|---|---:|---:|---:|---:|"]
    for i, c in enumerate(m.class_names):
        lines.append(
            f"| {c} | {_f(m.se[i])} | {_f(m.ppv[i])} | {_f(m.f1[i])} | {int(m.support[i]):,} |"
        )
    return lines


def confusion_table(cm: np.ndarray, names: tuple[str, ...], normalised: bool) -> list[str]:
    """Markdown confusion matrix (rows reference, columns predicted)."""
    head = "| ref \\ pred | " + " | ".join(names) + " |"
    lines = [head, "|---|" + "---:|" * len(names)]
    for i, c in enumerate(names):
        row = cm[i]
        if normalised:
            total = row.sum()
            cells = [_f(v / total) if total else "n/a" for v in row]
        else:
            cells = [f"{int(v):,}" for v in row]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return lines


def summary_line(m: ClassMetrics) -> str:
    f1 = ", ".join(f"{c} {_f(m.f1[i])}" for i, c in enumerate(m.class_names))
    return f"macro-F1 {_f(m.macro_f1)} (F1: {f1}), j-kappa {_f(m.jkappa)}"


def plot_confusion(cm: np.ndarray, names: tuple[str, ...], title: str, path: Path) -> None:
    """Two panels (counts, row-normalised) as a PNG, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    for ax, data, label in ((axes[0], cm, "counts"), (axes[1], norm, "row-normalised (Se)")):
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(names)):
            for j in range(len(names)):
                text = f"{int(data[i, j]):,}" if data is cm else f"{data[i, j]:.2f}"
                ax.text(j, i, text, ha="center", va="center", color="black", fontsize=9)
        ax.set_xticks(range(len(names)), names)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("reference")
        ax.set_title(label)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def plot_reliability(uncal: Reliability, cal: Reliability, title: str, path: Path) -> None:
    """Reliability diagram (accuracy vs confidence) before and after scaling, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, hist) = plt.subplots(
        2, 1, figsize=(5.5, 6.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for rel, label, marker in (
        (uncal, f"uncalibrated (ECE {uncal.ece:.3f})", "o"),
        (cal, f"temperature-scaled (ECE {cal.ece:.3f})", "s"),
    ):
        ok = rel.count > 0
        ax.plot(rel.confidence[ok], rel.accuracy[ok], marker=marker, label=label)
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=10)
    centres = (cal.edges[:-1] + cal.edges[1:]) / 2
    hist.bar(centres, cal.count, width=cal.edges[1] - cal.edges[0], color="tab:orange")
    hist.set_yscale("log")
    hist.set_xlabel("confidence (top-class probability, temperature-scaled)")
    hist.set_ylabel("beats")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def training_json(fit: FitResult) -> dict[str, Any]:
    """The ``training`` section of the contract and report."""
    import torch

    return {
        "hyperparams": fit.hyperparams.to_json(),
        "setup": fit.setup.to_json(),
        "seed": fit.seed,
        "train_records": list(fit.split.train),
        "val_records": list(fit.split.val),
        "train_beats_per_class": dict(zip(fit.setup.classes, fit.train_counts)),
        "val_beats_per_class": dict(zip(fit.setup.classes, fit.val_counts)),
        "best_epoch": fit.best_epoch,
        "epochs_run": fit.epochs_run,
        "seconds": round(fit.seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "tuned_from": fit.tuned_from,
    }


def report_json(fit: FitResult, test: TestEvaluation, name: str, command: str) -> dict[str, Any]:
    """Everything in ``final_<name>.json``."""
    from ecgnas.classifier.bundle import package_versions

    return {
        "name": name,
        "command": command,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "arch": fit.arch.to_json(),
        "arch_key": fit.arch.key(),
        "model_settings": fit.settings,
        "temperature": fit.temperature,
        "training": training_json(fit),
        "ds1_validation": {
            "what": DS1_CV_NOTE if fit.ensemble is not None else DS1_VAL_NOTE,
            "four_class": fit.val_metrics.to_dict(),
            "calibration": fit.val_calibration,
        },
        "ds2_test": test.to_json(),
        "versions": package_versions(),
    }


def render_report(fit: FitResult, test: TestEvaluation, name: str, command: str) -> str:
    """The markdown report ``final_<name>.md``."""
    lines = [
        *_report_header(fit, name, command),
        *_ds2_sections(test, name),
        *_per_record_section(test),
        *_calibration_section(fit, test, name),
        (
            "## DS1 cross-validation (pooled out-of-fold, not a test)"
            if fit.ensemble is not None
            else "## DS1-validation (early stopping set, not a test)"
        ),
        "",
        f"DS1-validation {summary_line(fit.val_metrics)}.",
        "",
        *class_table(fit.val_metrics),
        "",
    ]
    return "\n".join(lines)


def _training_line(fit: FitResult) -> str:
    if fit.ensemble is not None:
        folds = "; ".join(",".join(v) for v in fit.ensemble["fold_val_records"])
        temps = ", ".join(f"{t:.2f}" for t in fit.ensemble["temperatures"])
        return (
            f"- Training: an ensemble of {fit.ensemble['members']} models, one per record-wise "
            f"DS1 fold (held-out records per fold: {folds}); each trained "
            f"{fit.epochs_run} epochs on the other folds ({sum(fit.train_counts):,} DS1 beats "
            f"in all, N subsampled to {fit.setup.max_majority} per epoch) and calibrated on "
            f"its held-out records (T = {temps}); DS1 figures below are pooled out-of-fold; "
            f"{fit.seconds:.0f} s on CPU."
        )
    return (
        f"- Training: DS1 records {', '.join(fit.split.train)} "
        f"({sum(fit.train_counts):,} beats, N subsampled to {fit.setup.max_majority} per "
        f"epoch); early stopping and temperature on held-out DS1 records "
        f"{', '.join(fit.split.val)} ({sum(fit.val_counts):,} beats); best epoch "
        f"{fit.best_epoch} of {fit.epochs_run} run; {fit.seconds:.0f} s on CPU."
    )


def _report_header(fit: FitResult, name: str, command: str) -> list[str]:
    hp = fit.hyperparams
    return [
        f"# Final classifier `{name}`: DS1 training, one DS2 evaluation",
        "",
        f"- Arch: `{fit.arch.key()}`; seed {fit.seed}; temperature T = {fit.temperature:.3f}",
        f"- Command: `{command}`",
        f"- Hyperparameters: {', '.join(f'{k}={v}' for k, v in hp.to_json().items())}"
        + (
            f" (tuned: {fit.tuned_from.get('source')}, DS1-validation objective "
            f"{_f(fit.tuned_from.get('best_value'), 4)})"
            if fit.tuned_from
            else " (defaults, not tuned)"
        ),
        _training_line(fit),
        "- No DS2 beat influenced training, early stopping, tuning or calibration; DS2 was "
        "classified once, after training.",
        "",
    ]


def _ds2_sections(test: TestEvaluation, name: str) -> list[str]:
    m4, m5 = test.metrics4, test.metrics5
    return [
        "## DS2-test (4 classes: N, S, V, F)",
        "",
        f"**DS2-test {summary_line(m4)}**, accuracy {_f(m4.accuracy)}, kappa {_f(m4.kappa)}.",
        "",
        *class_table(m4),
        "",
        "Confusion matrix, DS2-test, counts (rows: reference; columns: predicted):",
        "",
        *confusion_table(m4.confusion, m4.class_names, normalised=False),
        "",
        "Row-normalised (each row sums to 1; the diagonal is Se):",
        "",
        *confusion_table(m4.confusion, m4.class_names, normalised=True),
        "",
        f"![DS2 confusion matrix](final_{name}_confusion.png)",
        "",
        "## DS2-test (5 classes: Q reference beats counted)",
        "",
        "The model has four outputs and never predicts Q, so the "
        f"{int(m5.support[-1])} reference Q beats of DS2 are all errors here.",
        "",
        f"DS2-test 5-class macro-F1 {_f(m5.macro_f1)} (over classes with support: "
        f"{', '.join(m5.macro_classes)}), j-kappa {_f(m5.jkappa)}.",
        "",
        *class_table(m5),
        "",
        *confusion_table(m5.confusion, m5.class_names, normalised=False),
        "",
    ]


def _per_record_section(test: TestEvaluation) -> list[str]:
    lines = [
        "## DS2-test per record (4 classes)",
        "",
        "| record | beats | N | S | V | F | Se S | +P S | Se V | +P V | macro-F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rec, m in test.per_record.items():
        s, v = m.class_names.index("S"), m.class_names.index("V")
        sup = " | ".join(str(int(x)) for x in m.support)
        lines.append(
            f"| {rec} | {int(m.support.sum()):,} | {sup} | {_f(m.se[s])} | {_f(m.ppv[s])} | "
            f"{_f(m.se[v])} | {_f(m.ppv[v])} | {_f(m.macro_f1)} |"
        )
    lines += [
        "",
        "n/a: no reference beats of the class in the record (Se) or none predicted (+P); the "
        "per-record macro-F1 averages the classes present in the record.",
        "",
    ]
    return lines


def _calibration_section(fit: FitResult, test: TestEvaluation, name: str) -> list[str]:
    vc = fit.val_calibration
    return [
        "## Calibration",
        "",
        f"Temperature T = {fit.temperature:.3f}, fitted by L-BFGS on the NLL of the DS1-validation "
        "records (the same records as early stopping). ECE uses 15 equal-width confidence bins.",
        "",
        "| set | NLL before | NLL after | ECE before | ECE after |",
        "|---|---:|---:|---:|---:|",
        f"| DS1-validation (fit set) | {_f(vc.get('nll_uncalibrated'))} | "
        f"{_f(vc.get('nll_calibrated'))} | {_f(vc.get('ece_uncalibrated'))} | "
        f"{_f(vc.get('ece_calibrated'))} |",
        f"| DS2-test | {_f(test.nll_uncalibrated)} | {_f(test.nll_calibrated)} | "
        f"{_f(test.reliability_uncalibrated.ece)} | {_f(test.reliability_calibrated.ece)} |",
        "",
        f"![DS2 reliability diagram](final_{name}_reliability.png)",
        "",
    ]


MODEL_CARD = """# Model card: ecgnas beat classifier `{name}`

## What it is

A 1-D convolutional network that classifies single heartbeats of one ECG lead (MLII) into
the AAMI EC57 classes N (normal and bundle-branch block), S (supraventricular ectopic),
V (ventricular ectopic) and F (fusion). Inputs: a {window}-sample window around each R peak
at {fs:g} Hz ({before} samples before, {after} after) of the {filters}, per-record
z-scored signal, {inputs}. Outputs: {outputs}. Arch `{arch}` ({arch_note}); {params:,}
parameters.

## Intended use

Research on ECG beat classification and neural architecture search: benchmarking,
teaching, pre-annotation to be reviewed by a person. **It is not a medical device**: it has
not been validated clinically and must not be used to diagnose, monitor or treat anyone.

## Training data

MIT-BIH Arrhythmia Database (PhysioNet `mitdb`): 48 half-hour two-lead Holter recordings
of 47 subjects, recorded 1975-79 at Beth Israel Hospital, Boston, at 360 Hz. The model saw
only DS1 (de Chazal et al. 2004: 22 records), and only lead MLII: {data}
Paced records (102, 104, 107, 217) are excluded.

## Protocol

Inter-patient: trained and tuned on DS1, tested once on DS2 (22 other records). The
training hyperparameters were {tuning}. {selection} No DS2 beat influenced training, model
selection, tuning or calibration.

## Results on DS2 (test, 4 classes, {n_beats:,} beats)

| class | Se | +P | F1 | support |
|---|---:|---:|---:|---:|
{class_rows}

Macro-F1 {macro_f1}, j-kappa {jkappa}, accuracy {accuracy}; ECE {ece_before} before and
{ece_after} after temperature scaling. Reference positions and labels come from the
annotations (reference R peaks); with the XQRS detector, missed and extra detections add
errors. Full report: `reports/final_{name}.md`.

## Limitations

- **Paced rhythms**: no paced beats in training; the model has no Q output and will assign
  paced or unclassifiable beats to N, S, V or F.
- **Leads other than MLII** and **other sampling rates**: trained on MLII resampled to
  {fs:g} Hz. Other rates are resampled to {fs:g} Hz, and other leads can be forced, but
  neither was validated; morphology differs by lead.
- **Records 201 and 202 are the same subject** and fall on both sides of the DS1/DS2 split
  (201 in DS1, 202 in DS2), a small patient overlap in the standard protocol.
- **Small, old, single-centre data**: 47 subjects, 1975-79 analog Holter tapes; S and F
  beats come from few patients, so their scores vary strongly between records and seeds.
- Windows are per-record z-scored: very short recordings or recordings dominated by
  artefacts change the normalisation.
- The RR features assume a complete beat sequence; a detector that misses beats distorts them.
{weak_classes}"""

_ARCH_NOTES = {
    "ecg1d": "a cell of the ecg1d search space",
    "manual": "the manual baseline CNN of Acharya et al. 2017",
    "tiny": "a tiny matched-filter CNN after Farag 2023 (the team's reading of the paper)",
}


def render_model_card(fit: FitResult, test: TestEvaluation, name: str) -> str:
    """``MODEL_CARD.md`` for a bundle (filled from the fit and the DS2 results)."""
    from ecgnas.classifier.final import contract_for
    from ecgnas.spaces.ecg1d_model import count_params

    return model_card_from_contract(contract_for(fit, test, name), count_params(fit.build_model()))


def _inputs_text(inputs: InputConfig) -> str:
    parts = []
    if inputs.rr_features in ("basic", "both"):
        parts.append("six RR-interval features (ratios to the recording's mean RR)")
    if inputs.rr_features in ("rhythm", "both"):
        causal = "causal" if inputs.rr_causal else "centred"
        parts.append(
            "eight rhythm features (pre- and post-RR, each over the patient's "
            f"{causal} running RR averages of {inputs.rr_horizons[0]} and "
            f"{inputs.rr_horizons[1]} beats, next/current RR)"
        )
    if inputs.morphology:
        parts.append("QRS width, correlation with and amplitude over the running mean beat")
    if inputs.derivative:
        parts.append(
            "a first-derivative channel" + ("" if inputs.raw else " instead of the window")
        )
    if inputs.context_beats:
        parts.append(f"the {inputs.context_beats} neighbouring beat(s) on each side as channels")
    if inputs.polarity == "canonical":
        parts.append(
            "the lead's polarity canonicalised per recording (a reversed lead reads the same)"
        )
    return "; ".join(parts)


def model_card_from_contract(contract: dict[str, Any], params: int) -> str:
    """``MODEL_CARD.md`` from a bundle contract (``contract_for``'s fields) and the model's
    parameter count; so any bundle's card can be rendered again from its contract."""
    from ecgnas.classifier.bundle import contract_inputs
    from ecgnas.data.preprocess import PreprocessConfig
    from ecgnas.train.metrics import metrics_from_confusion

    pre = PreprocessConfig.from_json(contract["preprocessing"]["config"])
    inputs = contract_inputs(contract)
    ds2 = contract["metrics"]["ds2_test"]
    names = contract["class_names"]
    m = metrics_from_confusion(np.asarray(ds2["four_class"]["confusion"]), names)
    rows = "\n".join(
        f"| {c} | {_f(m.se[i])} | {_f(m.ppv[i])} | {_f(m.f1[i])} | {int(m.support[i]):,} |"
        for i, c in enumerate(m.class_names)
    )
    training = contract["training"]
    ensemble = contract.get("ensemble")
    space = contract["arch"]["space"]
    arch_note = _ARCH_NOTES.get(space, f"a model of the {space} space")
    tuned = training.get("tuned_from")
    tuning = (
        f"tuned with Optuna on DS1 only (objective {_f(tuned.get('best_value'), 4)})"
        if tuned
        else "the recipe's defaults (not tuned)"
    )
    if ensemble is not None:
        arch_note += f", as an ensemble of {ensemble['members']} DS1 cross-validation folds"
        folds = "; ".join(", ".join(v) for v in ensemble["fold_val_records"])
        data = (
            f"all 22 DS1 records, in {ensemble['members']} record-wise folds (held-out "
            f"records per fold: {folds}); each member trained on the other folds."
        )
        selection = (
            "Each member trained a fixed number of epochs and its temperature was fitted by "
            "NLL on its held-out DS1 records; the output averages the members' calibrated "
            "probabilities."
        )
        outputs = "the average of the members' temperature-scaled probabilities"
    else:
        data = (
            f"training records {', '.join(training['train_records'])}; held-out DS1 records "
            f"{', '.join(training['val_records'])} for early stopping and the temperature."
        )
        selection = (
            "Early stopping on DS1-validation macro-F1; temperature fitted by NLL on the "
            "same DS1 records."
        )
        outputs = f"temperature-scaled probabilities (T = {float(contract['temperature']):.3f})"
    weak = [
        f"- **Class {c} is not reliably detected** on DS2 (F1 {_f(m.f1[i])}, Se {_f(m.se[i])}, "
        f"+P {_f(m.ppv[i])}): do not rely on its {c} outputs.\n"
        for i, c in enumerate(m.class_names)
        if not (m.f1[i] >= WEAK_F1)
    ]
    filters = "baseline-corrected" + (
        f", {pre.bandpass_hz[0]:g}-{pre.bandpass_hz[1]:g} Hz band-passed" if pre.bandpass else ""
    )
    return MODEL_CARD.format(
        weak_classes="".join(weak),
        name=contract["name"],
        window=pre.window,
        fs=pre.fs,
        before=pre.window_before,
        after=pre.window_after,
        filters=filters,
        inputs=_inputs_text(inputs),
        outputs=outputs,
        arch=Arch.from_json(contract["arch"]).key(),
        arch_note=arch_note,
        params=params,
        data=data,
        tuning=tuning,
        selection=selection,
        n_beats=int(m.support.sum()),
        class_rows=rows,
        macro_f1=_f(m.macro_f1),
        jkappa=_f(m.jkappa),
        accuracy=_f(m.accuracy),
        ece_before=_f(ds2["ece_uncalibrated"]),
        ece_after=_f(ds2["ece_calibrated"]),
    )
