"""The pre-trained encoder cache: reproducible from a seed, bit-identical on reload."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgnas.predictor.encoder import ArchTensors, EncoderSettings
from ecgnas.predictor.pretrain import CLPSettings, positive_views, pretrain, pretrain_pool
from ecgnas.predictor.store import (
    EncoderStore,
    entry_key,
    load_entry,
    shipped_dir,
)
from ecgnas.predictor.variants import DEFAULT_CLP, default_clp
from ecgnas.spaces.nb201 import NB201Space

TINY = CLPSettings(
    encoder=EncoderSettings(hidden=8, layers=2, emb_dim=8),
    proj_dim=4,
    epochs=2,
    batch_size=32,
    pool_size=96,
    n_mutants=3,
)


def _state_bytes(state: dict[str, torch.Tensor]) -> dict[str, bytes]:
    return {k: v.numpy().tobytes() for k, v in state.items()}


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return NB201Space()


def test_pool_is_seeded_and_distinct(space: NB201Space) -> None:
    a = pretrain_pool(space, TINY, seed=3)
    assert a == pretrain_pool(space, TINY, seed=3)
    assert a != pretrain_pool(space, TINY, seed=4)
    assert len(a) == 96 and len({x.key() for x in a}) == 96
    # a pool as large as the space is the whole space
    assert len(pretrain_pool(space, DEFAULT_CLP, seed=0)) == 15_625


def test_effective_pool_and_views_hold_each_function_once(space: NB201Space) -> None:
    from dataclasses import replace

    from ecgnas.spaces.cell import effective_ops

    settings = replace(DEFAULT_CLP, effective=True)
    pool = pretrain_pool(space, settings, seed=0)
    assert len(pool) == 9_445  # the distinct functions of NB201's 15,625 cells
    assert len(set(pool)) == len(pool)
    assert all(effective_ops(a.ops) == a.ops for a in pool)
    few = pool[:300]
    views = positive_views(space, few, space.path_encoding(few), 8, seed=0, effective=True)
    assert all(effective_ops(v.ops) == v.ops for v in views)
    assert sum(v != a for v, a in zip(views, few)) >= 295  # the anchor only when forced
    # the default (False) is left out of the JSON, so older cache keys stay valid
    assert "effective" not in DEFAULT_CLP.to_json()
    assert CLPSettings.from_json(settings.to_json()) == settings
    assert entry_key("nb201", settings, 0) != entry_key("nb201", DEFAULT_CLP, 0)


def test_pretraining_is_reproducible_from_a_seed(space: NB201Space) -> None:
    torch.manual_seed(123)
    a = pretrain(space, TINY, seed=5)
    torch.manual_seed(999)  # the global RNG state must not matter ...
    b = pretrain(space, TINY, seed=5)
    after = torch.random.get_rng_state()
    torch.manual_seed(999)
    assert torch.equal(after, torch.random.get_rng_state())  # ... nor be changed
    assert _state_bytes(a.state) == _state_bytes(b.state)
    assert a.losses == b.losses and len(a.losses) == TINY.epochs
    c = pretrain(space, TINY, seed=6)
    assert _state_bytes(a.state) != _state_bytes(c.state)


def test_cached_encoder_reloads_bit_identically(space: NB201Space, tmp_path: Path) -> None:
    store = EncoderStore(tmp_path, use_shipped=False)
    assert store.find("nb201", TINY, 0) is None
    trained = store.get(space, TINY, seed=0)
    files = sorted(p.name for p in (tmp_path / "encoders").iterdir())
    key = entry_key("nb201", TINY, 0)
    assert files == [f"nb201-{key}.json", f"nb201-{key}.safetensors"]  # no temp files left
    loaded = EncoderStore(tmp_path, use_shipped=False).find("nb201", TINY, 0)
    assert loaded is not None
    assert _state_bytes(loaded.state) == _state_bytes(trained.state)
    assert loaded.losses == pytest.approx(trained.losses)
    archs = space.enumerate()[::97]
    tensors = ArchTensors.build(space, archs)
    with torch.no_grad():
        out_a = trained.encoder()(tensors).numpy()
        out_b = loaded.encoder()(tensors).numpy()
    assert out_a.tobytes() == out_b.tobytes()
    # a second get() loads instead of training again (the file is not rewritten)
    weights = tmp_path / "encoders" / f"nb201-{key}.safetensors"
    mtime = weights.stat().st_mtime_ns
    again = store.get(space, TINY, seed=0)
    assert weights.stat().st_mtime_ns == mtime
    assert _state_bytes(again.state) == _state_bytes(trained.state)


def test_keys_separate_settings_and_seeds() -> None:
    k = entry_key("nb201", TINY, 0)
    assert len(k) == 16
    assert k == entry_key("nb201", CLPSettings.from_json(TINY.to_json()), 0)
    assert k != entry_key("nb201", TINY, 1)
    assert k != entry_key("ecg1d", TINY, 0)
    assert k != entry_key("nb201", CLPSettings.from_json({**TINY.to_json(), "epochs": 3}), 0)


def test_corrupt_entry_is_rebuilt(
    space: NB201Space, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = EncoderStore(tmp_path, use_shipped=False)
    first = store.get(space, TINY, seed=1)
    key = entry_key("nb201", TINY, 1)
    weights = tmp_path / "encoders" / f"nb201-{key}.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(Exception, match="corrupt"):
        load_entry(tmp_path / "encoders", "nb201", TINY, 1)
    with caplog.at_level(logging.WARNING):
        rebuilt = store.get(space, TINY, seed=1)
    assert "bad encoder entry" in caplog.text
    assert _state_bytes(rebuilt.state) == _state_bytes(first.state)
    assert load_entry(tmp_path / "encoders", "nb201", TINY, 1) is not None


@pytest.mark.parametrize("space_name", ["nb201", "ecg1d", "nb101", "ecgjoint"])
def test_shipped_encoders_match_default_settings(space_name: str, tmp_path: Path) -> None:
    """The package ships each built-in space's default encoder (seed 0): small, found first."""
    settings = default_clp(space_name)
    key = entry_key(space_name, settings, 0)
    weights = shipped_dir() / f"{space_name}-{key}.safetensors"
    assert weights.is_file(), "re-run scripts/bench_predictor_cost.py --ship after changing CLP"
    assert weights.stat().st_size < 1_000_000
    meta = json.loads((shipped_dir() / f"{space_name}-{key}.json").read_text())
    assert meta["settings"] == settings.to_json() and meta["seed"] == 0
    found = EncoderStore(tmp_path).find(space_name, settings, 0)
    assert found is not None and np.isfinite(found.losses[-1])
    assert found.losses[-1] < found.losses[0]  # CLP made progress
