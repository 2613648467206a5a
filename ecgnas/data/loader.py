"""Torch access to a ``BeatSet``: whole-batch indexing over in-memory tensors.

``BeatLoader`` is the fast path for training: the arrays become tensors once (shared with
numpy on CPU, copied once to ``device`` otherwise) and each batch is one ``index_select``
per array, with no per-beat Python work. ``BeatDataset`` is a ``torch.utils.data.Dataset``
for code that wants one; it accepts a tensor of indices, so pair it with a
``BatchSampler`` and ``batch_size=None`` to keep the per-batch cost.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import torch

from ecgnas.data.dataset import BeatSet
from ecgnas.errors import ConfigError


class Batch(NamedTuple):
    """x: float32 [b, 1, window]; rr: float32 [b, 6]; y: int64 [b]."""

    x: torch.Tensor
    rr: torch.Tensor
    y: torch.Tensor


def _tensors(beats: BeatSet, device: torch.device | str | None) -> Batch:
    x = torch.from_numpy(beats.x)
    rr = torch.from_numpy(beats.rr)
    y = torch.from_numpy(beats.y)
    if device is not None:
        x, rr, y = x.to(device), rr.to(device), y.to(device)
    return Batch(x, rr, y)


class BeatLoader:
    """Iterate over ``(x, rr, y)`` batches of a ``BeatSet``.

    batch_size: beats per batch (the last batch may be smaller unless ``drop_last``).
    shuffle: a new permutation each epoch, drawn from ``generator`` (a ``torch.Generator``;
        pass one seeded by the run's seed for reproducible order). Without shuffle, batches
        are contiguous views (no copy).
    device: where the tensors live; they are moved once, here.
    """

    def __init__(
        self,
        beats: BeatSet,
        batch_size: int = 256,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        device: torch.device | str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.tensors = _tensors(beats, device)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = generator
        self.drop_last = drop_last
        self.n = len(beats)

    def __len__(self) -> int:
        if self.drop_last:
            return self.n // self.batch_size
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        x, rr, y = self.tensors
        n_batches = len(self)
        if not self.shuffle:
            for b in range(n_batches):
                s = slice(b * self.batch_size, (b + 1) * self.batch_size)
                yield Batch(x[s], rr[s], y[s])
            return
        order = torch.randperm(self.n, generator=self.generator).to(x.device)
        for b in range(n_batches):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield Batch(x.index_select(0, idx), rr.index_select(0, idx), y.index_select(0, idx))


class BeatDataset(torch.utils.data.Dataset[Batch]):
    """Map-style dataset over a ``BeatSet``; ``ds[i]`` or ``ds[index_tensor]`` -> ``Batch``."""

    def __init__(self, beats: BeatSet, device: torch.device | str | None = None) -> None:
        self.tensors = _tensors(beats, device)

    def __len__(self) -> int:
        return int(self.tensors.y.shape[0])

    def __getitem__(self, index: int | torch.Tensor | list[int]) -> Batch:
        x, rr, y = self.tensors
        return Batch(x[index], rr[index], y[index])
