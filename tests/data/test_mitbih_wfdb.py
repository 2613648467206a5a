"""A WFDB record written by the test (wfdb.wrsamp / wrann), read end to end."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnas.data import mitbih
from ecgnas.data.beats import rr_features
from ecgnas.data.dataset import load_beats
from ecgnas.data.labels import AAMI_CLASSES
from ecgnas.data.mitbih import read_annotations, read_record, record_class_counts
from ecgnas.data.preprocess import PreprocessConfig
from ecgnas.data.splits import DS1
from ecgnas.errors import ConfigError, DataError

# wfdb 4.3's own writers trip a pandas deprecation warning; not ours
pytestmark = pytest.mark.filterwarnings("ignore:.*inplace keyword")


def test_read_record_selects_mlii_by_name(synthetic_data) -> None:
    root, records = synthetic_data
    rec = read_record("100", root)
    assert rec.lead == "MLII" and rec.fs == 360.0
    assert rec.signal.shape == (40 * 360,)
    # MLII peaks at the annotated beats; the decoy V5 channel peaks 40 samples later
    inner = records["100"].beat_samples[1:-1]
    around = rec.signal[inner[:, None] + np.arange(-20, 21)]
    assert np.all(np.argmax(around, axis=1) == 20)
    assert rec.ann_sample.tolist() == records["100"].all_samples.tolist()
    assert rec.ann_symbol == records["100"].all_symbols


def test_load_beats_end_to_end(synthetic_data, tmp_path) -> None:
    root, records = synthetic_data
    truth = records["101"]
    beats = load_beats(["101"], PreprocessConfig(), data_dir=root, cache_dir=tmp_path)
    inner = truth.beat_samples[1:-1]  # first and last beats fall off the edges
    assert len(beats) == inner.size
    assert beats.x.shape == (inner.size, 1, 256) and beats.x.dtype == np.float32
    assert beats.rr.shape == (inner.size, 6) and beats.rr.dtype == np.float32
    assert beats.y.dtype == np.int64
    assert beats.sample.tolist() == inner.tolist()
    assert set(beats.record.tolist()) == {"101"}
    want_y = [AAMI_CLASSES.index(mitbih_class(s)) for s in truth.beat_symbols[1:-1]]
    assert beats.y.tolist() == want_y
    # the window is centred on the R peak (index 90 of 256)
    assert np.all(np.argmax(beats.x[:, 0, :], axis=1) == 90)
    # RR features are those of all annotated beats, edge beats included
    np.testing.assert_allclose(beats.rr, rr_features(truth.beat_samples, 360.0)[1:-1], rtol=1e-6)
    np.testing.assert_allclose(beats.rr[0, :2], [360 / 360, 250 / 360], rtol=1e-6)


def mitbih_class(symbol: str) -> str:
    from ecgnas.data.labels import AAMI_MAP

    return AAMI_MAP[symbol]


def test_four_class_set_drops_q(synthetic_data, tmp_path) -> None:
    root, records = synthetic_data
    five = load_beats(["101"], data_dir=root, cache_dir=tmp_path)
    four = load_beats(["101"], data_dir=root, cache_dir=tmp_path, classes=("N", "S", "V", "F"))
    assert four.classes == ("N", "S", "V", "F")
    assert len(four) == len(five) - int((five.y == 4).sum()) and (five.y == 4).sum() > 0
    assert four.class_counts().tolist() == five.class_counts()[:4].tolist()
    assert four.record_class_counts()["101"][:4].tolist() == five.class_counts()[:4].tolist()


def test_record_class_counts_from_annotations(synthetic_data) -> None:
    root, records = synthetic_data
    counts = record_class_counts(["100"], root)["100"]
    want = np.bincount(
        [AAMI_CLASSES.index(mitbih_class(s)) for s in records["100"].beat_symbols], minlength=5
    )
    assert counts.tolist() == want.tolist()
    samples, symbols = read_annotations("100", root)
    assert "+" in symbols and samples.dtype == np.int64


def test_allowed_guard_and_access_hook(synthetic_data, tmp_path, monkeypatch) -> None:
    root, _ = synthetic_data
    touched: list[str] = []
    monkeypatch.setattr(
        mitbih, "on_record_access", lambda record, directory: touched.append(record)
    )
    load_beats(["101"], data_dir=root, cache_dir=tmp_path, allowed=DS1)
    load_beats(["101"], data_dir=root, cache_dir=tmp_path, allowed=DS1)  # cache hit
    assert touched and set(touched) == {"101"}
    touched.clear()
    with pytest.raises(ConfigError, match="record 100 is not in the allowed"):
        load_beats(["101", "100"], data_dir=root, cache_dir=tmp_path, allowed=DS1)
    assert touched == []  # checked before any file is opened
    with pytest.raises(ConfigError, match="not in the allowed"):
        read_record("100", root, allowed=DS1)
    assert touched == []


def test_resampling_only_when_asked(synthetic_data, tmp_path) -> None:
    root, records = synthetic_data
    rec = read_record("100", root, target_fs=180.0)
    assert rec.fs == 180.0 and rec.signal.size == 20 * 360
    np.testing.assert_array_equal(rec.ann_sample, np.rint(records["100"].all_samples / 2))
    beats = load_beats(
        ["100"],
        PreprocessConfig(fs=180.0, window_before=45, window_after=83),
        data_dir=root,
        cache_dir=tmp_path,
    )
    assert beats.x.shape[1:] == (1, 128)


def test_unexpected_rate_is_a_data_error(tmp_path) -> None:
    import wfdb

    directory = tmp_path / "mitdb"
    directory.mkdir()
    sig = np.sin(np.arange(5000) / 20.0)[:, None]
    wfdb.wrsamp(
        "105",
        fs=250,
        units=["mV"],
        sig_name=["MLII"],
        p_signal=sig,
        fmt=["16"],
        write_dir=str(directory),
    )
    wfdb.wrann("105", "atr", np.array([100, 400]), symbol=["N", "N"], write_dir=str(directory))
    with pytest.raises(DataError, match="250 Hz, expected 360 Hz"):
        read_record("105", tmp_path)
    assert read_record("105", tmp_path, target_fs=360.0).fs == 360.0


def test_no_mlii_lead(tmp_path) -> None:
    import wfdb

    directory = tmp_path / "mitdb"
    directory.mkdir()
    sig = np.sin(np.arange(5000) / 20.0)[:, None]
    wfdb.wrsamp(
        "102",
        fs=360,
        units=["mV"],
        sig_name=["V5"],
        p_signal=sig,
        fmt=["16"],
        write_dir=str(directory),
    )
    wfdb.wrann("102", "atr", np.array([100, 400]), symbol=["N", "N"], write_dir=str(directory))
    with pytest.raises(DataError, match="record 102 has no MLII lead \\(leads: V5\\)"):
        read_record("102", tmp_path)
