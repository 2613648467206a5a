"""Robustness of a classifier bundle on DS2: XQRS R peaks on perturbed leads.

Each DS2 record's raw MLII lead (millivolts, 360 Hz) is perturbed (noise, baseline wander,
mains hum, gain, inversion, resampling; seeded and deterministic per record and condition),
classified by ``Classifier.predict_record(signal=..., fs=..., rpeaks="detector")`` and the
detections are matched one-to-one (``ecgnas.data.beats.match_peaks``, 150 ms) to the
reference AAMI beats. Per condition: per-class Se, +P, F1 and macro-F1 pooled over all
matched beats whose reference class is one of the model's, the difference of macro-F1 to
``clean``, missed reference beats, unmatched detections and the wall time. The first row
is the reference-peak figure (``predict_record(path)`` with the annotated R peaks). Writes
``<out>/ecg_robustness.md`` and ``<out>/ecg_robustness.json``.

    python scripts/ecg_robustness.py --threads 1                        # all of DS2
    python scripts/ecg_robustness.py --records 100 --conditions clean,inverted,fs_250 \\
        --seconds 300 --out /tmp/robust
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TOLERANCE_S = 0.15
REFERENCE_ROW = "reference_peaks"


# --- perturbations (raw lead in mV; each returns the new lead and its sampling rate) --------


def signal_power(x: np.ndarray) -> float:
    """Power of the mean-removed lead, ``mean((x - mean(x))**2)`` in mV^2."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.mean((x - x.mean()) ** 2))


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` plus white Gaussian noise of power ``signal_power(x) / 10**(snr_db / 10)``."""
    sigma = np.sqrt(signal_power(x) / 10.0 ** (snr_db / 10.0))
    return x + rng.normal(0.0, sigma, size=x.shape)


WANDER_HZ = (0.15, 0.3, 0.5)
WANDER_MV = (0.5, 0.3, 0.2)
MAINS_HZ = 60.0
MAINS_MV = 0.2


def add_baseline_wander(x: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
    """``x + sum_k a_k sin(2 pi f_k t + phi_k)``, ``f = WANDER_HZ``, ``a = WANDER_MV``
    (peak at most 1 mV), ``phi_k`` uniform in ``[0, 2 pi)``, ``t = n / fs``."""
    t = np.arange(x.size) / fs
    phases = rng.uniform(0.0, 2 * np.pi, size=len(WANDER_HZ))
    wander = sum(a * np.sin(2 * np.pi * f * t + p) for f, a, p in zip(WANDER_HZ, WANDER_MV, phases))
    return x + wander


def add_mains_hum(x: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
    """``x + MAINS_MV sin(2 pi MAINS_HZ t + phi)``, ``phi`` uniform in ``[0, 2 pi)``."""
    t = np.arange(x.size) / fs
    return x + MAINS_MV * np.sin(2 * np.pi * MAINS_HZ * t + rng.uniform(0.0, 2 * np.pi))


def resample(x: np.ndarray, fs: float, new_fs: float) -> np.ndarray:
    """``scipy.signal.resample_poly`` from ``fs`` to ``new_fs`` (both whole numbers of Hz)."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    ratio = Fraction(int(round(new_fs)), int(round(fs)))
    return np.asarray(resample_poly(x, ratio.numerator, ratio.denominator), dtype=np.float64)


Perturb = Callable[[np.ndarray, float, np.random.Generator], tuple[np.ndarray, float]]


@dataclass(frozen=True)
class Condition:
    name: str
    definition: str
    apply: Perturb


def _noise(snr: float) -> Condition:
    return Condition(
        f"noise_{snr:g}db",
        f"additive white Gaussian noise, SNR {snr:g} dB: noise variance = P / 10^({snr:g}/10), "
        "P = power of the mean-removed raw lead of the record, mean((x - mean x)^2)",
        lambda x, fs, rng: (add_noise(x, snr, rng), fs),
    )


def _gain(g: float) -> Condition:
    return Condition(f"gain_{g:g}", f"the lead times {g:g}", lambda x, fs, rng: (g * x, fs))


def _rate(new_fs: float) -> Condition:
    return Condition(
        f"fs_{new_fs:g}",
        f"the lead resampled from 360 Hz to {new_fs:g} Hz (scipy.signal.resample_poly) and "
        f"classified at {new_fs:g} Hz (predict resamples to the bundle's rate and maps the "
        "R peaks back); reference annotations mapped to round(sample * "
        f"{new_fs:g} / 360), tolerance round(0.15 s * {new_fs:g} Hz) samples",
        lambda x, fs, rng: (resample(x, fs, new_fs), new_fs),
    )


WANDER_TEXT = " + ".join(
    f"{a:g} sin(2π·{f:g}·t + φ{i + 1})" for i, (f, a) in enumerate(zip(WANDER_HZ, WANDER_MV))
)
CONDITIONS: dict[str, Condition] = {
    c.name: c
    for c in (
        Condition("clean", "the raw lead as recorded", lambda x, fs, rng: (x, fs)),
        _noise(24),
        _noise(12),
        _noise(6),
        Condition(
            "baseline_wander",
            f"x + {WANDER_TEXT} (mV, t in s), phases φk uniform in [0, 2π) per record; "
            f"peak of the added wander at most {sum(WANDER_MV):g} mV",
            lambda x, fs, rng: (add_baseline_wander(x, fs, rng), fs),
        ),
        Condition(
            "mains_hum",
            f"x + {MAINS_MV:g} sin(2π·{MAINS_HZ:g}·t + φ) (mV; {MAINS_HZ:g} Hz mains, "
            "MIT-BIH is a US recording), φ uniform in [0, 2π) per record",
            lambda x, fs, rng: (add_mains_hum(x, fs, rng), fs),
        ),
        _gain(0.5),
        _gain(2),
        Condition("inverted", "the lead times -1", lambda x, fs, rng: (-x, fs)),
        _rate(250),
        _rate(500),
    )
}


def condition_rng(seed: int, record: str, condition: str) -> np.random.Generator:
    """The generator of one (record, condition): ``default_rng([seed, record, crc32(name)])``."""
    return np.random.default_rng([seed, int(record), zlib.crc32(condition.encode())])


def perturb(
    condition: str, x: np.ndarray, fs: float, seed: int, record: str
) -> tuple[np.ndarray, float]:
    """The perturbed lead and its sampling rate."""
    return CONDITIONS[condition].apply(
        np.asarray(x, dtype=np.float64), fs, condition_rng(seed, record, condition)
    )


# --- evaluation -----------------------------------------------------------------------------


@dataclass
class Tally:
    """Pooled beats of one condition over the records."""

    y: list[np.ndarray] = field(default_factory=list)
    pred: list[np.ndarray] = field(default_factory=list)
    missed: np.ndarray = field(default_factory=lambda: np.zeros(5, dtype=np.int64))
    detections: int = 0
    false_positives: int = 0
    seconds: float = 0.0
    per_record: dict[str, dict[str, Any]] = field(default_factory=dict)


def score_detections(
    sample: np.ndarray,
    predicted: np.ndarray,
    ref_sample: np.ndarray,
    ref_class: np.ndarray,
    classes: Sequence[str],
    tolerance: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Match detections to reference beats (AAMI index 0..4, same rate, sorted) one-to-one.

    Returns ``(y, pred, missed, false_positives)``: model-class index of the reference and
    the prediction of each matched beat whose reference class is one of ``classes``, missed
    reference beats per AAMI class (``int64 [5]``) and the unmatched detections.
    """
    from ecgnas.data.beats import match_peaks
    from ecgnas.data.labels import AAMI_CLASSES

    det_idx, ref_idx = match_peaks(sample, ref_sample, tolerance)
    to_model = np.array([classes.index(c) if c in classes else -1 for c in AAMI_CLASSES])
    y = to_model[ref_class[ref_idx]]
    keep = y >= 0
    matched = np.zeros(ref_sample.size, dtype=bool)
    matched[ref_idx] = True
    missed = np.bincount(ref_class[~matched], minlength=len(AAMI_CLASSES)).astype(np.int64)
    return y[keep], predicted[det_idx][keep], missed, int(sample.size - det_idx.size)


def _reference_beats(rec: Any, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    from ecgnas.data.labels import aami_indices

    cls = aami_indices(rec.ann_symbol).astype(np.int64)
    keep = cls >= 0
    if limit is not None:
        keep &= rec.ann_sample < limit
    return rec.ann_sample[keep].astype(np.int64), cls[keep]


def run_record(
    clf: Any,
    rec: Any,
    conditions: Sequence[str],
    seed: int,
    limit: int | None,
    tallies: dict[str, Tally],
) -> None:
    """Classify one record under each condition and add its beats to ``tallies``."""
    from ecgnas.train.metrics import classification_metrics

    lead = rec.signal if limit is None else rec.signal[:limit]
    ref_sample, ref_class = _reference_beats(rec, limit)
    for name in conditions:
        t0 = time.perf_counter()
        x, fs = perturb(name, lead, rec.fs, seed, rec.name)
        out = clf.predict_record(signal=x, fs=fs, rpeaks="detector")
        ref_at = np.rint(ref_sample * (fs / rec.fs)).astype(np.int64)
        y, pred, missed, fp = score_detections(
            out.sample,
            out.predicted,
            ref_at,
            ref_class,
            clf.classes,
            int(round(TOLERANCE_S * fs)),
        )
        tally = tallies[name]
        tally.seconds += time.perf_counter() - t0
        tally.y.append(y)
        tally.pred.append(pred)
        tally.missed += missed
        tally.detections += len(out)
        tally.false_positives += fp
        m = classification_metrics(y, pred, clf.classes)
        tally.per_record[rec.name] = {
            "detections": len(out),
            "matched": int(y.size),
            "missed": int(missed.sum()),
            "false_positives": fp,
            "macro_f1": None if np.isnan(m.macro_f1) else float(m.macro_f1),
        }


def run_reference(clf: Any, path: Path, record: str, limit: int | None, tally: Tally) -> None:
    """The annotated R peaks (``predict_record(path)``), beats before ``limit`` only."""
    t0 = time.perf_counter()
    out = clf.predict_record(path, rpeaks="reference")
    index = {c: i for i, c in enumerate(clf.classes)}
    y = np.array([index.get(r, -1) for r in out.reference.tolist()], dtype=np.int64)
    keep = y >= 0 if limit is None else (y >= 0) & (out.sample < limit)
    tally.seconds += time.perf_counter() - t0
    tally.y.append(y[keep])
    tally.pred.append(out.predicted[keep])
    tally.detections += int(keep.sum())
    tally.per_record[record] = {"matched": int(keep.sum()), "dropped_edge": out.dropped_edge}


def summarise(tally: Tally, classes: Sequence[str]) -> dict[str, Any]:
    from ecgnas.data.labels import AAMI_CLASSES
    from ecgnas.train.metrics import classification_metrics

    y = np.concatenate(tally.y) if tally.y else np.zeros(0, np.int64)
    pred = np.concatenate(tally.pred) if tally.pred else np.zeros(0, np.int64)
    metrics = classification_metrics(y, pred, classes).to_dict()
    return {
        "metrics": metrics,
        "matched": int(y.size),
        "detections": tally.detections,
        "missed": int(tally.missed.sum()),
        "missed_per_class": {c: int(n) for c, n in zip(AAMI_CLASSES, tally.missed)},
        "false_positives": tally.false_positives,
        "seconds": round(tally.seconds, 2),
        "per_record": tally.per_record,
    }


# --- report ---------------------------------------------------------------------------------


def _f(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _bundle_info(clf: Any) -> dict[str, Any]:
    weights = clf.path / "model.safetensors"
    path = Path(clf.path).resolve()
    try:  # the shipped bundle reads as its place in the package, not this machine's path
        shown = str(path.relative_to(Path(__file__).resolve().parents[1]))
    except ValueError:
        shown = str(path)
    return {
        "path": shown,
        "name": clf.name,
        "arch": clf.contract["arch"],
        "arch_key": str(clf.arch.key()),
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "contract_weights_sha256": clf.contract.get("weights_sha256"),
        "classes": list(clf.classes),
    }


def render(report: dict[str, Any]) -> str:
    b = report["bundle"]
    classes = b["classes"]
    rows = {name: report["results"][name] for name in report["conditions"]}  # JSON: key-sorted
    lines = [
        "# Robustness of the classifier on DS2: XQRS R peaks on perturbed leads",
        "",
        f"- Bundle: `{b['name']}` at `{b['path']}`, arch `{b['arch_key']}` "
        f"({json.dumps(b['arch'], sort_keys=True)}), weights SHA-256 `{b['weights_sha256']}`.",
        "- **These are DS2 test figures of a finished model.** DS2 was used for nothing else: "
        "no training, tuning, calibration or choice depends on this report.",
        f"- Command: `{report['command']}`",
        f"- Date {report['date']}; {report['machine']}; torch threads {report['threads']}; "
        f"seed {report['seed']}; records ({len(report['records'])}): "
        f"{' '.join(report['records'])}"
        + (
            f"; first {report['seconds_per_record']:g} s of each"
            if report["seconds_per_record"]
            else "; whole records"
        )
        + f"; total time {report['total_seconds']:.0f} s.",
        f"- Protocol: each condition perturbs the raw {report['lead']} lead (mV, 360 Hz) and "
        "classifies it with `predict_record(signal=..., fs=..., rpeaks='detector')` (XQRS R "
        "peaks found on the perturbed lead). A detection is matched one-to-one "
        f"(`match_peaks`) to a reference AAMI beat (N, S, V, F, Q) within "
        f"{TOLERANCE_S * 1000:g} ms. Metrics are pooled over all records on the matched beats "
        f"whose reference class is one of the model's ({', '.join(classes)}); macro-F1 "
        "averages the classes with reference beats. *Missed*: reference beats (any AAMI "
        "class, Q included) with no classified detection, beats in the first/last window "
        "that the classifier cannot cut included. *FP*: classified detections with no "
        "reference beat (not counted in the metrics). Δ: macro-F1 minus `clean`.",
        f"- `{REFERENCE_ROW}` (first row): `predict_record(path)`, the annotated R peaks, "
        "no perturbation; all its beats are matched by construction (beats whose window falls "
        "off the record are dropped).",
        "",
        "| condition | macro-F1 | Δ vs clean | "
        + " | ".join(f"F1 {c}" for c in classes)
        + " | matched | missed | FP | time s |",
        "|---|---:|---:|" + "---:|" * len(classes) + "---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        m = row["metrics"]
        f1 = [_f(m["per_class"][c]["f1"]) for c in classes]
        delta = row.get("delta_macro_f1")
        lines.append(
            f"| {name} | {_f(m['macro_f1'])} | "
            f"{'–' if delta is None else f'{delta:+.3f}'} | {' | '.join(f1)} | "
            f"{row['matched']} | {row['missed']} | {row['false_positives']} | "
            f"{row['seconds']:.0f} |"
        )
    lines += [
        "",
        "Sensitivity (Se) and positive predictivity (+P) per class:",
        "",
        "| condition | "
        + " | ".join(f"Se {c} | +P {c}" for c in classes)
        + " | support "
        + "/".join(classes)
        + " |",
        "|---|" + "---:|---:|" * len(classes) + "---|",
    ]
    for name, row in rows.items():
        pc = row["metrics"]["per_class"]
        cells = [f"{_f(pc[c]['se'])} | {_f(pc[c]['ppv'])}" for c in classes]
        support = "/".join(str(pc[c]["support"]) for c in classes)
        lines.append(f"| {name} | {' | '.join(cells)} | {support} |")
    lines += ["", "## Perturbations", ""]
    lines += [f"- `{k}`: {v}" for k, v in report["definitions"].items()]
    lines += [
        "",
        "Noise, wander and hum are drawn from `numpy.random.default_rng([seed, record, "
        "crc32(condition)])`, so every run with the same seed adds the same perturbation.",
        "",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from ecgnas.data.splits import DS2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=None, help="bundle directory (default: shipped)")
    parser.add_argument(
        "--records", nargs="+", default=list(DS2), help="DS2 records (default: all 22)"
    )
    parser.add_argument(
        "--conditions",
        default="all",
        help=f"comma-separated, or all (default): {','.join(CONDITIONS)}",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="reports")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("ECGNAS_DATA_DIR", str(REPO.parent / "shared" / "data")),
        help="default: $ECGNAS_DATA_DIR, else ../shared/data next to the repository",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="use only the first SECONDS of each record (small runs; default: whole records)",
    )
    return parser


def _parse_lists(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    from ecgnas.data.splits import DS2
    from ecgnas.errors import ConfigError

    records = [r for item in args.records for r in item.split(",") if r]
    outside = [r for r in records if r not in DS2]
    if outside:
        raise ConfigError(f"not DS2 record(s): {', '.join(outside)}")
    wanted = {c.strip() for c in args.conditions.split(",") if c.strip()}
    if wanted == {"all"}:
        return records, list(CONDITIONS)
    unknown = sorted(wanted - set(CONDITIONS))
    if unknown:
        raise ConfigError(
            f"unknown condition(s) {', '.join(unknown)} (known: all, {', '.join(CONDITIONS)})"
        )
    return records, [c for c in CONDITIONS if c in wanted]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    records, conditions = _parse_lists(args)

    import torch

    from ecgnas.classifier import load_classifier
    from ecgnas.data.mitbih import mitdb_dir, read_record
    from ecgnas.data.splits import DS2
    from ecgnas.io import atomic_write_json, atomic_write_text

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    clf = load_classifier(args.bundle)
    tallies = {name: Tally() for name in [REFERENCE_ROW, *conditions]}
    for record in records:
        t0 = time.perf_counter()
        rec = read_record(record, args.data_dir, lead=clf.lead, allowed=DS2)
        limit = None if args.seconds is None else int(round(args.seconds * rec.fs))
        run_reference(clf, mitdb_dir(args.data_dir) / record, record, limit, tallies[REFERENCE_ROW])
        run_record(clf, rec, conditions, args.seed, limit, tallies)
        print(f"{record}: {time.perf_counter() - t0:.1f} s", flush=True)
    results = {name: summarise(t, clf.classes) for name, t in tallies.items()}
    clean = results.get("clean", {}).get("metrics", {}).get("macro_f1")
    for name, row in results.items():
        mf1 = row["metrics"]["macro_f1"]
        row["rpeaks"] = "reference" if name == REFERENCE_ROW else "detector"
        row["delta_macro_f1"] = None if clean is None or mf1 is None else mf1 - clean
    argv_used = sys.argv[1:] if argv is None else list(argv)
    report = {
        "bundle": _bundle_info(clf),
        "split": "DS2",
        "note": "DS2 test figures of a finished model; DS2 used for nothing else",
        "command": shlex.join(["python", "scripts/ecg_robustness.py", *argv_used]),
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s)",
        "threads": args.threads,
        "seed": args.seed,
        "records": records,
        "seconds_per_record": args.seconds,
        "lead": clf.lead,
        "tolerance_s": TOLERANCE_S,
        "conditions": [REFERENCE_ROW, *conditions],
        "definitions": {name: CONDITIONS[name].definition for name in conditions},
        "results": results,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    out = Path(args.out)
    atomic_write_json(out / "ecg_robustness.json", report)
    atomic_write_text(out / "ecg_robustness.md", render(report))
    print(f"wrote {out / 'ecg_robustness.md'} and .json")
    return report


if __name__ == "__main__":
    main()
