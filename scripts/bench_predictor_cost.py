"""Cost of the DCL predictor on this machine -> ``reports/predictor_cost.md``.

Measures

* CLP on NB201 from cold (no cache: ``pretrain`` is called directly) with the default
  settings and seed 0, for each ``--threads`` value (the library default is 1), and whether
  the result is bit-identical to the encoder shipped in ``ecgnas/assets/encoders``;
* one CLF round (``fit``) of each predictor on 50 / 100 / 150 labelled NB201 cells
  (cifar10-valid signal; median over ``--repeats`` labelled sets), and scoring all other
  cells, with one torch thread.

``--ship SPACE[,SPACE]`` also pre-trains the default encoder (seed 0) of those spaces and
writes it to ``ecgnas/assets/encoders`` (NB201 reuses the timed run). Run from the repository
root::

    python scripts/bench_predictor_cost.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="reports/predictor_cost.md")
    parser.add_argument("--threads", default="1,2", help="torch threads for the CLP timings")
    parser.add_argument("--labels", default="50,100,150")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--variants", default="")
    parser.add_argument("--ship", default="", help="spaces whose encoders to write to assets")
    parser.add_argument(
        "--clp-epochs",
        type=int,
        default=None,
        help="CLP epochs for the timings (default: the NB201 default, 30); a quick check, "
        "not the shipped encoder (cannot be combined with --ship)",
    )
    parser.add_argument(
        "--skip-pool-count",
        action="store_true",
        help="in the table of shipped encoders, give the pool size from their settings (capped "
        "at the space size) instead of rebuilding each pool (NB101's takes about a minute)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.clp_epochs is not None and args.ship:
        parser.error("--clp-epochs times a non-default CLP; it cannot be shipped (drop --ship)")

    import numpy as np
    import torch

    from ecgnas.benchmarks.nb201_table import NB201Table
    from ecgnas.benchmarks.predictor_bench import labelled_sets
    from ecgnas.benchmarks.report import machine_info
    from ecgnas.io import atomic_write_text
    from ecgnas.predictor.pretrain import CLPSettings, pretrain, pretrain_pool
    from ecgnas.predictor.store import EncoderStore, save_entry, shipped_dir
    from ecgnas.predictor.variants import PREDICTOR_NAMES, default_clp, make_predictor
    from ecgnas.spaces.registry import get_space

    threads_before = torch.get_num_threads()
    load_before = os.getloadavg()
    table = NB201Table.load(args.data_dir)
    space = table.space
    archs = space.enumerate()
    signal = table.values("cifar10-valid", "signal")
    settings = default_clp("nb201")
    if args.clp_epochs is not None:
        settings = replace(settings, epochs=args.clp_epochs)
    shipped = EncoderStore(use_shipped=True).find("nb201", settings, 0)
    shipped_in_assets = shipped is not None

    clp_rows = []
    timed = None
    for threads in (int(t) for t in args.threads.split(",") if t):
        t0 = time.perf_counter()
        pre = pretrain(space, settings, seed=0, threads=threads)
        seconds = time.perf_counter() - t0
        same = None
        if shipped is not None:
            same = all(
                pre.state[k].numpy().tobytes() == shipped.state[k].numpy().tobytes()
                for k in shipped.state
            )
        clp_rows.append((threads, seconds, pre.losses[-1], same))
        print(f"CLP nb201, {threads} thread(s): {seconds:.1f} s, identical to shipped: {same}")
        if timed is None or threads == 1:
            timed = pre

    torch.set_num_threads(1)
    labels = [int(n) for n in args.labels.split(",") if n]
    variants = [v for v in args.variants.split(",") if v] or list(PREDICTOR_NAMES)
    fit_rows = []
    for variant in variants:
        fits: dict[int, list[float]] = {n: [] for n in labels}
        scores: list[float] = []
        for seed in range(args.repeats):
            for n, lab in labelled_sets(len(archs), labels, seed).items():
                rest = np.setdiff1d(np.arange(len(archs)), lab)
                p = make_predictor(variant, space, seed, pretrained=timed)
                t0 = time.perf_counter()
                p.fit([archs[i] for i in lab], signal[lab])
                t1 = time.perf_counter()
                p.score([archs[i] for i in rest])
                t2 = time.perf_counter()
                fits[n].append(t1 - t0)
                scores.append(t2 - t1)
        fit_rows.append(
            (variant, {n: statistics.median(v) for n, v in fits.items()}, statistics.median(scores))
        )
        print(variant, {n: round(statistics.median(v), 3) for n, v in fits.items()})

    for name in (s for s in args.ship.split(",") if s):
        sp = get_space(name)
        st = default_clp(name)
        if name == "nb201" and timed is not None:
            pre = timed
        else:
            pre = pretrain(sp, st, seed=0)
        paths = save_entry(shipped_dir(), pre)
        for path in (paths.weights, paths.meta):
            path.chmod(0o644)
        print(f"shipped {name}: {paths.weights} ({paths.weights.stat().st_size} bytes)")
    torch.set_num_threads(threads_before)

    machine = machine_info()
    load_after = os.getloadavg()
    command = "python " + " ".join(
        shlex.quote(a) for a in [sys.argv[0], *(sys.argv[1:] if argv is None else argv)]
    )
    lines = [
        "# Predictor cost (CLP pre-training, CLF rounds)",
        "",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- command: `{command}`",
        f"- machine: {machine.get('nproc')} CPUs ({machine.get('cpu', '?')}), torch "
        f"{machine.get('torch')}; load average (1 min) {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after (the cores are shared, so times include contention)",
        "- CLP settings (NB201 default"
        + (f", but epochs {args.clp_epochs}: --clp-epochs" if args.clp_epochs is not None else "")
        + f"): `{settings.to_json()}`",
        "",
        "## CLP on NB201 (all 15,625 cells, cold: no cache), seed 0",
        "",
        "| torch threads | seconds | final loss | bit-identical to the shipped encoder |",
        "| --- | --- | --- | --- |",
    ]
    for threads, seconds, loss, same in clp_rows:
        ident = "– (none shipped)" if same is None else ("yes" if same else "no")
        lines.append(f"| {threads} | {seconds:.1f} | {loss:.4f} | {ident} |")
    lines += [
        "",
        f"Target: under 300 s. The shipped encoder was {'present' if shipped_in_assets else 'absent'}"
        + (" for these (non-default) CLP settings" if args.clp_epochs is not None else "")
        + " when this ran.",
        "",
        "## One CLF round (`fit`), one torch thread; median seconds over "
        f"{args.repeats} labelled sets",
        "",
        "| predictor | " + " | ".join(f"{n} labels" for n in labels) + " | score 15k cells |",
        "| --- | " + " | ".join("---" for _ in labels) + " | --- |",
    ]
    for variant, fits_by_n, score in fit_rows:
        lines.append(
            f"| `{variant}` | "
            + " | ".join(f"{fits_by_n[n]:.2f}" for n in labels)
            + f" | {score:.2f} |"
        )
    lines += ["", "Target for `dcl`: under 2 s at up to 150 labels.", ""]
    lines += [
        "## Encoders shipped in `ecgnas/assets/encoders` (seed 0, default settings)",
        "",
        "CLP seconds as recorded when each was trained (one torch thread, shared cores).",
        "",
        "| space | unlabeled archs"
        + (" (settings' pool size, not recounted)" if args.skip_pool_count else "")
        + " x epochs | CLP seconds | final loss | file | bytes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for meta_path in sorted(shipped_dir().glob("*.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        weights = meta_path.with_suffix(".safetensors")
        st = meta["settings"]
        if args.skip_pool_count:
            pool = min(st["pool_size"], get_space(meta["space"]).size())
        else:
            pool = len(
                pretrain_pool(get_space(meta["space"]), CLPSettings.from_json(st), meta["seed"])
            )
        lines.append(
            f"| {meta['space']} | {pool} x {st['epochs']} | {meta['seconds']:.1f} | "
            f"{meta['losses'][-1]:.3f} | `{weights.name}` | {weights.stat().st_size} |"
        )
    lines.append("")
    atomic_write_text(Path(args.out), "\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
