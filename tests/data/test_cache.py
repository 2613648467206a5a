"""Cache entries: reuse, corruption, staleness, crash safety."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ecgnas.data import cache, mitbih
from ecgnas.data.dataset import load_beats, prepare_records
from ecgnas.data.preprocess import PreprocessConfig

pytestmark = pytest.mark.filterwarnings("ignore:.*inplace keyword")


def _entry(tmp_path, config=None):
    config = config or PreprocessConfig()
    return cache.entry_path(cache.config_cache_dir(config, tmp_path), "101")


def _count_builds(monkeypatch) -> list[str]:
    built: list[str] = []
    real = mitbih.read_record

    def spy(record, *args, **kwargs):
        built.append(record)
        return real(record, *args, **kwargs)

    monkeypatch.setattr(mitbih, "read_record", spy)
    return built


def test_second_load_comes_from_cache(synthetic_data, tmp_path, monkeypatch) -> None:
    root, _ = synthetic_data
    built = _count_builds(monkeypatch)
    a = load_beats(["101"], data_dir=root, cache_dir=tmp_path)
    b = load_beats(["101"], data_dir=root, cache_dir=tmp_path)
    assert built == ["101"]
    for name in ("x", "rr", "y", "sample"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    directory = cache.config_cache_dir(PreprocessConfig(), tmp_path)
    assert directory.name == PreprocessConfig().digest()[:16]
    assert sorted(p.name for p in directory.iterdir()) == ["101.npz", "config.json"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupt_entry_is_rebuilt(synthetic_data, tmp_path, monkeypatch, caplog, damage) -> None:
    root, _ = synthetic_data
    good = load_beats(["101"], data_dir=root, cache_dir=tmp_path)
    path = _entry(tmp_path)
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "flip":
        raw[len(raw) // 2] ^= 0xFF  # inside the x array: only the checksum can tell
        path.write_bytes(bytes(raw))
    else:
        path.write_bytes(b"not a zip file")
    built = _count_builds(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="ecgnas.data.cache"):
        again = load_beats(["101"], data_dir=root, cache_dir=tmp_path)
    assert built == ["101"]
    assert "rebuilding" in caplog.text
    np.testing.assert_array_equal(again.x, good.x)
    cfg = PreprocessConfig()
    source = mitbih.source_digest("101", root)
    assert cache.load_entry(path, cfg, "101", source) is not None  # the rebuilt entry is sound


def test_stale_entries_are_rejected(synthetic_data, tmp_path) -> None:
    root, _ = synthetic_data
    cfg = PreprocessConfig()
    (beats,) = prepare_records(["101"], cfg, data_dir=root, cache_dir=tmp_path)
    path = _entry(tmp_path)
    source = mitbih.source_digest("101", root)
    assert cache.load_entry(path, cfg, "101", source) is not None
    assert cache.load_entry(path, cfg, "101", "0" * 64) is None  # raw files changed
    assert cache.load_entry(path, PreprocessConfig(bandpass=True), "101", source) is None
    assert cache.load_entry(path, cfg, "100", source) is None  # another record's entry


def test_crash_mid_write_leaves_no_partial_file(synthetic_data, tmp_path, monkeypatch) -> None:
    root, _ = synthetic_data

    def crashing_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 half an entry")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crashing_savez)
    with pytest.raises(OSError, match="disk full"):
        prepare_records(["101"], data_dir=root, cache_dir=tmp_path)
    directory = cache.config_cache_dir(PreprocessConfig(), tmp_path)
    leftovers = [p.name for p in directory.iterdir() if p.name != "config.json"]
    assert leftovers == []


def test_crash_keeps_the_previous_entry(synthetic_data, tmp_path, monkeypatch) -> None:
    root, _ = synthetic_data
    cfg = PreprocessConfig()
    (beats,) = prepare_records(["101"], cfg, data_dir=root, cache_dir=tmp_path)
    path = _entry(tmp_path)
    before = path.read_bytes()

    def crashing_savez(fh, **arrays):
        fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crashing_savez)
    with pytest.raises(KeyboardInterrupt):
        cache.save_entry(path, beats, cfg, "0" * 64)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.glob("*.tmp")] == []
