"""Measure what a search run costs and write ``reports/search_cost.md``.

Measures, on this machine:

1. the run log's overhead per evaluation: Optuna ``InMemoryStorage`` (benchmarks) and a
   journal file (resumable runs; every write is fsync'd);
2. one run of every method on NB201 cifar10 (budget 100, CLP pre-training cached; it is
   trained and cached first if missing), with DCL-ENAS's time split into predictor fitting
   (CLF), predictor scoring and the rest (evolution, bookkeeping);
3. an estimate of the whole comparison (3 datasets x 4 methods x 100 seeds, ``--jobs 2``).

Usage: ``python scripts/bench_search_cost.py [--data-dir DIR] [--seeds 3] [--out reports]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class TimedPredictor:
    """Wraps a predictor and adds up the seconds spent in ``fit`` and ``score``."""

    def __init__(self, inner, clock: dict[str, float]) -> None:
        self.inner = inner
        self.clock = clock

    def fit(self, archs: Sequence, scores: Sequence[float]) -> None:
        t = time.perf_counter()
        self.inner.fit(archs, scores)
        self.clock["fit"] += time.perf_counter() - t
        self.clock["fits"] += 1

    def score(self, archs: Sequence) -> np.ndarray:
        t = time.perf_counter()
        out = self.inner.score(archs)
        self.clock["score"] += time.perf_counter() - t
        self.clock["scored"] += len(archs)
        return out


def log_overhead(n: int = 300) -> dict[str, float]:
    """Seconds per evaluation spent in the run log (in memory, journal on disk)."""
    from ecgnas.evaluate import Result
    from ecgnas.search import Budget, OptunaRunLog, RandomSearch, run_search
    from ecgnas.spaces.nb201 import NB201Space

    class Free:
        space = NB201Space()

        def evaluate(self, arch):
            return Result(float(sum(arch.ops)), 1.0, {"test_acc": 0.0})

    out = {}
    t = time.perf_counter()
    run_search(RandomSearch(batch=10), Free(), Budget(max_evals=n), 0)
    out["memory"] = (time.perf_counter() - t) / n
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        t = time.perf_counter()
        run_search(
            RandomSearch(batch=10), Free(), Budget(max_evals=n), 0, log=OptunaRunLog(Path(tmp))
        )
        out["journal"] = (time.perf_counter() - t) / n
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 = as a --jobs 2 worker)"
    )
    parser.add_argument("--out", default="reports")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    import optuna
    import torch

    from ecgnas.benchmarks.harness import BenchmarkConfig, load_benchmark, warm_up
    from ecgnas.benchmarks.report import machine_info
    from ecgnas.io import atomic_write_text
    from ecgnas.search import Budget, make_strategy, run_search
    from ecgnas.search.baselines import named_predictor

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(args.threads)
    config = BenchmarkConfig(
        "nb201", "cifar10", ("dcl_enas", "npenas"), (0,), 100, data_dir=args.data_dir
    )
    t = time.perf_counter()
    warm_up(config)
    warm = time.perf_counter() - t
    evaluator, _ = load_benchmark(config)
    overhead = log_overhead()

    rows = []
    per_method: dict[str, float] = {}
    for method in ("dcl_enas", "npenas", "rea", "random"):
        walls = []
        clock = {"fit": 0.0, "score": 0.0, "fits": 0, "scored": 0}
        for seed in range(args.seeds):
            if method in ("dcl_enas", "npenas"):
                base = make_strategy(method)
                inner = named_predictor(base.settings()["predictor"])
                strategy = make_strategy(
                    method,
                    predictor_factory=lambda space, s, inner=inner, clock=clock: TimedPredictor(
                        inner(space, s), clock
                    ),
                )
            else:
                strategy = make_strategy(method)
            t = time.perf_counter()
            run_search(strategy, evaluator, Budget(max_evals=100), seed)
            walls.append(time.perf_counter() - t)
        mean = float(np.mean(walls))
        per_method[method] = mean
        n = args.seeds
        rows.append(
            f"| {method} | {mean:.2f} | {max(walls):.2f} | "
            + (
                f"{clock['fit'] / n:.2f} ({clock['fits'] / n:.0f} fits) | "
                f"{clock['score'] / n:.2f} ({clock['scored'] / n:.0f} archs) | "
                f"{mean - (clock['fit'] + clock['score']) / n:.2f} |"
                if clock["fits"]
                else "– | – | – |"
            )
        )

    per_seed_all = sum(per_method.values())
    estimate_min = 3 * 100 * per_seed_all / 2 / 60
    info = machine_info()
    command = "python " + " ".join(
        shlex.quote(a) for a in (sys.argv if argv is None else [sys.argv[0], *argv])
    )
    text = "\n".join(
        [
            "# Search cost (NB201 cifar10, budget 100)",
            "",
            f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}",
            f"- command: `{command}`",
            f"- machine: {info.get('nproc')} CPUs ({info.get('cpu', '?')}), shared with other "
            f"jobs while measured; torch {info.get('torch')}, {args.threads} torch thread(s)",
            f"- seeds per method: {args.seeds}; pre-training (CLP) cached before timing "
            f"(warm-up, including any CLP training: {warm:.1f} s)",
            "",
            "## Run log overhead per evaluation",
            "",
            f"- Optuna in-memory storage: {1000 * overhead['memory']:.2f} ms",
            f"- Optuna journal file (fsync on every write): {1000 * overhead['journal']:.2f} ms",
            "",
            "## One run (seconds)",
            "",
            "| method | wall mean | wall max | predictor fit | predictor score | rest |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            "## Estimate of the whole comparison",
            "",
            f"3 datasets x 100 seeds x (sum of the four methods' mean run time, {per_seed_all:.1f} s) "
            f"/ 2 jobs = **{estimate_min:.0f} min** (assumes the two cores are free).",
            "",
        ]
    )
    out = Path(args.out) / "search_cost.md"
    atomic_write_text(out, text)
    print(text)


if __name__ == "__main__":
    main()
