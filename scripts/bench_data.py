"""Measure the MIT-BIH pipeline and write ``reports/data_pipeline.md``.

Measures, on the 44 non-paced records (DS1 + DS2) with the default ``PreprocessConfig``:

1. preparing them all from scratch into a fresh temporary cache,
2. loading them all back from that cache (in this process, and in a fresh Python process
   including interpreter start and imports),
3. the ``BeatLoader`` throughput (shuffled batches of 256, beats/s), next to a per-item
   ``torch.utils.data.DataLoader`` and one training step of a small 1-D CNN for scale,
4. with ``--detector``: preparing with ``rpeaks="detector"`` (XQRS) and its match rates.

Usage::

    python scripts/bench_data.py [--data-dir ../shared/data] [--detector] [--out reports/data_pipeline.md]

``--detector-records N`` (with ``--detector``) prepares only the first N records of DS1 and
of DS2 with XQRS, for a quick check; the report says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _versions() -> str:
    import scipy
    import torch
    import wfdb

    return (
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"torch {torch.__version__}, wfdb {wfdb.__version__}"
    )


def _subprocess_load(data_dir: Path, cache_dir: Path) -> float:
    code = (
        "import time; t = time.perf_counter();"
        "from ecgnas.data import DS1, DS2, load_beats;"
        f"b = load_beats(DS1 + DS2, data_dir={str(data_dir)!r}, cache_dir={str(cache_dir)!r});"
        "print(time.perf_counter() - t, len(b))"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def _epoch_rate(loader) -> float:
    n = 0
    start = time.perf_counter()
    for batch in loader:
        n += batch.y.shape[0]
    return n / (time.perf_counter() - start)


def _loader_throughput(beats, epochs: int = 5) -> tuple[float, float, float]:
    """Median beats/s over ``epochs`` shuffled epochs after one warm-up epoch; the per-item
    DataLoader gets one epoch; the CNN step is the median of 20 steps after 3 warm-up steps."""
    import torch

    from ecgnas.data import BeatDataset, BeatLoader

    # On a shared 2-core machine, torch's default 2 intra-op threads spin against other
    # jobs and run ~20x slower; one thread is the honest steady-state number.
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    loader = BeatLoader(beats, batch_size=256, shuffle=True, generator=g)
    _epoch_rate(loader)
    fast = float(np.median([_epoch_rate(loader) for _ in range(epochs)]))
    per_item = torch.utils.data.DataLoader(
        BeatDataset(beats), batch_size=256, shuffle=True, generator=g
    )
    slow = _epoch_rate(per_item)

    model = torch.nn.Sequential(
        torch.nn.Conv1d(1, 16, 7, padding=3),
        torch.nn.ReLU(),
        torch.nn.MaxPool1d(4),
        torch.nn.Conv1d(16, 32, 7, padding=3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(32, 5),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    batch = next(iter(loader))
    times = []
    for step in range(23):
        start = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(batch.x), batch.y)
        loss.backward()
        opt.step()
        if step >= 3:
            times.append(time.perf_counter() - start)
    train = 256 / float(np.median(times))
    return fast, slow, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("ECGNAS_DATA_DIR", str(REPO.parent / "shared" / "data")),
    )
    parser.add_argument("--out", default="reports/data_pipeline.md")
    parser.add_argument("--detector", action="store_true", help="also prepare with XQRS R peaks")
    parser.add_argument(
        "--detector-records",
        type=int,
        default=None,
        metavar="N",
        help="with --detector: only the first N records of DS1 and of DS2 (default: all)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = shlex.join(
        ["python", "scripts/bench_data.py", *(sys.argv[1:] if argv is None else argv)]
    )

    from ecgnas.data import DS1, DS2, PreprocessConfig, load_beats, prepare_records
    from ecgnas.data.cache import config_cache_dir

    data_dir = Path(args.data_dir)
    records = DS1 + DS2
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ecgnas-bench-") as tmp:
        cache_dir = Path(tmp)
        _, t_prepare = _timed(
            lambda: prepare_records(records, data_dir=data_dir, cache_dir=cache_dir)
        )
        beats, t_load = _timed(lambda: load_beats(records, data_dir=data_dir, cache_dir=cache_dir))
        t_load_proc = _subprocess_load(data_dir, cache_dir)
        entries = list(config_cache_dir(PreprocessConfig(), cache_dir).glob("*.npz"))
        cache_mb = sum(p.stat().st_size for p in entries) / 1e6
        fast, slow, train = _loader_throughput(beats)
        detector_rows: list[str] = []
        if args.detector:
            cfg = PreprocessConfig(rpeaks="detector")
            for name, recs in (("DS1", DS1), ("DS2", DS2)):
                if args.detector_records is not None and args.detector_records < len(recs):
                    recs = recs[: args.detector_records]
                    name = f"{name} (first {len(recs)} records only)"
                prepared, t_det = _timed(
                    lambda recs=recs: prepare_records(
                        recs, cfg, data_dir=data_dir, cache_dir=cache_dir
                    )
                )
                ann = np.sum([p.stats.annotated for p in prepared], axis=0)
                missed = np.sum([p.stats.missed for p in prepared], axis=0)
                det = sum(p.stats.detections for p in prepared)
                fp = sum(p.stats.unmatched_detections for p in prepared)
                rates = " / ".join(
                    f"{c} {100 * (1 - m / a):.1f} %" if a else f"{c} -"
                    for c, a, m in zip("NSVFQ", ann, missed, strict=True)
                )
                detector_rows.append(
                    f"| {name} | {t_det:.1f} s | {100 * (1 - missed.sum() / ann.sum()):.2f} % "
                    f"| {rates} | {det:,} | {fp:,} |"
                )
    load_after = os.getloadavg()

    text = f"""# MIT-BIH data pipeline: measurements

- Date: {dt.datetime.now().isoformat(timespec="seconds")}
- Machine: {os.cpu_count()} CPUs (`nproc`: {len(os.sched_getaffinity(0))}), {platform.machine()}, {platform.system()}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after (the machine is shared, timings are noisy)
- Software: {_versions()}
- Data: `{data_dir}/mitdb`, the 44 non-paced records (DS1 + DS2), default `PreprocessConfig` (baseline median filters, no band-pass, z-score, 90 + 166 sample windows, reference R peaks), hash `{PreprocessConfig().digest()[:16]}`
- Command: `{command}`

| measurement | result | target |
|---|---|---|
| prepare 44 records from scratch (read, filter, cut, cache) | {t_prepare:.1f} s | < 120 s |
| load 44 records from the cache, in process | {t_load:.2f} s | < 5 s |
| load 44 records from the cache, fresh Python process incl. imports | {t_load_proc:.2f} s | < 5 s |
| beats loaded | {len(beats):,} ({beats.x.nbytes / 1e6:.0f} MB of windows in memory) | |
| cache size on disk | {cache_mb:.0f} MB in {len(entries)} files | |
| `BeatLoader`, shuffled batches of 256 (median of 5 epochs; torch 1 thread) | {fast:,.0f} beats/s | |
| per-item `torch.utils.data.DataLoader` over `BeatDataset`, batches of 256 | {slow:,.0f} beats/s | (for comparison) |
| one SGD step of a 2-layer 1-D CNN (16/32 channels), batch of 256, CPU (median) | {train:,.0f} beats/s | (for scale) |
"""
    if detector_rows:
        text += (
            """
## R peaks from the XQRS detector (`rpeaks="detector"`, 150 ms matching)

| split | prepare time | reference beats matched | matched per class | detections | unmatched detections (excluded) |
|---|---|---|---|---|---|
"""
            + "\n".join(detector_rows)
            + "\n"
        )
    out = Path(args.out)
    from ecgnas.io import atomic_write_text

    atomic_write_text(out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
