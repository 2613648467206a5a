"""The pre-trained encoder cache: one CLP encoder per (space, CLP settings, seed).

An entry is two files named ``<space>-<key>``, where ``key`` is the first 16 hex digits of the
SHA-256 of the canonical JSON of ``{"format", "space", "settings", "seed"}``:

* ``<space>-<key>.safetensors``: the GIN weights (float32, the ``state_dict`` names);
* ``<space>-<key>.json``: the space, settings, seed, training losses and seconds, the library
  versions, and the SHA-256 of the weights file.

Both are written atomically (``ecgnas.io``), weights first, so the JSON marks a complete entry.
Look-up order: the cache directory (``ecgnas.paths.cache_dir() / "encoders"``), then the
encoders shipped in the package (``ecgnas/assets/encoders/``), then CLP is run and the result
cached. An entry whose weights do not match their recorded hash, or do not load, is treated as
missing (logged) and rebuilt. Loading is bit-identical: the same tensors, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ecgnas.errors import DataError
from ecgnas.io import atomic_write, atomic_write_json
from ecgnas.paths import cache_dir as resolve_cache_dir
from ecgnas.predictor.pretrain import CLPSettings, Pretrained, pretrain
from ecgnas.spaces.base import SearchSpace

log = logging.getLogger(__name__)

#: bump when the encoder architecture or the file layout changes (invalidates every entry)
ENCODER_FORMAT = 1


def entry_key(space: str, settings: CLPSettings, seed: int) -> str:
    """16 hex digits identifying (format, space, settings, seed)."""
    payload = {
        "format": ENCODER_FORMAT,
        "space": space,
        "settings": settings.to_json(),
        "seed": int(seed),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def shipped_dir() -> Path:
    """The folder of the encoders shipped with the package."""
    return Path(str(resources.files("ecgnas"))) / "assets" / "encoders"


@dataclass(frozen=True)
class EntryPaths:
    weights: Path
    meta: Path


def _paths(folder: Path, space: str, key: str) -> EntryPaths:
    stem = f"{space}-{key}"
    return EntryPaths(folder / f"{stem}.safetensors", folder / f"{stem}.json")


def save_entry(folder: str | os.PathLike[str], pre: Pretrained) -> EntryPaths:
    """Write ``pre`` into ``folder`` (atomically; weights, then the JSON)."""
    from safetensors.torch import save

    key = entry_key(pre.space, pre.settings, pre.seed)
    paths = _paths(Path(folder), pre.space, key)
    tensors = {k: v.detach().contiguous() for k, v in pre.state.items()}
    blob = save(tensors, metadata={"space": pre.space, "key": key})
    atomic_write(paths.weights, lambda fh: fh.write(blob))
    meta: dict[str, Any] = {
        "format": ENCODER_FORMAT,
        "key": key,
        "space": pre.space,
        "seed": pre.seed,
        "settings": pre.settings.to_json(),
        "n_node_types": pre.n_node_types,
        "losses": [float(v) for v in pre.losses],
        "seconds": float(pre.seconds),
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
        "torch": torch.__version__,
    }
    atomic_write_json(paths.meta, meta)
    return paths


def load_entry(
    folder: str | os.PathLike[str], space: str, settings: CLPSettings, seed: int
) -> Pretrained:
    """Read the entry of (space, settings, seed) from ``folder``.

    ``DataError`` if it is missing, its JSON is unreadable or disagrees with the request,
    or its weights do not match the recorded SHA-256.
    """
    from safetensors.torch import load

    key = entry_key(space, settings, seed)
    paths = _paths(Path(folder), space, key)
    if not paths.meta.is_file() or not paths.weights.is_file():
        raise DataError(f"no pre-trained encoder {paths.meta.stem} in {folder}")
    try:
        meta = json.loads(paths.meta.read_text(encoding="utf-8"))
        blob = paths.weights.read_bytes()
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read encoder {paths.meta}: {exc}") from exc
    if (
        meta.get("format") != ENCODER_FORMAT
        or meta.get("key") != key
        or CLPSettings.from_json(meta.get("settings", {})) != settings
        or meta.get("seed") != seed
    ):
        raise DataError(f"encoder {paths.meta} does not match its name (space, settings, seed)")
    if hashlib.sha256(blob).hexdigest() != meta.get("weights_sha256"):
        raise DataError(f"encoder weights {paths.weights} are corrupt (SHA-256 mismatch)")
    try:
        state = load(blob)
    except Exception as exc:  # safetensors raises its own error types
        raise DataError(f"cannot load encoder weights {paths.weights}: {exc}") from exc
    return Pretrained(
        space=space,
        settings=settings,
        seed=seed,
        state=state,
        n_node_types=int(meta["n_node_types"]),
        losses=[float(v) for v in meta.get("losses", [])],
        seconds=float(meta.get("seconds", 0.0)),
    )


class EncoderStore:
    """Finds or makes pre-trained encoders (see the module docstring).

    cache_dir:
        The ecgnas cache directory (``None``: ``ecgnas.paths.cache_dir()``); encoders live
        in its ``encoders/`` folder.
    use_shipped:
        Whether to look in the package's ``assets/encoders`` after the cache.
    """

    def __init__(
        self, cache_dir: str | os.PathLike[str] | None = None, use_shipped: bool = True
    ) -> None:
        self.folder = resolve_cache_dir(cache_dir) / "encoders"
        self.use_shipped = use_shipped

    def find(self, space: str, settings: CLPSettings, seed: int) -> Pretrained | None:
        """A cached or shipped entry, or ``None``."""
        folders = [self.folder] + ([shipped_dir()] if self.use_shipped else [])
        for folder in folders:
            paths = _paths(folder, space, entry_key(space, settings, seed))
            if not paths.meta.is_file():
                continue
            try:
                return load_entry(folder, space, settings, seed)
            except DataError as exc:
                log.warning("ignoring a bad encoder entry: %s", exc)
        return None

    def get(self, space: SearchSpace, settings: CLPSettings, seed: int) -> Pretrained:
        """The encoder of (space, settings, seed): found, else pre-trained now and cached."""
        found = self.find(space.name, settings, seed)
        if found is not None:
            return found
        log.info("pre-training the %s encoder (seed %d); cached afterwards", space.name, seed)
        pre = pretrain(space, settings, seed)
        save_entry(self.folder, pre)
        return pre
