"""Compare settings of one search method on a benchmark table (how the defaults were picked).

Each spec is ``method`` or ``method:{json settings}``; every spec runs on the same seeds
(paired), budget 100 on NB201 and the ECG table and 150 on NB101. Prints one line per spec
and appends a markdown table to ``--out`` (default ``reports/search_tuning.md``).

Example::

    python scripts/search_tuning.py --benchmark nb201 --dataset cifar10 --seeds 30 --jobs 2 \\
        'dcl_enas' 'dcl_enas:{"n_explore": 0}' 'rea:{"population": 20, "sample": 10}'
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+")
    parser.add_argument("--benchmark", default="nb201", choices=("nb201", "nb101", "ecg"))
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="reports/search_tuning.md")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    from ecgnas.benchmarks.harness import BenchmarkConfig, parse_spec, run_benchmark
    from ecgnas.errors import ConfigError

    budget = args.budget or (150 if args.benchmark == "nb101" else 100)
    seeds = tuple(range(args.first_seed, args.first_seed + args.seeds))
    rows = []
    for spec in args.specs:
        try:
            _, method, settings = parse_spec(spec)
        except ConfigError as exc:
            raise SystemExit(f"error: {exc}") from exc
        config = BenchmarkConfig(
            args.benchmark,
            args.dataset,
            (method,),
            seeds,
            budget,
            jobs=args.jobs,
            data_dir=args.data_dir,
            method_settings={method: settings},
        )
        t0 = time.perf_counter()
        records = run_benchmark(config)
        final = np.array([r.final_test for r in records])
        curve = np.array([r.curve_test for r in records]).mean(axis=0)
        half = budget // 2
        row = (
            f"| `{method}` | `{json.dumps(settings, sort_keys=True)}` | {final.mean():.3f} | "
            f"{final.std(ddof=1) if final.size > 1 else float('nan'):.3f} | {np.mean([r.found_best for r in records]):.2f} | "
            f"{curve[half - 1]:.3f} | {np.mean([r.wall_seconds for r in records]):.1f} |"
        )
        rows.append(row)
        print(row, f"({time.perf_counter() - t0:.0f} s)", flush=True)

    command = "python " + " ".join(
        shlex.quote(a) for a in (sys.argv if argv is None else [sys.argv[0], *argv])
    )
    text = "\n".join(
        [
            "",
            f"## {args.benchmark} {args.dataset if args.benchmark == 'nb201' else ''}, "
            f"budget {budget}, seeds {seeds[0]}..{seeds[-1]}",
            "",
            f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}; command: `{command}`",
            "",
            f"| method | settings (over the defaults) | mean test | std | found best | "
            f"mean at {budget // 2} | s/run |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
        ]
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
