"""What a classifier costs on a small device: parameters, bytes on disk, latency per beat.

* ``parameter_count``: the trainable parameters of the bundle's whole model (every member
  of an ensemble; batch-norm running statistics and temperatures are buffers, not counted).
* ``latency_per_beat``: ONNX Runtime on the CPU, one intra-op thread, sequential execution,
  batch 1 (one beat and its RR features per call): ``warmup`` calls discarded, then the
  wall time (``time.perf_counter_ns``) of each of ``runs`` calls; the median is the figure,
  the 10th and 90th percentiles show the spread. The time is the whole ``session.run``
  call from Python (binding the inputs included), on whatever CPU runs it, so it is a
  figure for this machine, not for a wearable's microcontroller.
* ``footprint_card``: the model-card section stating these figures.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgnas.errors import ConfigError

if TYPE_CHECKING:
    from ecgnas.classifier.predict import Classifier


def parameter_count(classifier: Classifier) -> int:
    """Trainable parameters of the classifier's model (all ensemble members)."""
    return int(sum(p.numel() for p in classifier.model.parameters()))


def file_size(path: str | os.PathLike[str]) -> int:
    """Bytes of a file on disk."""
    return Path(path).stat().st_size


@dataclass(frozen=True)
class Latency:
    """Per-call wall time of one beat (batch 1), microseconds."""

    median_us: float
    p10_us: float
    p90_us: float
    runs: int
    warmup: int
    threads: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def latency_per_beat(
    path: str | os.PathLike[str],
    beat: tuple[np.ndarray, np.ndarray],
    *,
    runs: int = 2000,
    warmup: int = 200,
    threads: int = 1,
) -> Latency:
    """The latency of one ONNX file on one beat ``(beats [1, C, W], rr [1, k])`` (see the
    module docstring). ``ConfigError`` for ``runs < 1`` or a batch other than one."""
    from ecgnas.classifier.export import INPUT_NAMES
    from ecgnas.classifier.quantize import onnx_session

    x, rr = beat
    if runs < 1 or warmup < 0:
        raise ConfigError(f"latency needs runs >= 1 and warmup >= 0, got {runs} and {warmup}")
    if len(x) != 1 or len(rr) != 1:
        raise ConfigError(f"latency is for one beat (batch 1), got a batch of {len(x)}")
    session = onnx_session(path, threads=threads)
    feed = {
        INPUT_NAMES[0]: np.ascontiguousarray(x, np.float32),
        INPUT_NAMES[1]: np.ascontiguousarray(rr, np.float32),
    }
    for _ in range(warmup):
        session.run(None, feed)
    times = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter_ns()
        session.run(None, feed)
        times[i] = time.perf_counter_ns() - t0
    p10, median, p90 = np.percentile(times / 1000.0, [10, 50, 90])
    return Latency(float(median), float(p10), float(p90), runs, warmup, threads)


def footprint_card(
    params: int, sizes: Mapping[str, int], latency: Mapping[str, Latency], report: str
) -> str:
    """A model-card section: parameters, file sizes (bytes) and latencies by format name."""
    lines = [
        "## Footprint",
        "",
        f"- Parameters: **{params:,}** (all ensemble members).",
        "- Size on disk: "
        + ", ".join(f"{name} {size:,} bytes" for name, size in sizes.items())
        + ".",
        "- Latency for one beat (ONNX Runtime, CPU, one thread, batch 1; median of "
        f"{next(iter(latency.values())).runs if latency else 0} runs after warm-up, on the "
        "machine that made the report, not a wearable): "
        + ", ".join(f"{name} {lat.median_us:.0f} µs" for name, lat in latency.items())
        + ".",
        f"- Accuracy of the int8 and float16 files beside the float one: `{report}`.",
        "",
    ]
    return "\n".join(lines)
