"""Candidate-training throughput, before and after the fast proxy (issue 15).

    python scripts/ecg_throughput.py --threads 1 --device cpu      # writes reports/ecg_throughput_cpu.*
    python scripts/ecg_throughput.py --device cuda                 # on a machine with a GPU

Two measurements on the real DS1 records (DS1 only), for the same five ecg1d cells:

* **loop**: one DS1-CV fold at 128 Hz, the cell at width 8, 2 epochs of 4,000 N beats plus
  every S, V, F beat; the trainer as before (validation after every epoch, a ragged last
  batch, a loss read back every step) against the fast loop (one validation pass after the
  last epoch, fixed-shape batches, the loss summed on the device). Reported: training beats
  per second of wall time (validation included, as a candidate pays it).
* **candidate**: the search's cost per candidate. Before: the previous ECG evaluator (a
  holdout split of DS1, 360 Hz, 256-sample windows, width 8, up to 4 epochs with
  early stopping). After: the chosen DS1-CV proxy (``ecgnas.classifier.proxy.PROXY``) on the
  joint-space arch with the same cell (width 8, one cell per stage, stem 7, the beat window,
  raw channel, rhythm RR features, 128 Hz). Reported: wall and CPU seconds per candidate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

CELLS = (
    (2, 0, 2, 0, 0, 2),
    (3, 3, 3, 3, 3, 3),
    (5, 0, 0, 4, 6, 3),
    (1, 4, 2, 5, 0, 3),
    (6, 2, 1, 0, 5, 4),
)


def loop_throughput(
    device: str, epochs: int, cells: tuple[tuple[int, ...], ...]
) -> list[dict[str, Any]]:
    import numpy as np

    from ecgnas.classifier.cv import _take
    from ecgnas.classifier.proxy import BeatCache
    from ecgnas.classifier.recipe import (
        as_arrays,
        ds1_splits,
        model_factory,
        model_settings,
        setup_for,
        train_config,
    )
    from ecgnas.classifier.recipes import get_recipe
    from ecgnas.spaces.ecgjoint import ECGJointSpace
    from ecgnas.train.trainer import train_classifier

    base, hp = get_recipe("r3")
    space = ECGJointSpace()
    rows = []
    for cell in cells:
        arch = space.make(cell, width=8, stem_kernel=7, context="beat", rr="rhythm", fs=128)
        setup = replace(setup_for(arch, base), max_majority=4000)
        beats = BeatCache().get(setup)
        arrays = as_arrays(beats, setup.inputs)
        split = ds1_splits(beats, setup, kfold=True)[0]
        tr = _take(arrays, np.isin(arrays.record, split.train))
        va = _take(arrays, np.isin(arrays.record, split.val))
        settings = model_settings(arch, setup, hp.dropout)
        row: dict[str, Any] = {"cell": list(cell)}
        for mode, changes in (
            ("before", {"watch": True, "fixed_batches": False}),
            ("after", {"watch": False, "fixed_batches": True}),
        ):
            config = replace(
                train_config(replace(hp, epochs=epochs), setup, 0, device), select="last", **changes
            )
            t0 = time.perf_counter()
            result = train_classifier(
                model_factory(arch, settings, hp.dropout, 0), tr, va, config, setup.classes
            )
            wall = time.perf_counter() - t0
            row[mode] = {
                "beats": result.beats_trained,
                "seconds": wall,
                "beats_per_s": result.beats_trained / wall,
            }
        rows.append(row)
        print(
            f"loop {cell}: {row['before']['beats_per_s']:.0f} -> {row['after']['beats_per_s']:.0f} beats/s",
            flush=True,
        )
    return rows


def candidate_cost(device: str, cells: tuple[tuple[int, ...], ...]) -> list[dict[str, Any]]:
    from ecgnas.classifier.proxy import PROXY, CVEvaluator, get_fidelity
    from ecgnas.spaces.base import Arch
    from ecgnas.spaces.ecg1d import ECG1DSpace
    from ecgnas.spaces.ecgjoint import ECGJointSpace
    from ecgnas.train.ecg_data import load_ds1_split
    from ecgnas.train.ecg_evaluator import ECGEvaluator, ProxySettings

    old = ECGEvaluator(ECG1DSpace(), load_ds1_split(), ProxySettings(device=device))
    joint = ECGJointSpace()
    new = CVEvaluator(joint, get_fidelity(PROXY), device=device)
    rows = []
    for cell in cells:
        row: dict[str, Any] = {"cell": list(cell)}
        arch = joint.make(cell, width=8, stem_kernel=7, context="beat", rr="rhythm", fs=128)
        for mode, evaluator, a in (("before", old, Arch("ecg1d", cell)), ("after", new, arch)):
            t0, c0 = time.perf_counter(), time.process_time()
            result = evaluator.evaluate(a)
            row[mode] = {
                "seconds": time.perf_counter() - t0,
                "cpu_seconds": time.process_time() - c0,
                "score": result.score,
            }
        rows.append(row)
        print(
            f"candidate {cell}: {row['before']['seconds']:.1f} s -> {row['after']['seconds']:.1f} s",
            flush=True,
        )
    return rows


def render(payload: dict[str, Any]) -> str:
    def med(rows: list[dict[str, Any]], mode: str, key: str) -> float:
        return statistics.median(r[mode][key] for r in rows)

    loop, cand = payload["loop"], payload["candidate"]
    lines = [
        f"# ECG candidate throughput on {payload['device']} ({payload['threads']} thread(s))",
        "",
        f"Command: `{payload['command']}`; machine: {payload['machine']}. DS1 only. Medians over "
        f"{len(loop)} cells (`scripts/ecg_throughput.py` docstring says what each mode runs). "
        f"1-minute load average {payload['load_average_before']:.1f} before, "
        f"{payload['load_average_after']:.1f} after (other jobs share this machine's CPUs).",
        "",
        "| measurement | before | after | ratio |",
        "|---|---|---|---|",
    ]
    b, a = med(loop, "before", "beats_per_s"), med(loop, "after", "beats_per_s")
    lines.append(
        f"| training loop, beats/s (validation included) | {b:.0f} | {a:.0f} | {a / b:.2f} |"
    )
    b, a = med(cand, "before", "seconds"), med(cand, "after", "seconds")
    lines.append(f"| seconds per candidate (wall) | {b:.1f} | {a:.1f} | {b / a:.2f}x faster |")
    b, a = med(cand, "before", "cpu_seconds"), med(cand, "after", "cpu_seconds")
    lines.append(f"| seconds per candidate (CPU) | {b:.1f} | {a:.1f} | {b / a:.2f}x faster |")
    lines += [
        "",
        "| cell | loop before | loop after | candidate before s | candidate after s |",
        "|---|---|---|---|---|",
    ]
    for lr, cr in zip(loop, cand):
        lines.append(
            f"| {lr['cell']} | {lr['before']['beats_per_s']:.0f} | {lr['after']['beats_per_s']:.0f} "
            f"| {cr['before']['seconds']:.1f} | {cr['after']['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--cells", type=int, default=len(CELLS), help="time the first N cells")
    parser.add_argument("--out", default="reports")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cells = CELLS[: args.cells]
    import torch

    from ecgnas.benchmarks.report import machine_info

    torch.set_num_threads(args.threads)
    payload = {
        "device": args.device,
        "threads": args.threads,
        "command": "python scripts/ecg_throughput.py " + " ".join(sys.argv[1:]),
        "machine": machine_info(),
        "load_average_before": os.getloadavg()[0],
        "loop": loop_throughput(args.device, args.epochs, cells),
        "candidate": candidate_cost(args.device, cells),
        "load_average_after": os.getloadavg()[0],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"ecg_throughput_{args.device.split(':')[0]}"
    (out / f"{stem}.json").write_text(json.dumps(payload, indent=1) + "\n")
    (out / f"{stem}.md").write_text(render(payload))
    print(render(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
