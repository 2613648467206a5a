"""Pick an ecg1d arch for the final model by DS1 validation only (a stand-in for the search).

Used while the DCL-ENAS ECG search has no ``result.json``: draws ``--n`` random ecg1d cells
(seeded; cells whose output receives nothing are redrawn), trains each once with the default
``Hyperparams`` and the default ``Setup`` (record-wise DS1 holdout split, N subsampled per
epoch) for ``--epochs`` epochs, and ranks them by DS1-validation macro-F1 (N, S, V, F). No
DS2 record is read (the loader is restricted to DS1). Writes ``reports/final_arch_pick.md``
and ``<out>/result.json`` in the search's format (``{"best": {"arch": ..., "score": ...}}``),
so ``ecgnas tune --run <out>`` accepts it.

    python scripts/final_pick_arch.py --n 8 --epochs 6 --out runs/arch-pick
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="random archs to train")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--out", default="runs/arch-pick")
    parser.add_argument("--report", default="reports/final_arch_pick.md")
    parser.add_argument(
        "--max-majority",
        type=int,
        default=None,
        help="N beats per epoch (default: the default Setup's, 4000); smaller for a quick check",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    import torch

    from ecgnas.io import atomic_write_json, atomic_write_text
    from ecgnas.spaces.ecg1d import ECG1D_OPS
    from ecgnas.spaces.ecg1d_model import cell_plan, count_flops, count_params
    from ecgnas.spaces.registry import get_space
    from ecgnas.train.trainer import train_classifier
    from ecgnas.tune import (
        Hyperparams,
        Setup,
        as_arrays,
        ds1_splits,
        load_ds1,
        model_factory,
        model_settings,
        train_config,
    )

    torch.set_num_threads(args.threads)
    space = get_space("ecg1d")
    rng = np.random.default_rng(args.seed)
    archs = []
    while len(archs) < args.n:
        arch = space.sample(rng)
        if cell_plan(arch.ops, ECG1D_OPS.index("none")) and arch not in archs:
            archs.append(arch)

    setup = Setup() if args.max_majority is None else Setup(max_majority=args.max_majority)
    hp = replace(Hyperparams(), epochs=args.epochs)
    beats = load_ds1(setup, args.data_dir, args.cache_dir)
    split = ds1_splits(beats, setup)[0]
    train, val = (as_arrays(beats.select_records(s)) for s in (split.train, split.val))
    rows = []
    for i, arch in enumerate(archs):
        settings = model_settings(arch, setup, hp.dropout)
        build = model_factory(arch, settings, hp.dropout, args.seed)
        model = build()
        t0 = time.perf_counter()
        res = train_classifier(build, train, val, train_config(hp, setup, args.seed), setup.classes)
        rows.append(
            {
                "arch": arch,
                "score": res.score,
                "f1": res.val_metrics.f1.tolist(),
                "epoch": res.best_epoch,
                "params": count_params(model),
                "mflops": count_flops(model) / 1e6,
                "seconds": time.perf_counter() - t0,
            }
        )
        logging.info("%d/%d %s DS1-val macro-F1 %.4f", i + 1, len(archs), arch.key(), res.score)

    rows.sort(key=lambda r: -r["score"])
    best = rows[0]
    out = Path(args.out)
    atomic_write_json(
        out / "result.json",
        {
            "best": {"arch": best["arch"].to_json(), "score": best["score"]},
            "score_is": "DS1-validation macro-F1 (N, S, V, F), record-wise holdout",
            "method": f"random sample of {args.n} ecg1d cells, seed {args.seed}",
            "candidates": [{"arch": r["arch"].to_json(), "score": r["score"]} for r in rows],
        },
    )
    lines = [
        "# Final model: ecg1d arch picked by DS1 validation (stand-in for the ECG search)",
        "",
        f"- Date: {datetime.now().isoformat(timespec='seconds')}; machine: {platform.machine()}, "
        f"torch threads {args.threads} (shared 2-core CPU)",
        f"- Command: `python scripts/final_pick_arch.py --n {args.n} --epochs {args.epochs} "
        f"--seed {args.seed}"
        + (f" --max-majority {args.max_majority}" if args.max_majority is not None else "")
        + "`",
        f"- Method: {args.n} random ecg1d cells (seed {args.seed}; cells with no route to the "
        "output redrawn), each trained once with the default hyperparameters for "
        f"{args.epochs} epochs (N beats subsampled to {setup.max_majority} per epoch).",
        f"- Score: **DS1-validation** macro-F1 (N, S, V, F) on held-out DS1 records "
        f"{', '.join(split.val)}; best epoch. No DS2 record was read.",
        "- This is a small random search, not DCL-ENAS; rerun the final comparison with the "
        "searched arch when `ecgnas search --dataset mitbih` has produced one.",
        "",
        "| rank | arch | DS1-val macro-F1 | F1 N | F1 S | F1 V | F1 F | best epoch | params | MFLOPs | s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rank, r in enumerate(rows, 1):
        f1 = " | ".join("nan" if np.isnan(v) else f"{v:.3f}" for v in r["f1"])
        ops = ", ".join(ECG1D_OPS[o] for o in r["arch"].ops)
        lines.append(
            f"| {rank} | `{r['arch'].key()}` ({ops}) | {r['score']:.4f} | {f1} | "
            f"{r['epoch']} | {r['params']:,} | {r['mflops']:.2f} | {r['seconds']:.0f} |"
        )
    atomic_write_text(args.report, "\n".join(lines) + "\n")
    print(f"best {best['arch'].key()} DS1-val macro-F1 {best['score']:.4f}; wrote {args.report}")


if __name__ == "__main__":
    main()
