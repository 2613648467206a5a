"""On-disk cache of prepared beats: one ``.npz`` per (record, preprocessing config).

Layout: ``<cache_dir>/mitbih/<digest[:16]>/<record>.npz`` with ``cache_dir`` from
``ecgnas.paths.cache_dir`` and ``digest = PreprocessConfig.digest()``; ``config.json``
beside the entries records the settings in readable form.

An entry holds the arrays of ``RecordBeats`` (``x``, ``rr``, ``y``, ``sample``, ``stats``),
a JSON ``meta`` string (format version, record, full config digest, SHA-256 of the raw
record files, the config) and a ``checksum``: SHA-256 over ``meta`` and every array's dtype,
shape and bytes. Entries are written uncompressed (load speed over disk: ~2.3 MB per
record) and atomically (``ecgnas.io.atomic_write``), so a crash leaves the old entry or
none, never a partial one. ``load_entry`` returns ``None`` (and logs why) for an entry that
is missing, unreadable, fails its checksum or shapes (corrupt), or was built from another
config, format or raw file (stale); the caller rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Final

import numpy as np

from ecgnas import paths
from ecgnas.data.beats import N_CLASSES, RR_COLUMNS, BeatStats, RecordBeats
from ecgnas.data.preprocess import PreprocessConfig
from ecgnas.io import atomic_write, atomic_write_json

log = logging.getLogger(__name__)

CACHE_FORMAT: Final = 1
"""Bump when the entry layout changes."""
DATASET_SUBDIR: Final = "mitbih"
_ARRAYS: Final = ("x", "rr", "y", "sample", "stats")


def config_cache_dir(
    config: PreprocessConfig, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """``<cache_dir>/mitbih/<config digest[:16]>`` (not created here)."""
    return paths.cache_dir(cache_dir) / DATASET_SUBDIR / config.digest()[:16]


def entry_path(directory: Path, record: str) -> Path:
    """The entry of ``record`` inside a ``config_cache_dir``."""
    return directory / f"{record}.npz"


def _checksum(meta: str, arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(meta.encode("utf-8"))
    for key in _ARRAYS:
        arr = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{arr.dtype.str}|{arr.shape}".encode())
        digest.update(arr.data.cast("B"))
    return digest.hexdigest()


def _meta(record: str, config: PreprocessConfig, source_digest: str) -> str:
    return json.dumps(
        {
            "format": CACHE_FORMAT,
            "record": record,
            "config_digest": config.digest(),
            "source_digest": source_digest,
            "config": config.to_json(),
        },
        sort_keys=True,
    )


def write_config(directory: Path, config: PreprocessConfig) -> None:
    """Write ``directory/config.json`` (the readable settings) if it is not there."""
    target = directory / "config.json"
    if not target.is_file():
        atomic_write_json(target, {"digest": config.digest(), "config": config.to_json()})


def save_entry(
    path: Path, beats: RecordBeats, config: PreprocessConfig, source_digest: str
) -> None:
    """Write one record's beats atomically, with meta and checksum."""
    arrays: dict[str, np.ndarray] = {
        "x": np.ascontiguousarray(beats.x, dtype=np.float32),
        "rr": np.ascontiguousarray(beats.rr, dtype=np.float32),
        "y": np.ascontiguousarray(beats.y, dtype=np.int8),
        "sample": np.ascontiguousarray(beats.sample, dtype=np.int64),
        "stats": beats.stats.to_vector(),
    }
    meta = _meta(beats.record, config, source_digest)
    checksum = _checksum(meta, arrays)
    atomic_write(
        path,
        lambda fh: np.savez(
            fh, allow_pickle=False, meta=np.array(meta), checksum=np.array(checksum), **arrays
        ),
    )


def _validate(arrays: dict[str, np.ndarray], config: PreprocessConfig) -> str | None:
    """Why the arrays are inconsistent, or None."""
    x, rr, y, sample = arrays["x"], arrays["rr"], arrays["y"], arrays["sample"]
    n = y.shape[0] if y.ndim == 1 else -1
    if x.dtype != np.float32 or x.shape != (n, config.window):
        return f"x has shape {x.shape} {x.dtype}"
    if rr.dtype != np.float32 or rr.shape != (n, len(RR_COLUMNS)):
        return f"rr has shape {rr.shape} {rr.dtype}"
    if y.dtype != np.int8 or (n and (y.min() < 0 or y.max() >= N_CLASSES)):
        return "labels out of range"
    if sample.dtype != np.int64 or sample.shape != (n,):
        return f"sample has shape {sample.shape}"
    if arrays["stats"].shape != (4 * N_CLASSES + 3,):
        return "bad statistics"
    return None


def load_entry(
    path: Path, config: PreprocessConfig, record: str, source_digest: str
) -> RecordBeats | None:
    """The cached beats of ``record``, or ``None`` when absent, corrupt or stale (logged)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta_text = str(npz["meta"][()])
            stored = str(npz["checksum"][()])
            arrays = {key: npz[key] for key in _ARRAYS}
        meta = json.loads(meta_text)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("cache entry %s is unreadable (%s); rebuilding it", path, exc)
        return None
    if _checksum(meta_text, arrays) != stored:
        log.warning("cache entry %s fails its checksum; rebuilding it", path)
        return None
    if (
        meta.get("format") != CACHE_FORMAT
        or meta.get("record") != record
        or meta.get("config_digest") != config.digest()
    ):
        log.info("cache entry %s was built by other settings; rebuilding it", path)
        return None
    if meta.get("source_digest") != source_digest:
        log.info("raw files of record %s changed since %s was built; rebuilding it", record, path)
        return None
    problem = _validate(arrays, config)
    if problem is not None:
        log.warning("cache entry %s is inconsistent (%s); rebuilding it", path, problem)
        return None
    return RecordBeats(
        record=record,
        x=arrays["x"],
        rr=arrays["rr"],
        y=arrays["y"],
        sample=arrays["sample"],
        stats=BeatStats.from_vector(arrays["stats"]),
    )
