"""Paired ablation of search settings on a benchmark table, resumable run by run.

Each spec is ``label=method`` or ``label=method:{json make_strategy settings}``, e.g.::

    python scripts/search_ablation.py --dataset cifar10 --seeds 100 --first-seed 0 \\
        --records runs/search_ablation.jsonl 'base=dcl_enas' \\
        'eff=dcl_enas:{"predictor_settings": {"clf": {"effective": true}}}'

Every spec runs on the same seeds (paired: the same initial sample per seed), budget 100 on
NB201 and 150 on NB101. Each finished run is appended to ``--records`` (JSON lines, with its
spec label and settings) and a rerun skips the (label, seed) pairs found there with the same
settings, so a long ablation can be stopped and resumed, and a spec shared by several
ablations runs once. Prints, per spec: the mean test accuracy of the found arch (the one
best by the search signal), the share of runs that evaluated the best cell by the signal,
the mean evaluations to find it (over the runs that did), the mean best-so-far test
accuracy at half the budget, the strategy seconds per run; then each spec against the first:
wins/ties/losses on the found arch's test accuracy, runs finding the best cell only with
this spec / only with the reference, and the one-sided Wilcoxon p-value (spec better).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ecgnas.benchmarks.harness import parse_spec
from ecgnas.errors import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+", help="label=method[:{json settings}]")
    parser.add_argument("--benchmark", default="nb201", choices=("nb201", "nb101"))
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--records", default="runs/search_ablation.jsonl")
    return parser


def _load(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    from scipy.stats import wilcoxon

    from ecgnas.benchmarks.harness import BenchmarkConfig, run_benchmark

    budget = args.budget or (100 if args.benchmark == "nb201" else 150)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    records = Path(args.records)
    records.parent.mkdir(parents=True, exist_ok=True)
    where = {"benchmark": args.benchmark, "dataset": args.dataset, "budget": budget}
    results: dict[str, dict[int, dict[str, Any]]] = {}
    try:
        specs = [parse_spec(s, labelled=True) for s in args.specs]
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from exc
    for label, method, settings in specs:
        done = {
            r["seed"]: r
            for r in _load(records)
            if r["label"] == label
            and r["settings"] == settings
            and r["method"] == method
            and all(r[k] == v for k, v in where.items())
        }
        todo = [s for s in seeds if s not in done]
        t0 = time.perf_counter()
        for seed in todo:  # one run at a time, each appended as it finishes
            config = BenchmarkConfig(
                args.benchmark,
                args.dataset,
                (method,),
                (seed,),
                budget,
                data_dir=args.data_dir,
                method_settings={method: settings},
            )
            (rec,) = run_benchmark(config)
            row = {"label": label, "settings": settings, **where, **rec.to_json()}
            with records.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            done[seed] = row
        results[label] = {s: done[s] for s in seeds}
        runs = list(results[label].values())
        found = [r["found_at"] for r in runs if r["found_best"]]
        print(
            f"{label:16s} test {np.mean([r['final_test'] for r in runs]):.3f}  "
            f"found {100 * len(found) / len(runs):.0f} %  "
            f"at {np.mean(found) if found else float('nan'):.1f}  "
            f"half {np.mean([r['curve_test'][budget // 2 - 1] for r in runs]):.3f}  "
            f"{np.mean([r['strategy_seconds'] for r in runs]):.1f} s/run  "
            f"({len(todo)} new runs, {time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    ref = specs[0][0]
    for label, _, _ in specs[1:]:
        a = np.array([results[label][s]["final_test"] for s in seeds])
        b = np.array([results[ref][s]["final_test"] for s in seeds])
        d = a - b
        fa = np.array([results[label][s]["found_best"] for s in seeds])
        fb = np.array([results[ref][s]["found_best"] for s in seeds])
        nz = d[d != 0]
        p = float(wilcoxon(nz, alternative="greater").pvalue) if len(nz) >= 2 else float("nan")
        print(
            f"{label} vs {ref}: test {d.mean():+.4f}, W/T/L {(d > 0).sum()}/{(d == 0).sum()}/"
            f"{(d < 0).sum()}, found only here {int((fa & ~fb).sum())}, only in {ref} "
            f"{int((fb & ~fa).sum())}, p={p:.2g}",
            flush=True,
        )


if __name__ == "__main__":
    main()
