"""The ECG recipe ablation: each choice's effect on DS1 cross-validation (pooled out-of-fold
per-class F1), over several training seeds. Reads DS1 only.

    python scripts/ecg_recipe.py --seeds 3 --threads 1            # every variant
    python scripts/ecg_recipe.py --variants base,rhythm --seeds 1 --folds 2 --epochs 1

Each (variant, seed) is one ``ecgnas.classifier.cv.cross_validate`` run; results are
appended to ``<out>/ecg_recipe_runs.jsonl`` as they finish, so an interrupted run resumes
where it stopped (finished pairs are skipped). ``<out>/ecg_recipe.{md,json}`` are rendered
from all finished runs. The variants are defined in ``VARIANTS`` below: each is the base
recipe with the named changes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ecgnas.classifier.cv import cross_validate
from ecgnas.classifier.recipe import Hyperparams, Setup
from ecgnas.data.inputs import InputConfig
from ecgnas.data.preprocess import PreprocessConfig
from ecgnas.train.models import parse_arch

LOW_FS = PreprocessConfig(fs=128.0, window_before=32, window_after=64)
"""128 Hz, a 0.25 s + 0.5 s window (96 samples)."""
RHYTHM = InputConfig(rr_features="rhythm")

BASE_SETUP = Setup(preprocess=LOW_FS, inputs=RHYTHM, cv="kfold", folds=5)
BASE_HP = Hyperparams(epochs=8, batch_size=128, lr=3e-3, class_weight_power=0.5)

# name -> (description, setup changes, input changes, hyperparameter changes)
VARIANTS: dict[str, tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "base": ("rhythm RR features, 128 Hz, raw window", {}, {}, {}),
    "old_rr": (
        "RR ratios to the record's mean RR (the shipped recipe's)",
        {},
        {"rr_features": "basic"},
        {},
    ),
    "both_rr": ("both RR sets", {}, {"rr_features": "both"}, {}),
    "centred_rr": ("centred running averages", {}, {"rr_causal": False}, {}),
    "derivative": ("+ first-derivative channel", {}, {"derivative": True}, {}),
    "derivative_only": (
        "derivative channel instead of the raw window",
        {},
        {"raw": False, "derivative": True},
        {},
    ),
    "morphology": ("+ QRS width, template correlation, amplitude", {}, {"morphology": True}, {}),
    "context": ("+ the neighbouring beats as channels", {}, {"context_beats": 1}, {}),
    "canonical": ("lead polarity canonicalised per record", {}, {"polarity": "canonical"}, {}),
    "fs360": ("360 Hz (the recorded rate)", {"preprocess": PreprocessConfig()}, {}, {}),
    "weight0": ("no class weights (power 0)", {}, {}, {"class_weight_power": 0.0}),
    "weight1": (
        "full inverse-frequency class weights (power 1)",
        {},
        {},
        {"class_weight_power": 1.0},
    ),
    "focal": ("focal loss (gamma 2, weights power 0.5)", {}, {}, {"loss": "focal"}),
    "all_n": ("every N beat each epoch (no subsampling)", {"max_majority": None}, {}, {}),
    "augment": ("amplitude/offset/noise augmentation 0.5", {}, {}, {"augment": 0.5}),
    "adversarial": (
        "record discriminator behind gradient reversal (weight 0.3)",
        {},
        {},
        {"adversarial": 0.3},
    ),
}


def variant_recipe(name: str, epochs: int | None, folds: int) -> tuple[Setup, Hyperparams]:
    _, setup_changes, input_changes, hp_changes = VARIANTS[name]
    setup = replace(BASE_SETUP, folds=folds, **setup_changes)
    setup = replace(setup, inputs=replace(setup.inputs, **input_changes))
    hp = replace(BASE_HP, **hp_changes)
    if epochs is not None:
        hp = replace(hp, epochs=epochs)
    return setup, hp


def _done(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs_file = out / "ecg_recipe_runs.jsonl"
    rows = _done(runs_file)
    key = (args.arch, args.folds, args.epochs)
    have = {
        (r["variant"], r["seed"]) for r in rows if (r["arch"], r["folds"], r["epochs_arg"]) == key
    }
    arch = parse_arch(args.arch)
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for name in args.variants:
            if (name, seed) in have:
                continue
            setup, hp = variant_recipe(name, args.epochs, args.folds)
            t0 = time.perf_counter()
            cv = cross_validate(
                arch, hp, setup, seed, data_dir=args.data_dir, cache_dir=args.cache_dir
            )
            row = {
                "variant": name,
                "seed": seed,
                "arch": args.arch,
                "folds": args.folds,
                "epochs_arg": args.epochs,
                "f1": cv.per_class_f1(),
                "macro_f1": cv.score,
                "se": dict(zip(cv.metrics.class_names, cv.metrics.se.tolist())),
                "ppv": dict(zip(cv.metrics.class_names, cv.metrics.ppv.tolist())),
                "seconds": time.perf_counter() - t0,
                "setup": setup.to_json(),
                "hyperparams": hp.to_json(),
            }
            with runs_file.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            rows.append(row)
            print(
                f"{name:16s} seed {seed}: macro-F1 {cv.score:.3f} "
                + " ".join(f"{c} {v:.3f}" for c, v in row["f1"].items())
                + f" ({row['seconds']:.0f} s)",
                flush=True,
            )
    return [r for r in rows if (r["arch"], r["folds"], r["epochs_arg"]) == key]


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["variant"], []).append(r)
    out: dict[str, Any] = {}
    for name, rs in by.items():

        def stat(values: list[float]) -> dict[str, float]:
            a = np.asarray(values, dtype=float)
            return {"mean": float(np.nanmean(a)), "std": float(np.nanstd(a)), "n": int(a.size)}

        out[name] = {
            "description": VARIANTS[name][0] if name in VARIANTS else "",
            "seeds": sorted(r["seed"] for r in rs),
            "macro_f1": stat([r["macro_f1"] for r in rs]),
            **{f"{c}_f1": stat([r["f1"][c] for r in rs]) for c in ("N", "S", "V", "F")},
            "S_se": stat([r["se"]["S"] for r in rs]),
            "S_ppv": stat([r["ppv"]["S"] for r in rs]),
            "seconds": stat([r["seconds"] for r in rs]),
        }
    return out


def render(summary: dict[str, Any], args: argparse.Namespace) -> str:
    base = summary.get("base")
    lines = [
        "# ECG recipe ablation (DS1 cross-validation only)",
        "",
        f"Record-wise {args.folds}-fold cross-validation over the 22 DS1 records: every beat is "
        "predicted once by the model that did not train on its record, and per-class F1 is "
        "pooled over all DS1 beats. No DS2 record is read. Each variant is the base recipe "
        "with one change; mean ± std over training seeds.",
        "",
        f"- Base recipe: arch `{args.arch}`, {json.dumps(BASE_SETUP.inputs.to_json())}, "
        f"{BASE_SETUP.preprocess.fs:g} Hz window {BASE_SETUP.preprocess.window}, "
        f"hyperparameters {json.dumps(BASE_HP.to_json())}"
        + (f", epochs overridden to {args.epochs}" if args.epochs else "")
        + f", N subsampled to {BASE_SETUP.max_majority} per epoch.",
        f"- Command: `python scripts/ecg_recipe.py {' '.join(sys.argv[1:])}`",
        "",
        "| variant | change | seeds | macro-F1 | S F1 | V F1 | F F1 | S Se | S +P | Δ macro | Δ S | s/run |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def ms(d: dict[str, float]) -> str:
        return f"{d['mean']:.3f} ± {d['std']:.3f}"

    for name, s in sorted(summary.items(), key=lambda kv: -kv[1]["macro_f1"]["mean"]):
        dm = ds = ""
        if base is not None and name != "base":
            dm = f"{s['macro_f1']['mean'] - base['macro_f1']['mean']:+.3f}"
            ds = f"{s['S_f1']['mean'] - base['S_f1']['mean']:+.3f}"
        lines.append(
            f"| {name} | {s['description']} | {len(s['seeds'])} | {ms(s['macro_f1'])} | "
            f"{ms(s['S_f1'])} | {ms(s['V_f1'])} | {ms(s['F_f1'])} | {s['S_se']['mean']:.3f} | "
            f"{s['S_ppv']['mean']:.3f} | {dm} | {ds} | {s['seconds']['mean']:.0f} |"
        )
    lines += ["", "Accuracies here are DS1 cross-validation (validation), never DS2 (test).", ""]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated VARIANTS names")
    p.add_argument("--arch", default="manual", help="arch (ecg1d:..., manual, tiny)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=None, help="override every variant's epochs")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="reports")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--cache-dir", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        print(
            f"error: unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}",
            file=sys.stderr,
        )
        return 2
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    rows = run(args)
    summary = summarise(rows)
    out = Path(args.out)
    from ecgnas.io import atomic_write_json, atomic_write_text

    atomic_write_json(
        out / "ecg_recipe.json",
        {
            "base_setup": BASE_SETUP.to_json(),
            "base_hyperparams": BASE_HP.to_json(),
            "arch": args.arch,
            "folds": args.folds,
            "variants": summary,
        },
    )
    atomic_write_text(out / "ecg_recipe.md", render(summary, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
