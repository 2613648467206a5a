"""Blends of the DCL predictor with a second predictor, NB201 cifar10-valid (issue 16).

Each predictor is fitted on the same labelled sets as ``ecgnas benchmark predictor``
(``predictor_bench.labelled_sets``) and scores every other cell; the scores are
standardised and the blend ``(1 - w) * dcl_eff + w * other`` is ranked against the signal
(Kendall tau-b). One JSON line per (seed, labels) goes to stdout; ``--summary FILE`` prints
the mean tau of each predictor and blend and its paired difference from ``dcl_eff`` (mean,
wins), from such a file::

    python scripts/predictor_blend.py --seeds 10 --first-seed 100 > /tmp/blend.jsonl
    python scripts/predictor_blend.py --summary /tmp/blend.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

BASE = "dcl_eff"
OTHERS = ("path_mlp_rank", "clp_mse", "clf_only", "onehot_mlp_rank")
WEIGHTS = (0.1, 0.2, 0.3, 0.5)


def blend_taus(preds: dict[str, np.ndarray], signal: np.ndarray) -> dict[str, float]:
    """Kendall tau of each prediction and of each blend of ``BASE`` with another one; the
    predictions are standardised first (mean 0, sd 1), so ``w`` is the other's share."""
    from scipy.stats import kendalltau

    z = {k: (v - v.mean()) / (v.std() or 1.0) for k, v in preds.items()}
    out = {k: float(kendalltau(v, signal).statistic) for k, v in z.items()}
    for other in (k for k in z if k != BASE):
        for w in WEIGHTS:
            mix = (1 - w) * z[BASE] + w * z[other]
            out[f"{other}@{w}"] = float(kendalltau(mix, signal).statistic)
    return out


def run(seeds: range, labels: tuple[int, ...]) -> None:
    import torch

    from ecgnas.benchmarks.predictor_bench import (
        PredictorBenchConfig,
        labelled_sets,
        load_context,
    )
    from ecgnas.predictor.registry import predictor_entry
    from ecgnas.predictor.store import EncoderStore
    from ecgnas.predictor.variants import default_clp, make_predictor

    torch.set_num_threads(1)
    names = (BASE, *OTHERS)
    config = PredictorBenchConfig("nb201", "cifar10-valid", labels, tuple(seeds), names)
    ctx = load_context(config, None)
    clp_space = ctx.space.clp_space
    pretrained = EncoderStore(None).get(clp_space, default_clp(clp_space.name), 0)
    n = len(ctx.signal)
    for seed in seeds:
        for n_labels, lab in labelled_sets(n, labels, seed).items():
            rest = np.setdiff1d(np.arange(n), lab)
            preds = {}
            for name in names:
                extra = {"pretrained": pretrained} if predictor_entry(name).pretrained else {}
                predictor = make_predictor(name, ctx.space, seed, **extra)
                predictor.fit(ctx.archs(lab), ctx.signal[lab])
                preds[name] = np.asarray(predictor.score(ctx.archs(rest)), dtype=float)
            taus = blend_taus(preds, ctx.signal[rest])
            print(json.dumps({"seed": seed, "labels": n_labels} | taus), flush=True)


def summary(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for n_labels in sorted({r["labels"] for r in rows}):
        group = [r for r in rows if r["labels"] == n_labels]
        base = np.array([r[BASE] for r in group])
        print(f"{n_labels} labels, {len(group)} seeds")
        for key in (k for k in group[0] if k not in ("seed", "labels")):
            diff = np.array([r[key] for r in group]) - base
            print(
                f"  {key:22s} {base.mean() + diff.mean():.4f}  {diff.mean():+.4f}  "
                f"wins {int((diff > 0).sum())}/{len(group)}"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--labels", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--summary", type=Path, help="summarise a file of this script's lines")
    args = parser.parse_args(argv)
    if args.summary:
        summary(args.summary)
    else:
        run(range(args.first_seed, args.first_seed + args.seeds), tuple(args.labels))


if __name__ == "__main__":
    main()
