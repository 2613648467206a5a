"""Throughput of the default ECG training loop: beats per second and the share of each epoch
spent outside model compute (batch assembly, augmentation, metrics, logging).

Trains fixed ecg1d archs on the real DS1-train records (N beats capped per epoch as in search,
and uncapped) and validates on DS1-val, for each torch thread count asked, and writes
``reports/training_throughput.md``.

    python scripts/bench_training.py [--threads 1 2] [--epochs 2] [--device auto]

``--archs light``, ``--caps 4000`` time only some of the runs (default: both archs, with and
without the N cap).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

#: the timed ecg1d cells: name on the command line -> (label in the report, ops)
ARCHS = {
    "light": ("light (conv_k3 chain)", (2, 0, 2, 0, 0, 2)),
    "heavy": ("heavy (all conv_k9)", (3, 3, 3, 3, 3, 3)),
}


def _cap(text: str) -> int | None:
    return None if text == "all" else int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--width", type=int, nargs="+", default=[8, 16])
    parser.add_argument(
        "--archs", nargs="+", choices=tuple(ARCHS), default=list(ARCHS), help="cells to time"
    )
    parser.add_argument(
        "--caps",
        type=_cap,
        nargs="+",
        default=[4000, None],
        metavar="N|all",
        help="N beats per training epoch, one run each ('all': no cap; default: 4000 all)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="reports/training_throughput.md")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    import numpy as np
    import torch

    from ecgnas.benchmarks.report import machine_info
    from ecgnas.io import atomic_write_text
    from ecgnas.spaces.base import Arch
    from ecgnas.train.ecg_data import load_ds1_split
    from ecgnas.train.models import build_ecg_model, default_settings
    from ecgnas.train.trainer import TrainConfig, train_classifier

    t0 = time.perf_counter()
    data = load_ds1_split()
    load_s = time.perf_counter() - t0
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, ops in (ARCHS[a] for a in args.archs):
            arch = Arch("ecg1d", ops)
            for width in args.width:
                for cap in args.caps:
                    settings = default_settings(arch)
                    settings["width"] = width
                    config = TrainConfig(
                        epochs=args.epochs,
                        patience=args.epochs,
                        max_majority_per_epoch=cap,
                        device=args.device,
                    )
                    res = train_classifier(
                        lambda a=arch, s=settings: build_ecg_model(a, s, seed=0),
                        data.train,
                        data.val,
                        config,
                        data.classes,
                    )
                    ep = res.history
                    epoch_s = np.array([h["epoch_seconds"] for h in ep])
                    comp_s = np.array([h["compute_seconds"] for h in ep])
                    n_val = len(data.val)
                    n_train = res.beats_trained / len(ep)
                    rows.append(
                        {
                            "threads": threads,
                            "arch": name,
                            "width": width,
                            "cap": f"{cap:,} N/epoch" if cap else "all beats",
                            "train_beats_epoch": int(n_train),
                            "beats_s": (n_train + n_val) / epoch_s.mean(),
                            "train_beats_s": n_train / epoch_s.mean(),
                            "outside": float(1 - comp_s.sum() / epoch_s.sum()),
                            "epoch_s": float(epoch_s.mean()),
                            "device": res.device,
                        }
                    )
                    print(rows[-1], flush=True)
    info = machine_info()
    lines = [
        "# Training throughput (the default ECG training loop)",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}",
        f"- machine: {info.get('cpu', '?')}, {info['nproc']} cores; torch {info.get('torch')}",
        f"- command: `python {' '.join(sys.argv if argv is None else [sys.argv[0], *argv])}`",
        f"- data: DS1-train {len(data.train):,} beats ({', '.join(data.split.train)}), "
        f"DS1-val {len(data.val):,} beats ({', '.join(data.split.val)}); loaded from the cache in {load_s:.1f} s",
        "- beats/s counts training beats plus the validation pass of every epoch, over the whole epoch's "
        "wall time; *outside compute* is the share of the epoch spent outside forward/backward/optimiser "
        "steps and the validation forward (batch assembly, shuffling, metrics, logging).",
        "",
        "| threads | arch | width | N beats | train beats/epoch | epoch s | beats/s (train+val) | train beats/s | outside compute |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['threads']} | {r['arch']} | {r['width']} | {r['cap']} | {r['train_beats_epoch']:,} | "
            f"{r['epoch_s']:.1f} | {r['beats_s']:,.0f} | {r['train_beats_s']:,.0f} | {100 * r['outside']:.1f} % |"
        )
    worst = max(r["outside"] for r in rows)
    lines += [
        "",
        f"Largest share outside model compute: {100 * worst:.1f} % (target: under 10 %).",
        "",
    ]
    atomic_write_text(Path(args.out), "\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
