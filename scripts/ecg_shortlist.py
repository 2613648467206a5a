"""Re-score a search run's best archs under the full recipe and choose one (DS1 only).

A search ranks its candidates by a cheap proxy whose ranking is noisy
(``reports/ecg_proxy.md``), and the full recipe's own score of one arch varies by about
0.02 macro-F1 between training seeds. So the arch taken to the final comparison is chosen
here: the ``--top`` archs of the run (``<run>/result.json``, best first by the search
signal) are each scored at ``--fidelity`` (default ``full``: the shipped recipe's 5-fold
DS1 cross-validation) under every ``--seeds`` seed, and the arch with the best mean DS1-CV
macro-F1 is chosen. DS2 is never read.

Rows are appended to ``<run>/shortlist.jsonl`` as they finish (a rerun skips them; run
two processes with ``--shard 0/2`` and ``--shard 1/2``), then ``<out>/<name>.md`` and
``.json`` are written, with the manual and tiny CNNs' DS1-CV figures from
``reports/ecg_final.json`` beside them when that file exists.

    python scripts/ecg_shortlist.py --run runs/ecg-joint-search --top 3 --seeds 0 1 --threads 1
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ecgnas.classifier.proxy import FIDELITIES, BeatCache, scored_row
from ecgnas.errors import EcgnasError, RunError
from ecgnas.spaces.base import Arch

ROWS_FILE = "shortlist.jsonl"
FINAL_JSON = Path(__file__).resolve().parents[1] / "reports" / "ecg_final.json"
CLASSES = ("N", "S", "V", "F")


def top_archs(run: Path, k: int) -> list[dict[str, Any]]:
    """The run's ``k`` best archs by the search signal: ``{"rank", "arch", "score"}``."""
    path = run / "result.json"
    if not path.is_file():
        raise RunError(f"no result.json in {run} (has the search finished?)")
    try:
        top = json.loads(path.read_text())["top"]
        picks = [
            {"rank": r, "arch": Arch.from_json(t["arch"]), "score": float(t["score"])}
            for r, t in enumerate(top[:k], 1)
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise RunError(f"{path}: no readable list of top archs ({exc})") from exc
    if len(picks) < k:
        raise RunError(f"{path} lists {len(picks)} top archs, fewer than --top {k}")
    return picks


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run(args: argparse.Namespace, picks: list[dict[str, Any]]) -> None:
    path = Path(args.run) / ROWS_FILE
    index, count = (int(v) for v in args.shard.split("/"))
    cache = BeatCache()
    jobs = [(seed, p) for seed in args.seeds for p in picks]
    # shards split the jobs, so no other process adds this shard's rows: read them once
    done = {(r["arch"], r["fidelity"], r["seed"]) for r in read_rows(path)}
    for j, (seed, pick) in enumerate(jobs):
        if j % count != index or (pick["arch"].key(), args.fidelity, seed) in done:
            continue
        row = {"rank": pick["rank"], "search_score": pick["score"]} | scored_row(
            pick["arch"], args.fidelity, seed, beats=cache
        )
        with path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(
            f"[{args.fidelity} s{seed}] #{pick['rank']} {row['arch']}: "
            f"DS1-CV macro-F1 {row['macro_f1']:.4f} in {row['seconds']:.0f} s",
            flush=True,
        )


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), (float(arr.std(ddof=1)) if arr.size > 1 else None)


def summarise(
    rows: list[dict[str, Any]], fidelity: str, seeds: list[int], final_json: Path
) -> dict[str, Any]:
    """Per arch (search rank order): its seeds' DS1-CV macro-F1, mean, sd and per-class F1
    means; ``chosen``: the arch with the best mean over all ``seeds`` (``None`` until one
    arch has them all); ``references``: the final runs' DS1-CV figures of other models."""
    by_arch: dict[str, dict[int, dict[str, Any]]] = {}
    for r in rows:
        if r["fidelity"] == fidelity and r["seed"] in seeds:
            by_arch.setdefault(r["arch"], {})[r["seed"]] = r
    archs = []
    for key, runs in sorted(by_arch.items(), key=lambda kv: next(iter(kv[1].values()))["rank"]):
        first = next(iter(runs.values()))
        scores = [runs[s]["macro_f1"] for s in sorted(runs)]
        mean, sd = _mean_sd(scores)
        archs.append(
            {
                "arch": key,
                "rank": first["rank"],
                "search_score": first["search_score"],
                "seeds": sorted(runs),
                "macro_f1": scores,
                "mean": mean,
                "sd": sd,
                "f1_mean": {
                    c: float(np.mean([runs[s]["f1"].get(c) or 0.0 for s in runs])) for c in CLASSES
                },
                "complete": set(seeds) <= set(runs),
            }
        )
    complete = [a for a in archs if a["complete"]]
    chosen = max(complete, key=lambda a: (a["mean"], -a["rank"]))["arch"] if complete else None
    references: dict[str, Any] = {}
    if final_json.exists():
        for name, model in json.loads(final_json.read_text())["models"].items():
            mean, sd = _mean_sd([s["ds1_cv_macro_f1"] for s in model["seeds"]])
            references[name] = {"mean": mean, "sd": sd, "seeds": len(model["seeds"])}
    return {
        "fidelity": fidelity,
        "seeds": seeds,
        "archs": archs,
        "chosen": chosen,
        "references": references,
    }


def render(summary: dict[str, Any], run: str, name: str) -> str:
    def sd(v: float | None) -> str:
        return "" if v is None else f" ± {v:.3f}"

    seeds = summary["seeds"]
    fidelity = summary["fidelity"]
    flag = "" if fidelity == "full" else f" --fidelity {fidelity}"
    lines = [
        f"# Shortlist of `{run}`: its best archs under the `{fidelity}` recipe",
        "",
        f"Written by `python scripts/ecg_shortlist.py --run {run} --top {len(summary['archs'])} "
        f"--seeds {' '.join(map(str, seeds))}{flag} --report-name {name}`. DS1 only: "
        "pooled out-of-fold DS1 cross-validation macro-F1 (N, S, V, F) of each arch under "
        "each training seed; the search score is the proxy the search ranked it by. "
        "DS2 was not read.",
        "",
        "| search rank | arch | search score | "
        + " | ".join(f"seed {s}" for s in seeds)
        + " | mean ± sd | F1 S | F1 V | F1 F |",
        "|---|---|---|" + "---|" * len(seeds) + "---|---|---|---|",
    ]
    for a in summary["archs"]:
        by_seed = dict(zip(a["seeds"], a["macro_f1"]))
        cells = ["–" if s not in by_seed else f"{by_seed[s]:.4f}" for s in seeds]
        f1 = a["f1_mean"]
        lines.append(
            f"| {a['rank']} | `{a['arch']}` | {a['search_score']:.4f} | "
            + " | ".join(cells)
            + f" | {a['mean']:.4f}{sd(a['sd'])} | {f1['S']:.3f} | {f1['V']:.3f} | {f1['F']:.3f} |"
        )
    if summary["references"]:
        lines += ["", "For comparison, the final runs' DS1-CV macro-F1 (`reports/ecg_final.json`):"]
        lines += [
            f"- {m}: {r['mean']:.4f}{sd(r['sd'])} over {r['seeds']} seeds"
            for m, r in summary["references"].items()
        ]
    chosen = summary["chosen"]
    lines += [
        "",
        f"**Chosen: `{chosen}`** (the best mean over the seeds)."
        if chosen
        else "No arch has been scored under every seed yet: nothing chosen.",
    ]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "command", nargs="?", choices=("run", "report"), default="run", help="run (the default)"
    )
    parser.add_argument("--run", required=True, help="the search run directory")
    parser.add_argument("--top", type=int, default=3, help="how many of its best archs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--fidelity", choices=sorted(FIDELITIES), default="full")
    parser.add_argument("--shard", default="0/1", help="i/n: every n-th (seed, arch) from the i-th")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="reports")
    parser.add_argument("--report-name", default="ecg_shortlist")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.top < 1:
        raise SystemExit(f"error: --top must be at least 1, got {args.top}")
    try:
        picks = top_archs(Path(args.run), args.top)
        if args.command == "run":
            import torch

            torch.set_num_threads(args.threads)
            os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
            run(args, picks)
        summary = summarise(
            read_rows(Path(args.run) / ROWS_FILE), args.fidelity, args.seeds, FINAL_JSON
        )
    except EcgnasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = render(summary, args.run, args.report_name)
    (out / f"{args.report_name}.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / f"{args.report_name}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
