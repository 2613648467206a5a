"""Time the arch encodings and size the ECG networks; write ``reports/encodings.md``.

Usage::

    python scripts/bench_encodings.py [--out reports/encodings.md] [--threads 1]

Measures, on this machine:

* path encoding of all 15,625 NB201 cells and of the ECG space (a 15,625 sample and all
  117,649 cells);
* graph encoding + torch-geometric batching of the same sets, cold (a fresh space, every
  ``to_graph`` computed) and cached (the same space again, graphs from its cache);
* parameters and MACs of 200 random ECG archs at the default ``ECGModelConfig``;
* forward latency of those networks at the default config (batch 1 and batch 256, eval
  mode, no gradients), over a sample of 20 of them.

Times are the best of ``--repeats`` runs (the first, cold run is reported separately where
it differs in kind). Targets from the issue: path encoding of all NB201 cells < 2 s; graph
batching of all of them < 10 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Fastest wall time of ``repeats`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_space(name: str, archs_label: str, make_archs: Callable, repeats: int) -> list[str]:
    """Rows of the encoding table for one set of archs."""
    from ecgnas.spaces import get_space
    from ecgnas.spaces.encodings import graph_batch

    space = get_space(name)
    archs = make_archs(space)
    path_s = best_of(lambda: space.path_encoding(archs), repeats)
    cold = []
    for _ in range(repeats):
        fresh = get_space(name)
        t0 = time.perf_counter()
        batch = graph_batch(fresh, archs)
        cold.append(time.perf_counter() - t0)
    warm_space = get_space(name)
    graph_batch(warm_space, archs)
    cached_s = best_of(lambda: graph_batch(warm_space, archs), repeats)
    return [
        f"| {name} | {archs_label} | {len(archs):,} | {space.path_length} | {path_s:.3f} | "
        f"{min(cold):.3f} | {cached_s:.3f} | {batch.x.shape[0]:,} / {batch.edge_index.shape[1]:,} |"
    ]


def bench_models(n_archs: int, n_timed: int, repeats: int) -> list[str]:
    import torch

    from ecgnas.spaces import get_space
    from ecgnas.spaces.ecg1d_model import (
        ECGModelConfig,
        build_model,
        cell_plan,
        count_flops,
        count_params,
    )

    config = ECGModelConfig()
    space = get_space("ecg1d")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(n_archs)]
    params, macs, models = [], [], []
    for i, arch in enumerate(archs):
        model = build_model(arch, config, seed=i).eval()
        params.append(count_params(model))
        macs.append(count_flops(model))
        models.append(model)

    def stats(values: list[float]) -> str:
        return f"{min(values):,.0f} | {statistics.median(values):,.0f} | {max(values):,.0f}"

    lat1, lat256 = [], []
    with torch.no_grad():
        for model in models[:n_timed]:
            one = (torch.randn(1, 1, config.input_len), torch.randn(1, config.n_rr))
            many = (torch.randn(256, 1, config.input_len), torch.randn(256, config.n_rr))
            model(*one), model(*many)  # warm-up
            lat1.append(best_of(lambda m=model, x=one: m(*x), repeats) * 1e3)
            lat256.append(best_of(lambda m=model, x=many: m(*x), repeats) * 1e3)
    return [
        f"Default `ECGModelConfig`: `{json.dumps(config.to_json())}`",
        "",
        "| quantity | min | median | max |",
        "| --- | ---: | ---: | ---: |",
        f"| parameters ({n_archs} random archs, seed 0) | {stats(params)} |",
        f"| MACs per beat ({n_archs} random archs) | {stats(macs)} |",
        f"| forward latency, batch 1, ms (first {n_timed} archs) | "
        f"{min(lat1):.2f} | {statistics.median(lat1):.2f} | {max(lat1):.2f} |",
        f"| forward latency, batch 256, ms (first {n_timed} archs) | "
        f"{min(lat256):.1f} | {statistics.median(lat256):.1f} | {max(lat256):.1f} |",
        "",
        f"Cells with no live input-to-output route among the {n_archs}: "
        f"{sum(1 for a in archs if not cell_plan(a.ops))} (their networks still run: the "
        "reduction blocks and the RR features carry the signal).",
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/encodings.md"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    import torch
    import torch_geometric

    from ecgnas.io import atomic_write_text
    from ecgnas.spaces import Arch, SearchSpace

    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    def ecg_sample(space: SearchSpace) -> list[Arch]:
        rng = np.random.default_rng(0)
        return [space.sample(rng) for _ in range(15_625)]

    rows = ["| space | archs | n | path bits | path encoding, s | graph batch cold, s | "
            "graph batch cached, s | nodes / edges |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    rows += bench_space("nb201", "all", lambda s: s.enumerate(), args.repeats)
    rows += bench_space("ecg1d", "random sample (seed 0)", ecg_sample, args.repeats)
    rows += bench_space("ecg1d", "all", lambda s: s.enumerate(), args.repeats)
    model_rows = bench_models(200, 20, args.repeats)
    elapsed = time.perf_counter() - started

    load = os.getloadavg()
    command = "python scripts/bench_encodings.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    text = "\n".join(
        [
            "# Encodings and ECG network sizes",
            "",
            f"Written by `{command.strip()}` on {dt.datetime.now().isoformat(timespec='seconds')} "
            f"in {elapsed:.0f} s.",
            "",
            f"Machine: {platform.machine()}, `nproc` = {os.cpu_count()}, load average "
            f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min; the CPUs are shared), "
            f"torch threads {torch.get_num_threads()}. Python {platform.python_version()}, "
            f"numpy {np.__version__}, torch {torch.__version__}, "
            f"torch-geometric {torch_geometric.__version__}.",
            "",
            "## Encodings",
            "",
            f"Best of {args.repeats} runs. *Cold*: a fresh space, every graph built, then batched. "
            "*Cached*: the same space again (graphs come from its per-instance cache). "
            "Targets: path encoding of all NB201 cells < 2 s; graph batching of all NB201 "
            "cells < 10 s.",
            "",
            *rows,
            "",
            "## ECG networks (`ecg1d`, default config)",
            "",
            *model_rows,
            "",
            "MACs follow `count_flops` (NB201 convention: conv and linear multiply-accumulates, "
            "one per bias element; BN, ReLU, pooling not counted); parameters are trainable ones. "
            "Latency is CPU wall time, eval mode, no gradients, best of "
            f"{args.repeats} after a warm-up.",
            "",
        ]
    )
    atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
