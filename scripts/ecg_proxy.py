"""The proxy's fidelity: Kendall tau between cheap DS1-CV proxies and the full recipe, over
archs drawn uniformly from the joint ECG space. Reads DS1 only.

    python scripts/ecg_proxy.py run --fidelity full --archs 40 --threads 1
    python scripts/ecg_proxy.py run --fidelity p_e2k3 --archs 40 --seeds 0 1
    python scripts/ecg_proxy.py report

``run`` scores the first ``--archs`` archs of the fixed sample (``SAMPLE_SEED``) at one
fidelity (``ecgnas.classifier.proxy.FIDELITIES``; ``full`` is the recipe itself) and
training seed, appending one JSON line per (arch, fidelity, seed) to ``<out>/ecg_proxy_runs.jsonl`` as each finishes: an interrupted
run resumes where it stopped, and several processes (one thread each) may work on different
fidelities or ``--shard i/n`` slices at once. ``report`` writes ``<out>/ecg_proxy.{md,json}``:
for each proxy, tau against the full recipe (seed 0), its tau against itself under another
seed (the noise ceiling), seconds per candidate, and tau per second.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ecgnas.benchmarks.ecg_table import table_archs
from ecgnas.classifier.proxy import FIDELITIES, BeatCache, score
from ecgnas.spaces.base import Arch
from ecgnas.spaces.ecgjoint import ECGJointSpace

SAMPLE_SEED = 2026
"""Seed of the arch sample (uniform over the joint space)."""
RUNS_FILE = "ecg_proxy_runs.jsonl"


def sample_archs(n: int) -> list[Arch]:
    """The first ``n`` archs of the fixed uniform sample (distinct canonical hashes)."""
    return table_archs(n, seed=SAMPLE_SEED)


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RUNS_FILE
    fidelity = FIDELITIES[args.fidelity]
    index, count = (int(v) for v in args.shard.split("/"))
    cache = BeatCache()
    archs = list(enumerate(sample_archs(args.archs)))
    if args.reverse:
        archs.reverse()
    for seed in args.seeds:
        for i, arch in archs:
            if i % count != index:
                continue
            done = {(r["arch"], r["fidelity"], r["seed"]) for r in _rows(path)}
            if (arch.key(), args.fidelity, seed) in done:
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            cv = score(arch, fidelity, seed, beats=cache)
            row = {
                "arch": arch.key(),
                "index": i,
                "fidelity": args.fidelity,
                "fidelity_settings": fidelity.to_json(),
                "seed": seed,
                "macro_f1": cv.score,
                "f1": {k: (None if np.isnan(v) else v) for k, v in cv.per_class_f1().items()},
                "seconds": time.perf_counter() - t0,
                "cpu_seconds": time.process_time() - c0,
                "values": ECGJointSpace().values(arch),
            }
            with path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(
                f"[{args.fidelity} s{seed}] {i:3d} {arch.key()}: "
                f"{cv.score:.4f} in {row['seconds']:.0f} s",
                flush=True,
            )


def kendall_tau(a: list[float], b: list[float]) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for r in rows:
        by.setdefault((r["fidelity"], r["seed"]), {})[r["arch"]] = r
    full = by.get(("full", 0), {})
    out: dict[str, Any] = {"full_archs": len(full), "proxies": {}}
    for name in FIDELITIES:
        runs = by.get((name, 0), {})
        common = sorted(set(runs) & set(full))
        entry: dict[str, Any] = {
            "settings": FIDELITIES[name].to_json(),
            "archs": len(runs),
            "seconds_mean": float(np.mean([r["seconds"] for r in runs.values()])) if runs else None,
        }
        if len(common) >= 5 and name != "full":
            entry["tau_vs_full"] = kendall_tau(
                [runs[a]["macro_f1"] for a in common], [full[a]["macro_f1"] for a in common]
            )
            entry["n_vs_full"] = len(common)
        other = by.get((name, 1), {})
        both = sorted(set(runs) & set(other))
        if len(both) >= 5:
            entry["tau_seed"] = kendall_tau(
                [runs[a]["macro_f1"] for a in both], [other[a]["macro_f1"] for a in both]
            )
            entry["n_seed"] = len(both)
        if entry.get("tau_vs_full") is not None and entry["seconds_mean"]:
            entry["tau_per_second"] = entry["tau_vs_full"] / entry["seconds_mean"]
        out["proxies"][name] = entry
    return out


def render(summary: dict[str, Any]) -> str:
    lines = [
        "# ECG proxy fidelity (DS1 cross-validation only)",
        "",
        "Rendered from `reports/ecg_proxy_runs.jsonl` by `python scripts/ecg_proxy.py report`.",
        f"Archs: drawn uniformly from the `ecgjoint` space (sample seed {SAMPLE_SEED}). "
        "Signal: pooled out-of-fold DS1-CV macro-F1 (N, S, V, F). `full` is the shipped "
        "recipe r3 (5 folds, 8 epochs, 12,000 N beats per epoch) at the arch's own settings. "
        "Seconds are wall seconds per candidate on one CPU thread of this machine.",
        "",
        f"Full-recipe archs scored: {summary['full_archs']}.",
        "",
        "| fidelity | archs | s / candidate | tau vs full (n) | tau vs itself, seed 1 (n) "
        "| tau per s |",
        "|---|---|---|---|---|---|",
    ]

    def fmt(v: Any, spec: str = ".3f") -> str:
        return "–" if v is None else format(v, spec)

    for name, e in summary["proxies"].items():
        lines.append(
            f"| {name} | {e['archs']} | {fmt(e['seconds_mean'], '.1f')} "
            f"| {fmt(e.get('tau_vs_full'))} ({e.get('n_vs_full', 0)}) "
            f"| {fmt(e.get('tau_seed'))} ({e.get('n_seed', 0)}) "
            f"| {fmt(e.get('tau_per_second'), '.4f')} |"
        )
    return "\n".join(lines) + "\n"


def report(args: argparse.Namespace) -> None:
    out = Path(args.out)
    summary = summarise(_rows(out / RUNS_FILE))
    (out / "ecg_proxy.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    (out / "ecg_proxy.md").write_text(render(summary))
    print(render(summary))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="score archs at one fidelity")
    p_run.add_argument("--fidelity", choices=sorted(FIDELITIES), required=True)
    p_run.add_argument("--archs", type=int, default=40)
    p_run.add_argument("--seeds", type=int, nargs="+", default=[0])
    p_run.add_argument("--shard", default="0/1", help="i/n: every n-th arch from the i-th")
    p_run.add_argument("--threads", type=int, default=1)
    p_run.add_argument(
        "--reverse", action="store_true", help="last arch first (a second process on the same runs)"
    )
    p_rep = sub.add_parser("report", help="write ecg_proxy.md/.json")
    for p in (p_run, p_rep):
        p.add_argument("--out", default="reports")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.command == "run":
        import torch

        torch.set_num_threads(args.threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
        run(args)
    else:
        report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
