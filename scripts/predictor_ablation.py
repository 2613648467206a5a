"""Paired ablation of predictor settings: Kendall tau of several specs on the same seeds.

Each spec is ``label=variant`` or ``label=variant:{json make_predictor settings}`` (keys
``clf``, ``clp``, ``clp_seed``, and ``clp_space``: pre-train or load the CLP encoder of that
registered space instead of the benchmark space's own ``clp_space``, or ``"own"`` for one
pre-trained on the benchmark space itself: for the ECG table, whose default is the shipped
``ecgjoint`` encoder, ``"own"`` pre-trains on the table's 1,000 archs), e.g.::

    python scripts/predictor_ablation.py --seeds 10 --first-seed 100 --labels 50 100 \\
        'base=dcl' 'eff=dcl:{"clf": {"effective": true}}' \\
        'flow=dcl:{"clp": {"encoder": {"kind": "flow", "layers": 2}}}'

Every spec is fitted on the same labelled sets (``predictor_bench.labelled_sets``: seed ``s``
gives the same nested sets as ``ecgnas benchmark predictor``) and scored on every other cell
(NB201) or on the benchmark's pool (NB101). The first spec is the reference: the script
prints the mean tau of each spec and, for the others, the mean paired difference, its
standard deviation, the wins and the one-sided Wilcoxon p-value. A pre-trained spec's CLP
encoder comes from the encoder store (cache, shipped, else trained now and cached) with its
``clp`` settings and ``clp_seed``. ``--json`` appends the per-seed records as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from ecgnas.benchmarks.harness import parse_spec
from ecgnas.errors import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+", help="label=variant[:{json settings}]")
    parser.add_argument("--benchmark", default="nb201", choices=("nb201", "nb101", "ecg"))
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--labels", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--json", default=None, help="append per-seed records to this file")
    return parser


def resolve_clp_space(label: str, value: object, space: Any) -> Any:
    """The space whose CLP encoder a spec uses: ``space.clp_space`` when ``value`` is
    ``None``, ``space`` itself for ``"own"``, else the registered space of that name, which
    must read ``space``'s graphs (``SystemExit`` with a one-line error otherwise)."""
    from ecgnas.spaces import get_space

    if value is None:
        return space.clp_space
    if value == "own":
        return space
    try:
        other = get_space(str(value))
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from exc
    if other.n_node_types != space.n_node_types:
        raise SystemExit(
            f"error: {label}: the {other.name} encoder does not read {space.name} graphs "
            f"(node types {other.n_node_types} against {space.n_node_types})"
        )
    return other


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    import torch
    from scipy.stats import wilcoxon

    from ecgnas.benchmarks.predictor_bench import (
        PredictorBenchConfig,
        load_context,
        run_task,
    )
    from ecgnas.predictor.pretrain import CLPSettings
    from ecgnas.predictor.registry import predictor_entry
    from ecgnas.predictor.store import EncoderStore
    from ecgnas.predictor.variants import _merge, default_clp

    torch.set_num_threads(1)
    seeds = tuple(range(args.first_seed, args.first_seed + args.seeds))
    try:
        specs = [parse_spec(s, labelled=True) for s in args.specs]
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from exc
    taus: dict[str, dict[int, list[float]]] = {}
    for label, variant, settings in specs:
        config = PredictorBenchConfig(
            args.benchmark,
            args.dataset,
            tuple(args.labels),
            seeds,
            (variant,),
            data_dir=args.data_dir,
            cache_dir=args.cache_dir,
            predictor_settings={
                variant: {k: v for k, v in settings.items() if k not in ("clp", "clp_space")}
            },
        )
        ctx = load_context(config, None)
        if predictor_entry(variant).pretrained:
            clp_space = resolve_clp_space(label, settings.get("clp_space"), ctx.space)
            clp = _merge(CLPSettings, default_clp(clp_space.name), settings.get("clp"), "CLP")
            ctx.pretrained = EncoderStore(args.cache_dir).get(
                clp_space, clp, int(settings.get("clp_seed", 0))
            )
        t0 = time.perf_counter()
        by_labels: dict[int, list[float]] = {n: [] for n in args.labels}
        for seed in seeds:
            for rec in run_task(ctx, variant, seed):
                by_labels[rec.labels].append(rec.kendall_tau)
                if args.json:
                    with open(args.json, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps({"spec": label, **rec.__dict__}) + "\n")
        taus[label] = by_labels
        means = "  ".join(f"@{n}: {np.mean(v):.4f}" for n, v in by_labels.items())
        print(f"{label:24s} {means}  ({time.perf_counter() - t0:.0f} s)", flush=True)

    ref = specs[0][0]
    print(f"\npaired differences against {ref!r} (mean ± std, wins/seeds, one-sided Wilcoxon p)")
    for label, _, _ in specs[1:]:
        parts = []
        for n in args.labels:
            d = np.array(taus[label][n]) - np.array(taus[ref][n])
            nz = d[d != 0]
            p = float(wilcoxon(nz, alternative="greater").pvalue) if len(nz) >= 2 else float("nan")
            sd = d.std(ddof=1) if len(d) > 1 else float("nan")
            parts.append(
                f"@{n}: {d.mean():+.4f} ± {sd:.4f} {int((d > 0).sum())}/{len(d)} p={p:.2g}"
            )
        print(f"{label:24s} " + "  ".join(parts), flush=True)


if __name__ == "__main__":
    main()
