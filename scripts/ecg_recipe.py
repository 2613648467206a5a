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
from ecgnas.classifier.recipes import LOW_FS, RECIPES
from ecgnas.data.preprocess import PreprocessConfig
from ecgnas.train.models import parse_arch

BASES: dict[str, tuple[Setup, Hyperparams]] = {
    "r1": (replace(RECIPES["r1"][0], min_epochs=3, max_epochs=10), RECIPES["r1"][1]),
    "r2": (
        replace(RECIPES["r2"][0], final="holdout", min_epochs=3, max_epochs=10),
        RECIPES["r2"][1],
    ),
}
"""Base recipes by name (``ecgnas.classifier.recipes``): ``r1`` is round 1, ``r2`` is
chosen from round 1 on DS1-CV (seed 0). The ablation scores cross-validation only, so the
final-model mode does not matter here."""

# name -> (description, setup changes, input changes, hyperparameter changes)
VARIANTS: dict[str, tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "base": ("the base recipe itself", {}, {}, {}),
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
    "bandpass": (
        "0.5-40 Hz zero-phase band-pass (at 128 Hz)",
        {"preprocess": replace(LOW_FS, bandpass=True)},
        {},
        {},
    ),
    "all_n": ("every N beat each epoch (no subsampling)", {"max_majority": None}, {}, {}),
    "n4000": ("4,000 N beats per epoch", {"max_majority": 4000}, {}, {}),
    "no_morphology": ("without the morphology features", {}, {"morphology": False}, {}),
    "no_context": ("without the neighbouring beats", {}, {"context_beats": 0}, {}),
    "as_is_polarity": ("polarity as recorded", {}, {"polarity": "as_is"}, {}),
    "augment": ("amplitude/offset/noise augmentation 0.5", {}, {}, {"augment": 0.5}),
    "adversarial": (
        "record discriminator behind gradient reversal (weight 0.3)",
        {},
        {},
        {"adversarial": 0.3},
    ),
}


def variant_recipe(
    name: str, epochs: int | None, folds: int, base: str = "r1"
) -> tuple[Setup, Hyperparams]:
    _, setup_changes, input_changes, hp_changes = VARIANTS[name]
    base_setup, base_hp = BASES[base]
    setup = replace(base_setup, folds=folds, **setup_changes)
    setup = replace(setup, inputs=replace(setup.inputs, **input_changes))
    hp = replace(base_hp, **hp_changes)
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
    rows = [r for r in rows if _key(r) == _key({**vars(args), "epochs_arg": args.epochs})]
    have = {(r["variant"], r["seed"]) for r in rows}
    arch = parse_arch(args.arch)
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for name in args.variants:
            if (name, seed) in have:
                continue
            setup, hp = variant_recipe(name, args.epochs, args.folds, args.base)
            t0 = time.perf_counter()
            if args.signal == "cv":
                metrics = cross_validate(
                    arch, hp, setup, seed, data_dir=args.data_dir, cache_dir=args.cache_dir
                ).metrics
            else:
                metrics = holdout_metrics(arch, hp, setup, seed, args)
            row = {
                "variant": name,
                "seed": seed,
                "arch": args.arch,
                "folds": args.folds,
                "epochs_arg": args.epochs,
                "base": args.base,
                "signal": args.signal,
                "f1": dict(zip(metrics.class_names, metrics.f1.tolist())),
                "macro_f1": 0.0 if np.isnan(metrics.macro_f1) else float(metrics.macro_f1),
                "se": dict(zip(metrics.class_names, metrics.se.tolist())),
                "ppv": dict(zip(metrics.class_names, metrics.ppv.tolist())),
                "seconds": time.perf_counter() - t0,
                "setup": setup.to_json(),
                "hyperparams": hp.to_json(),
            }
            with runs_file.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            rows.append(row)
            print(
                f"{args.signal} {name:16s} seed {seed}: macro-F1 {row['macro_f1']:.3f} "
                + " ".join(f"{c} {v:.3f}" for c, v in row["f1"].items())
                + f" ({row['seconds']:.0f} s)",
                flush=True,
            )
    return rows


def _key(r: dict[str, Any]) -> tuple[Any, ...]:
    """Rows of one ablation: same arch, folds, epochs override, base recipe and signal (rows
    written before ``base``/``signal`` existed are round 1 on CV)."""
    epochs = r.get("epochs_arg", r.get("epochs"))
    return (r["arch"], r["folds"], epochs, r.get("base", "r1"), r.get("signal", "cv"))


def holdout_metrics(
    arch: Any, hp: Hyperparams, setup: Setup, seed: int, args: argparse.Namespace
) -> Any:
    """The single-split signal (the previous recipe's): train on the holdout split's DS1-train
    records for exactly ``hp.epochs`` epochs, score its 5 DS1-val records."""
    from ecgnas.classifier.cv import fit_fold
    from ecgnas.classifier.recipe import as_arrays, ds1_splits, load_ds1
    from ecgnas.train.metrics import classification_metrics

    beats = load_ds1(setup, args.data_dir, args.cache_dir)
    (split,) = ds1_splits(beats, setup, kfold=False)
    train = as_arrays(beats.select_records(split.train), setup.inputs)
    val = as_arrays(beats.select_records(split.val), setup.inputs)
    fold = fit_fold(arch, hp, setup, seed, train, val, split)
    return classification_metrics(val.y, fold.val_logits.argmax(axis=1), setup.classes)


def _stat(values: list[float]) -> dict[str, float]:
    """Mean and std over seeds, ignoring nan (+P of a class never predicted)."""
    import warnings

    a = np.asarray(values, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {"mean": float(np.nanmean(a)), "std": float(np.nanstd(a)), "n": int(a.size)}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per variant: mean ± std over seeds of macro-F1, per-class F1, S Se/+P, seconds."""
    by: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["variant"], []).append(r)
    return {
        name: {
            "description": VARIANTS[name][0] if name in VARIANTS else "",
            "seeds": sorted(r["seed"] for r in rs),
            "macro_f1": _stat([r["macro_f1"] for r in rs]),
            **{f"{c}_f1": _stat([r["f1"][c] for r in rs]) for c in ("N", "S", "V", "F")},
            "S_se": _stat([r["se"]["S"] for r in rs]),
            "S_ppv": _stat([r["ppv"]["S"] for r in rs]),
            "seconds": _stat([r["seconds"] for r in rs]),
        }
        for name, rs in by.items()
    }


def groups(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    """Rows by ablation (``_key``), in the order first seen."""
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(_key(r), []).append(r)
    return out


def _ms(d: dict[str, float]) -> str:
    return f"{d['mean']:.3f} ± {d['std']:.3f}"


def render_group(key: tuple[Any, ...], summary: dict[str, Any]) -> list[str]:
    arch, folds, epochs, base_name, signal = key
    setup, hp = BASES[base_name]
    what = (
        f"pooled out-of-fold over record-wise {folds}-fold CV of the 22 DS1 records"
        if signal == "cv"
        else "the single DS1 holdout split of the previous recipe (train 17 records, score 5)"
    )
    base = summary.get("base")
    lines = [
        f"## Base `{base_name}`, arch `{arch}`, signal: {signal}",
        "",
        f"Signal: {what}. Base recipe: inputs {json.dumps(setup.inputs.to_json())}; "
        f"{setup.preprocess.fs:g} Hz, window {setup.preprocess.window} samples; N beats per "
        f"epoch {setup.max_majority or 'all'}; hyperparameters {json.dumps(hp.to_json())}"
        + (f"; epochs overridden to {epochs}" if epochs else "")
        + ".",
        "",
        "| variant | change from the base | seeds | macro-F1 | S F1 | V F1 | F F1 | S Se | S +P "
        "| Δ macro | Δ S F1 | Δ V F1 | s/run |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in sorted(summary.items(), key=lambda kv: -kv[1]["macro_f1"]["mean"]):
        deltas = ["", "", ""]
        if base is not None and name != "base":
            deltas = [
                f"{s[k]['mean'] - base[k]['mean']:+.3f}" for k in ("macro_f1", "S_f1", "V_f1")
            ]
        lines.append(
            f"| {name} | {s['description']} | {len(s['seeds'])} | {_ms(s['macro_f1'])} | "
            f"{_ms(s['S_f1'])} | {_ms(s['V_f1'])} | {_ms(s['F_f1'])} | {s['S_se']['mean']:.3f} | "
            f"{s['S_ppv']['mean']:.3f} | {' | '.join(deltas)} | {s['seconds']['mean']:.0f} |"
        )
    return [*lines, ""]


def render(by_group: dict[tuple[Any, ...], dict[str, Any]]) -> str:
    lines = [
        "# ECG recipe ablation (DS1 only)",
        "",
        "Each variant is a base recipe with one change, scored on DS1 only and never on DS2; "
        "mean ± std over training seeds. Per-class F1 is pooled over all scored beats. "
        "Rendered from `reports/ecg_recipe_runs.jsonl` by `python scripts/ecg_recipe.py` "
        "(each group below names its `--base`, `--arch` and `--signal`).",
        "",
    ]
    for key, summary in by_group.items():
        lines += render_group(key, summary)
    lines += ["Accuracies here are DS1 (validation), never DS2 (test).", ""]
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
    p.add_argument("--base", default="r1", choices=sorted(BASES), help="the base recipe")
    p.add_argument(
        "--signal",
        default="cv",
        choices=["cv", "holdout"],
        help="cv: pooled k-fold; holdout: the previous single DS1 split (for the spread)",
    )
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
    run(args)
    from ecgnas.io import atomic_write_json, atomic_write_text

    out = Path(args.out)
    by_group = {k: summarise(rs) for k, rs in groups(_done(out / "ecg_recipe_runs.jsonl")).items()}
    atomic_write_json(
        out / "ecg_recipe.json",
        {
            "bases": {
                name: {"setup": st.to_json(), "hyperparams": hp.to_json()}
                for name, (st, hp) in BASES.items()
            },
            "groups": [
                {
                    "arch": k[0],
                    "folds": k[1],
                    "epochs_override": k[2],
                    "base": k[3],
                    "signal": k[4],
                    "variants": v,
                }
                for k, v in by_group.items()
            ],
        },
    )
    atomic_write_text(out / "ecg_recipe.md", render(by_group))
    return 0


if __name__ == "__main__":
    sys.exit(main())
