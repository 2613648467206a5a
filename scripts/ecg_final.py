"""The final ECG classifiers of one recipe, on equal terms, and the one to ship.

For every ``--model LABEL=ARCH`` (e.g. ``nas=ecg1d:5,0,0,4,6,3``, ``manual``, ``tiny``):

1. ``ecgnas.classifier.tune.tune`` with the same ``--trials`` budget and seed on DS1 only
   (``<out>/tune-<label>``; the first trial is the recipe's default hyperparameters);
2. for every ``--seeds`` seed: the final model of the recipe (``r2``: the ensemble of the
   5 DS1 cross-validation fold models), then one DS2 evaluation (``<out>/<label>/seed<k>/``);
   finished seeds are read back when rerun.

Selection uses DS1 only: the model with the best mean DS1 cross-validation macro-F1 over its
seeds, then its seed with the best DS1 cross-validation macro-F1 (``choose_seed``). With
``--ship`` that bundle replaces ``ecgnas/assets/classifier`` atomically. DS2 figures are
reported for every model and seed and used for nothing else.

Writes ``<reports>/ecg_final.md`` and ``.json``: per model and seed DS1-CV and DS2 per-class
Se, +P, F1, mean ± std over seeds, paired DS2 macro-F1 differences of the shipped model's
label against every other, with a 95 % bootstrap interval over DS2 records.

    python scripts/ecg_final.py --recipe r2 --model manual --model tiny --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

CLASSES = ("N", "S", "V", "F")


def _f(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def _ms(values: list[float]) -> str:
    arr = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    return f"{arr.mean():.3f}" if arr.size < 2 else f"{arr.mean():.3f} ± {arr.std(ddof=1):.3f}"


def _seed_metrics(out: Path, label: str, seed: int, name: str) -> dict[str, Any]:
    """DS1-CV and DS2 per-class figures of one finished seed (its final_<name>.json)."""
    import json

    from ecgnas.classifier.protocol import seed_dir

    report = json.loads((seed_dir(out, label, seed) / f"final_{name}.json").read_text())
    ds1 = report["ds1_validation"]["four_class"]
    ds2 = report["ds2_test"]["four_class"]
    return {
        "seed": seed,
        "ds1_cv_macro_f1": ds1["macro_f1"],
        "ds1_cv_f1": {c: ds1["per_class"][c]["f1"] for c in CLASSES},
        "ds2_macro_f1": ds2["macro_f1"],
        "ds2": {c: ds2["per_class"][c] for c in CLASSES},
    }


def render(result: dict[str, Any], command: str) -> str:
    lines = [
        "# Final ECG classifiers: one recipe, equal terms, DS2 read once per model and seed",
        "",
        f"- Command: `{command}`",
        f"- Recipe `{result['recipe']}`: {result['recipe_note']}",
        f"- Tuning budget: {result['trials']} Optuna trial(s) per model on DS1 "
        "cross-validation (the first trial is the recipe's default hyperparameters).",
        "- Selection on DS1 only: the model with the best mean DS1-CV macro-F1, then its seed "
        "with the best DS1-CV macro-F1. DS2 (test) figures are reported, never used.",
        "",
        "| model | arch | params (all members) | seeds | DS1-CV macro-F1 | DS2 macro-F1 | DS2 S F1 | DS2 V F1 "
        "| DS2 F F1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, m in result["models"].items():
        seeds = m["seeds"]
        lines.append(
            f"| {label} | `{m['arch_key']}` | {m['params']:,} | {len(seeds)} | "
            f"{_ms([s['ds1_cv_macro_f1'] for s in seeds])} | "
            f"{_ms([s['ds2_macro_f1'] for s in seeds])} | "
            f"{_ms([s['ds2']['S']['f1'] for s in seeds])} | "
            f"{_ms([s['ds2']['V']['f1'] for s in seeds])} | "
            f"{_ms([s['ds2']['F']['f1'] for s in seeds])} |"
        )
    lines += ["", "## Per seed (DS2 test: Se / +P / F1)", ""]
    lines += [
        "| model | seed | DS1-CV macro | DS2 macro | N | S | V | F |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, m in result["models"].items():
        for s in m["seeds"]:
            cells = [
                f"{_f(s['ds2'][c]['se'])} / {_f(s['ds2'][c]['ppv'])} / {_f(s['ds2'][c]['f1'])}"
                for c in CLASSES
            ]
            lines.append(
                f"| {label} | {s['seed']} | {_f(s['ds1_cv_macro_f1'])} | {_f(s['ds2_macro_f1'])} | "
                + " | ".join(cells)
                + " |"
            )
    lines += ["", "## Selection and comparisons", "", f"- {result['selection']}"]
    for other, comp in result["comparisons"].items():
        low, high = comp["bootstrap_ci_95"]
        lines.append(
            f"- {result.get('compared_label', result['chosen_label'])} − {other}: paired "
            "per-seed DS2 macro-F1 differences "
            f"{', '.join(f'{d:+.3f}' for d in comp['paired_differences'])}; 95 % bootstrap "
            f"interval over DS2 records [{low:+.3f}, {high:+.3f}]"
        )
    lines += ["", f"- {result['shipped']}", ""]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", action="append", required=True, help="LABEL=ARCH or ARCH")
    p.add_argument("--recipe", default="r2")
    p.add_argument("--width", type=int, default=None, help="ecg1d width (default 16)")
    p.add_argument("--trials", type=int, default=1)
    p.add_argument("--epochs", type=int, default=None, help="small runs: fixed epochs")
    p.add_argument("--folds", type=int, default=None, help="small runs: CV folds")
    p.add_argument("--max-majority", type=int, default=None, help="small runs: N per epoch")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--tune-seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/ecg-final")
    p.add_argument("--reports", default="reports")
    p.add_argument("--ship", action="store_true", help="ship the chosen bundle into the package")
    p.add_argument("--only", default=None, help="run this label only (no report)")
    p.add_argument(
        "--compare",
        default=None,
        help="LABEL: report this model's paired DS2 differences against every other "
        "(default: the model chosen on DS1)",
    )
    p.add_argument(
        "--report-name", default="ecg_final", help="report stem: <reports>/<name>.{md,json}"
    )
    p.add_argument("--data-dir", default=None)
    p.add_argument("--cache-dir", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.ship and args.compare:
        raise SystemExit("error: --ship chooses on DS1 among the models; it takes no --compare")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    from ecgnas.classifier.bundle import ship_bundle
    from ecgnas.classifier.protocol import (
        choose_seed,
        paired_comparison,
        publish_reports,
        run_model,
        seed_dir,
    )
    from ecgnas.classifier.recipes import get_recipe
    from ecgnas.io import atomic_write_json, atomic_write_text
    from ecgnas.train.models import build_ecg_model, parse_arch

    torch.set_num_threads(args.threads)
    setup, _ = get_recipe(args.recipe)
    if args.width is not None:
        setup = replace(setup, width=args.width)
    if args.epochs is not None:
        setup = replace(setup, min_epochs=args.epochs, max_epochs=args.epochs)
    if args.folds is not None:
        setup = replace(setup, folds=args.folds)
    if args.max_majority is not None:
        setup = replace(setup, max_majority=args.max_majority)
    command = "python scripts/ecg_final.py " + " ".join(sys.argv[1:] if argv is None else argv)
    out = Path(args.out)
    models: dict[str, Any] = {}
    for spec in args.model:
        label, _, text = spec.rpartition("=")
        label = label or text
        if args.only and label != args.only:
            continue
        arch = parse_arch(text)
        run = run_model(
            label, arch, setup, out, trials=args.trials, seeds=args.seeds,
            tune_seed=args.tune_seed, command=command, data_dir=args.data_dir,
            cache_dir=args.cache_dir,
        )  # fmt: skip
        from ecgnas.classifier.recipe import model_settings, setup_for

        net = build_ecg_model(arch, model_settings(arch, setup_for(arch, setup), 0.1))
        member = int(sum(p.numel() for p in net.parameters()))
        models[label] = {
            "arch_key": arch.key(),
            # all of a shipped ensemble's members count
            "params": member * (setup.folds if setup.final == "ensemble" else 1),
            "member_params": member,
            "tune": run["tune"],
            "summaries": run["seeds"],
            "seeds": [_seed_metrics(out, label, int(s["seed"]), s["name"]) for s in run["seeds"]],
        }
    if args.only:
        return 0
    best_label = max(
        models, key=lambda k: np.mean([s["ds1_cv_macro_f1"] for s in models[k]["seeds"]])
    )
    chosen = choose_seed(models[best_label]["summaries"])
    focus = args.compare or best_label
    if focus not in models:
        raise SystemExit(f"error: --compare {focus!r} is not one of the models {list(models)}")
    comparisons = {
        other: paired_comparison(
            out, models[focus]["summaries"], models[other]["summaries"], (focus, other)
        )
        for other in models
        if other != focus
    }
    # a --compare run measures one model against the others; the chosen seed's reports
    # (final_<name>.*, the shipped model's when it ships) are published by the others only
    published = [] if args.compare else publish_reports(out, best_label, chosen, args.reports)
    shipped = "Not shipped by this run (no --ship)."
    if args.ship:
        ship_bundle(seed_dir(out, best_label, int(chosen["seed"])) / "bundle")
        shipped = (
            f"`ecgnas/assets/classifier` is {best_label} seed {chosen['seed']}; its full report "
            f"is `{published[0]}`."
        )
    result = {
        "recipe": args.recipe,
        "command": command,
        "recipe_note": f"setup {setup.to_json()}",
        "trials": args.trials,
        "models": {
            k: {kk: vv for kk, vv in v.items() if kk != "summaries"} for k, v in models.items()
        },
        "chosen_label": best_label,
        "chosen_seed": int(chosen["seed"]),
        "compared_label": focus,
        "selection": (
            f"chosen: {best_label} (best mean DS1-CV macro-F1), seed {chosen['seed']} "
            f"(best DS1-CV macro-F1 among its seeds, {chosen['ds1_val_macro_f1']:.3f}); its "
            f"DS2 macro-F1 {chosen['ds2_macro_f1']:.3f}"
        ),
        "comparisons": comparisons,
        "shipped": shipped,
    }
    reports = Path(args.reports)
    atomic_write_json(reports / f"{args.report_name}.json", result)
    atomic_write_text(reports / f"{args.report_name}.md", render(result, command))
    print(f"wrote {reports / args.report_name}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
