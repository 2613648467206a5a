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
from types import SimpleNamespace
from typing import Any

import numpy as np


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", help="search_*.json written by ecgnas benchmark")
    parser.add_argument("--method", default="dcl_enas", help="the method compared")
    parser.add_argument("--found-by", type=int, nargs="+", default=[40, 50, 100])
    return parser


def summarise(report: dict[str, Any], method: str, found_by: list[int]) -> list[str]:
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
    return lines


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    for path in args.reports:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        print(f"## {path}")
        print("\n".join(summarise(report, args.method, args.found_by)))


if __name__ == "__main__":
    main()
