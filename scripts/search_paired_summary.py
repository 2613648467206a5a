"""Paired summary of a search benchmark report: how often each method has found the
signal's best arch after k evaluations, and, against each baseline, both one-sided
Wilcoxon tests on the signal and on the test accuracy of the found arch (DCL-ENAS ahead;
DCL-ENAS behind), so that "ahead on the signal, not behind on test" reads off one table.

    python scripts/search_paired_summary.py reports/issue16/search_nb201_cifar100.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", help="search_*.json written by ecgnas benchmark")
    parser.add_argument("--method", default="dcl_enas", help="the method compared")
    parser.add_argument("--found-by", type=int, nargs="+", default=[40, 50, 100])
    return parser


def summarise(report: dict[str, Any], method: str, found_by: list[int]) -> list[str]:
    """The lines printed for one report (``SystemExit`` if ``method`` did not run in it)."""
    from scipy.stats import wilcoxon

    runs: dict[str, dict[int, dict[str, Any]]] = {}
    for run in report["runs"]:
        runs.setdefault(run["method"], {})[int(run["seed"])] = run
    if method not in runs:
        raise SystemExit(f"error: no {method} runs in the report (methods: {', '.join(runs)})")
    seeds = sorted(runs[method])
    lines = ["method | " + " | ".join(f"found by {k}" for k in found_by) + " | mean test"]
    for name, by_seed in runs.items():
        found = [by_seed[s]["found_at"] for s in seeds]
        shares = [np.mean([f is not None and f <= k for f in found]) for k in found_by]
        test = np.mean([by_seed[s]["final_test"] for s in seeds])
        lines.append(f"{name} | " + " | ".join(f"{v:.2f}" for v in shares) + f" | {test:.3f}")
    lines.append(f"{method} against | on | mean diff | W/T/L | p ahead | p behind")
    for name in runs:
        if name == method:
            continue
        for key in ("final_signal", "final_test"):
            diff = np.array([runs[method][s][key] - runs[name][s][key] for s in seeds])
            nz = diff[diff != 0]
            ahead = wilcoxon(nz, alternative="greater").pvalue if len(nz) > 1 else float("nan")
            behind = wilcoxon(nz, alternative="less").pvalue if len(nz) > 1 else float("nan")
            wtl = f"{(diff > 0).sum()}/{(diff == 0).sum()}/{(diff < 0).sum()}"
            lines.append(
                f"{name} | {key} | {diff.mean():+.4f} | {wtl} | {ahead:.2g} | {behind:.2g}"
            )
    return lines


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    for path in args.reports:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        print(f"## {path}")
        print("\n".join(summarise(report, args.method, args.found_by)))


if __name__ == "__main__":
    main()
