"""Fixtures for the data-pipeline tests: small WFDB records written by the test itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

FS = 360
N_SAMPLES = 40 * FS
QRS_SHIFT_V5 = 40  # the V5 decoy channel peaks 40 samples after MLII


@dataclass(frozen=True)
class SyntheticRecord:
    """What the test wrote: beat positions/symbols and the non-beat annotations."""

    name: str
    beat_samples: np.ndarray  # int64, AAMI beats only, sorted
    beat_symbols: tuple[str, ...]
    all_samples: np.ndarray  # every annotation, sorted
    all_symbols: tuple[str, ...]


def _signal(peaks: np.ndarray, rng: np.random.Generator, shift: int, sign: float) -> np.ndarray:
    t = np.arange(N_SAMPLES)
    sig = 0.4 * np.sin(2 * np.pi * 0.25 * t / FS)  # baseline wander, mV
    for r in peaks:
        sig += sign * 1.5 * np.exp(-0.5 * ((t - r - shift) / 3.0) ** 2)  # QRS
        sig += 0.3 * np.exp(-0.5 * ((t - r - shift - 100) / 15.0) ** 2)  # T wave
    return sig + 0.01 * rng.standard_normal(N_SAMPLES)


def write_record(directory: Path, name: str, seed: int) -> SyntheticRecord:
    """Write ``<directory>/<name>.{hea,dat,atr}``: MLII as the *second* channel."""
    import wfdb

    rng = np.random.default_rng(seed)
    rr_pattern = np.array([300, 360, 250, 400, 330, 280])
    peaks = [40]  # first beat: its window falls off the start
    while peaks[-1] + rr_pattern[len(peaks) % 6] < N_SAMPLES - 60:
        peaks.append(peaks[-1] + int(rr_pattern[len(peaks) % 6]))
    peaks.append(N_SAMPLES - 60)  # last beat: its window falls off the end
    beat_samples = np.asarray(peaks, dtype=np.int64)
    cycle = ("N", "N", "V", "N", "A", "L", "N", "F", "/", "E")
    beat_symbols = tuple(cycle[i % len(cycle)] for i in range(len(peaks)))
    other = {0: "+", int(beat_samples[5] + 150): "~", int(beat_samples[9] + 120): "|"}
    all_pairs = sorted(
        [(int(s), y) for s, y in zip(beat_samples, beat_symbols)] + list(other.items())
    )
    mlii = _signal(beat_samples, rng, 0, 1.0)
    v5 = _signal(beat_samples, rng, QRS_SHIFT_V5, -1.0)
    directory.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(
        name,
        fs=FS,
        units=["mV", "mV"],
        sig_name=["V5", "MLII"],
        p_signal=np.stack([v5, mlii], axis=1),
        fmt=["212", "212"],
        write_dir=str(directory),
    )
    wfdb.wrann(
        name,
        "atr",
        np.asarray([s for s, _ in all_pairs], dtype=np.int64),
        symbol=[y for _, y in all_pairs],
        write_dir=str(directory),
    )
    return SyntheticRecord(
        name=name,
        beat_samples=beat_samples,
        beat_symbols=beat_symbols,
        all_samples=np.asarray([s for s, _ in all_pairs], dtype=np.int64),
        all_symbols=tuple(y for _, y in all_pairs),
    )


@pytest.fixture(scope="session")
def synthetic_data(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, SyntheticRecord]]:
    """A data dir with synthetic records ``100`` (DS2) and ``101`` (DS1) in ``mitdb/``."""
    root = tmp_path_factory.mktemp("synthetic-data")
    records = {
        "100": write_record(root / "mitdb", "100", seed=1),
        "101": write_record(root / "mitdb", "101", seed=2),
    }
    return root, records
