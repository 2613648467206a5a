from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgnas.data import BeatDataset, BeatLoader, BeatSet
from ecgnas.errors import ConfigError


def _beats(n: int = 103) -> BeatSet:
    x = np.arange(n, dtype=np.float32)[:, None, None] * np.ones((1, 1, 8), np.float32)
    rr = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 6), np.float32)
    return BeatSet(
        x=x,
        rr=rr,
        y=np.arange(n, dtype=np.int64) % 5,
        record=np.array(["101"] * n),
        sample=np.arange(n, dtype=np.int64) * 300,
    )


def test_sequential_batches_are_views_in_order() -> None:
    beats = _beats()
    loader = BeatLoader(beats, batch_size=10)
    batches = list(loader)
    assert len(loader) == len(batches) == 11
    assert [b.y.shape[0] for b in batches] == [10] * 10 + [3]
    x0 = batches[0].x
    assert x0.shape == (10, 1, 8) and x0.dtype == torch.float32
    assert batches[0].rr.shape == (10, 6) and batches[0].y.dtype == torch.int64
    assert x0.data_ptr() == torch.from_numpy(beats.x).data_ptr()  # no copy
    seen = torch.cat([b.x[:, 0, 0] for b in batches])
    assert seen.tolist() == list(range(103))


def test_shuffle_covers_each_beat_once_and_is_seeded() -> None:
    beats = _beats()

    def epoch(seed: int) -> list[int]:
        g = torch.Generator().manual_seed(seed)
        loader = BeatLoader(beats, batch_size=16, shuffle=True, generator=g)
        order = []
        for b in loader:
            # rows stay aligned: x, rr and y of a row come from the same beat
            assert torch.equal(b.x[:, 0, 0], b.rr[:, 0])
            assert torch.equal(b.y, b.x[:, 0, 0].long() % 5)
            order += b.x[:, 0, 0].long().tolist()
        return order

    a = epoch(7)
    assert sorted(a) == list(range(103)) and a != list(range(103))
    assert a == epoch(7) and a != epoch(8)


def test_drop_last_and_bad_batch_size() -> None:
    loader = BeatLoader(_beats(), batch_size=10, drop_last=True, shuffle=True)
    assert len(loader) == 10 and all(b.y.shape[0] == 10 for b in loader)
    with pytest.raises(ConfigError):
        BeatLoader(_beats(), batch_size=0)


def test_dataset_batched_indexing() -> None:
    ds = BeatDataset(_beats())
    assert len(ds) == 103
    item = ds[5]
    assert item.x.shape == (1, 8) and int(item.y) == 0
    batch = ds[torch.tensor([3, 1, 4])]
    assert batch.rr[:, 0].tolist() == [3.0, 1.0, 4.0]
    sampler = torch.utils.data.BatchSampler(range(len(ds)), batch_size=50, drop_last=False)
    dl = torch.utils.data.DataLoader(ds, sampler=sampler, batch_size=None)
    assert [b.y.shape[0] for b in dl] == [50, 50, 3]


def test_beatset_subset_and_shape_check() -> None:
    beats = _beats()
    sub = beats.subset(beats.y == 2)
    assert len(sub) == 21 and set(sub.y.tolist()) == {2}
    assert len(beats.select_records(["101"])) == 103 and len(beats.select_records(["9"])) == 0
    assert beats.class_counts().tolist() == [21, 21, 21, 20, 20]
    with pytest.raises(ValueError, match="disagree"):
        BeatSet(x=beats.x[:5], rr=beats.rr, y=beats.y, record=beats.record, sample=beats.sample)
