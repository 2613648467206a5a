"""``read_wfdb`` (a WFDB record by path, with the MIT-BIH reader's checks) and
``detected_beats`` (every detection as an unlabelled beat), used by prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgnas.data.beats import detect_rpeaks, detected_beats, extract_windows, rr_features
from ecgnas.data.mitbih import read_record, read_wfdb
from ecgnas.data.preprocess import PreprocessConfig, preprocess_signal
from ecgnas.errors import DataError


def _copy(synthetic_data, dest: Path, record: str = "100") -> Path:
    """The synthetic record's files in ``dest`` (any directory, not a MIT-BIH data dir)."""
    root, _ = synthetic_data
    dest.mkdir(parents=True, exist_ok=True)
    for ext in ("hea", "dat", "atr"):
        (dest / f"{record}.{ext}").write_bytes((root / "mitdb" / f"{record}.{ext}").read_bytes())
    return dest / record


def test_read_wfdb_reads_a_record_outside_the_database_like_read_record(
    synthetic_data, tmp_path: Path
) -> None:
    root, _ = synthetic_data
    path = _copy(synthetic_data, tmp_path / "patients")
    rec = read_wfdb(path)
    want = read_record("100", root)
    assert rec.name == "100" and rec.fs == 360.0 and rec.lead == "MLII"
    np.testing.assert_array_equal(rec.signal, want.signal)
    np.testing.assert_array_equal(rec.ann_sample, want.ann_sample)
    assert rec.ann_symbol == want.ann_symbol
    bare = read_wfdb(path, annotations=False)
    assert bare.ann_sample.size == 0 and bare.ann_symbol == ()
    np.testing.assert_array_equal(bare.signal, want.signal)


def test_read_wfdb_keeps_the_readers_checks(synthetic_data, tmp_path: Path) -> None:
    p1 = _copy(synthetic_data, tmp_path / "a")
    with pytest.raises(DataError, match="no WFDB record"):
        read_wfdb(tmp_path / "nothing")
    with pytest.raises(DataError, match="no V1 lead"):
        read_wfdb(p1, lead="V1")
    with pytest.raises(DataError, match="expected 250 Hz"):
        read_wfdb(p1, expect_fs=250.0)
    p2 = _copy(synthetic_data, tmp_path / "b")
    (tmp_path / "b" / "100.atr").unlink()
    with pytest.raises(DataError, match="missing 100.atr"):
        read_wfdb(p2)
    assert read_wfdb(p2, annotations=False).signal.size > 0
    dat = tmp_path / "a" / "100.dat"
    dat.write_bytes(dat.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated"):
        read_wfdb(p1)


def test_detected_beats_keeps_every_detection_with_the_training_steps(synthetic_data) -> None:
    root, _ = synthetic_data
    signal = read_wfdb(root / "mitdb" / "101").signal
    config = PreprocessConfig(rpeaks="detector")
    beats = detected_beats(signal, config, "101")
    peaks = detect_rpeaks(signal, config.fs)
    np.testing.assert_array_equal(beats.peaks, peaks)
    kept = peaks[beats.keep]
    assert beats.x.shape == (kept.size, config.window) and beats.rr.shape == (kept.size, 6)
    filtered = preprocess_signal(signal, config.fs, config)
    want_x = extract_windows(filtered, kept, config.window_before, config.window_after)
    np.testing.assert_array_equal(beats.x, want_x)
    np.testing.assert_array_equal(beats.rr, rr_features(peaks, config.fs)[beats.keep])
    assert not beats.keep.all()  # the synthetic record's first beat sits at sample 40


def test_detected_beats_refuses_a_flat_lead_naming_it() -> None:
    with pytest.raises(DataError, match="rec9: .*flat"):
        detected_beats(np.zeros(20000), PreprocessConfig(), "rec9")
