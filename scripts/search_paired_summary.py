"""Paired summary of a search benchmark report: how often each method has found the
signal's best arch after k evaluations, and, against each baseline, both one-sided
Wilcoxon tests on the signal and on the test accuracy of the found arch (DCL-ENAS ahead;
DCL-ENAS behind), so that "ahead on the signal, not behind on test" reads off one table.
Where the runs keep their curves: after how many evaluations the method's mean curve
reaches each baseline's final mean, with a 95 % bootstrap interval over the paired seeds
and the share of bootstrap draws at or under half the budget. ``--pool`` reads several
reports (disjoint seeds of one benchmark) as one.

    python scripts/search_paired_summary.py reports/issue16/search_nb201_cifar100.json
    python scripts/search_paired_summary.py --pool reports/search_ecg.json reports/issue15/search_ecg.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", help="search_*.json written by ecgnas benchmark")
    parser.add_argument("--method", default="dcl_enas", help="the method compared")
    parser.add_argument("--found-by", type=int, nargs="+", default=[40, 50, 100])
    parser.add_argument(
        "--pool", action="store_true", help="read the reports as one (disjoint seeds)"
    )
    parser.add_argument(
        "--boot", type=int, default=2000, help="bootstrap draws for the evaluations to reach"
    )
    return parser


BootRow = tuple[int | None, float, float, float]


def reach_interval(
    method: list[list[float]], baseline: list[list[float]], n_boot: int, seed: int = 0
) -> BootRow:
    """Evaluations after which the mean of ``method``'s curves reaches the mean final value
    of ``baseline``'s (row i of both: the same seed), a 95 % bootstrap interval over seeds
    (resampled in pairs; a draw that never reaches counts as the budget + 1) and the share
    of draws at or under half the budget."""
    from ecgnas.benchmarks.report import evals_to_reach

    m, b = np.asarray(method, dtype=float), np.asarray(baseline, dtype=float)
    budget = m.shape[1]
    point = evals_to_reach(m.mean(axis=0), float(b[:, -1].mean()))
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        i = rng.integers(0, len(m), len(m))
        reach = evals_to_reach(m[i].mean(axis=0), float(b[i, -1].mean()))
        draws.append(budget + 1 if reach is None else reach)
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return point, float(lo), float(hi), float(np.mean(np.asarray(draws) <= budget // 2))


def _curves(records: list[SimpleNamespace], seeds: list[int]) -> list[list[float]] | None:
    """The runs' best-so-far signal curves in ``seeds`` order, or None when a run lacks one
    or their lengths differ."""
    by_seed = {r.seed: r for r in records}
    curves: list[list[float]] = []
    for s in seeds:
        curve = getattr(by_seed[s], "curve_signal", None)
        if curve is None:
            return None
        curves.append(list(curve))
    return curves if len({len(c) for c in curves}) == 1 else None


def summarise(
    report: dict[str, Any], method: str, found_by: list[int], n_boot: int = 2000
) -> list[str]:
    """The lines printed for one report (``SystemExit`` if ``method`` did not run in it).

    Both tests are the benchmark report's own ``paired_test``: ``method`` beating the
    baseline ("ahead"), and the baseline beating ``method`` ("behind")."""
    from ecgnas.benchmarks.report import paired_test

    runs: dict[str, list[SimpleNamespace]] = {}
    for run in report["runs"]:
        runs.setdefault(run["method"], []).append(SimpleNamespace(**run))
    if method not in runs:
        raise SystemExit(f"error: no {method} runs in the report (methods: {', '.join(runs)})")
    lines = ["method | " + " | ".join(f"found by {k}" for k in found_by) + " | mean test"]
    for name, records in runs.items():
        shares = [
            np.mean([r.found_at is not None and r.found_at <= k for r in records]) for k in found_by
        ]
        test = np.mean([r.final_test for r in records])
        lines.append(f"{name} | " + " | ".join(f"{v:.2f}" for v in shares) + f" | {test:.3f}")
    lines.append(f"{method} against | on | mean diff | W/T/L | p ahead | p behind")
    for name, records in runs.items():
        if name == method:
            continue
        for key in ("final_signal", "final_test"):
            ahead = paired_test(runs[method], records, key)
            behind = paired_test(records, runs[method], key)
            wtl = f"{ahead['wins']}/{ahead['ties']}/{ahead['losses']}"
            p_ahead, p_behind = (
                float("nan") if t["p_value"] is None else t["p_value"] for t in (ahead, behind)
            )
            lines.append(
                f"{name} | {key} | {ahead['mean_difference']:+.4f} | {wtl} | "
                f"{p_ahead:.2g} | {p_behind:.2g}"
            )
    reach_lines = []
    for name, records in runs.items():
        seeds = sorted({r.seed for r in runs[method]} & {r.seed for r in records})
        if name == method or not seeds:
            continue
        mine, theirs = _curves(runs[method], seeds), _curves(records, seeds)
        if mine is None or theirs is None or len(mine[0]) != len(theirs[0]):
            continue
        point, lo, hi, share = reach_interval(mine, theirs, n_boot)
        reach_lines.append(
            f"{name} | {len(seeds)} | {point if point is not None else 'not reached'} "
            f"| [{lo:.0f}, {hi:.0f}] | {share:.2f}"
        )
    if reach_lines:
        lines.append(
            f"{method} reaches the final mean of | seeds | after evals | 95 % bootstrap "
            "interval | share of draws at <= half the budget"
        )
        lines += reach_lines
    return lines


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    reports = {path: json.loads(Path(path).read_text(encoding="utf-8")) for path in args.reports}
    if args.pool:
        runs = [run for report in reports.values() for run in report["runs"]]
        keys = [(r["method"], r["seed"]) for r in runs]
        if len(set(keys)) != len(keys):
            raise SystemExit("error: --pool needs reports with disjoint seeds per method")
        reports = {" + ".join(args.reports): {"runs": runs}}
    for path, report in reports.items():
        print(f"## {path}")
        print("\n".join(summarise(report, args.method, args.found_by, args.boot)))


if __name__ == "__main__":
    main()
