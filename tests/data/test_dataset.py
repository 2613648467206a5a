"""``load_beats`` / ``prepare_records``: WFDB records to cached, labelled beat arrays."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnas.data import mitbih
from ecgnas.data.beats import rr_features
from ecgnas.data.dataset import concat_beats, load_beats, prepare_records
from ecgnas.data.labels import AAMI_CLASSES
from ecgnas.data.mitbih import read_record
from ecgnas.data.preprocess import PreprocessConfig
from ecgnas.data.splits import DS1, DS2


def mitbih_class(symbol: str) -> str:
    from ecgnas.data.labels import AAMI_MAP

    return AAMI_MAP[symbol]


# Annotated AAMI beats (N, S, V, F, Q) and the beats whose 90 + 166 sample window falls off
# the record (dropped), per split.
EXPECTED = {
    "DS1": ([45866, 944, 3788, 415, 8], [18, 0, 0, 1, 0]),
    "DS2": ([44259, 1837, 3221, 388, 7], [19, 0, 1, 0, 0]),
}


@pytest.mark.filterwarnings("ignore:.*inplace keyword")
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


@pytest.mark.filterwarnings("ignore:.*inplace keyword")
def test_four_class_set_drops_q(synthetic_data, tmp_path) -> None:
    root, records = synthetic_data
    five = load_beats(["101"], data_dir=root, cache_dir=tmp_path)
    four = load_beats(["101"], data_dir=root, cache_dir=tmp_path, classes=("N", "S", "V", "F"))
    assert four.classes == ("N", "S", "V", "F")
    assert len(four) == len(five) - int((five.y == 4).sum()) and (five.y == 4).sum() > 0
    assert four.class_counts().tolist() == five.class_counts()[:4].tolist()
    assert four.record_class_counts()["101"][:4].tolist() == five.class_counts()[:4].tolist()


@pytest.mark.filterwarnings("ignore:.*inplace keyword")
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


@pytest.mark.realdata
@pytest.mark.parametrize("split", ["DS1", "DS2"])
def test_published_aami_counts(prepared, split) -> None:
    annotated_want, dropped_want = EXPECTED[split]
    stats = [p.stats for p in prepared[split]]
    annotated = np.sum([s.annotated for s in stats], axis=0)
    dropped = np.sum([s.dropped_edge for s in stats], axis=0)
    kept = np.sum([s.kept for s in stats], axis=0)
    assert annotated.tolist() == annotated_want
    assert dropped.tolist() == dropped_want
    assert kept.tolist() == (np.array(annotated_want) - dropped_want).tolist()
    assert dropped.sum() / annotated.sum() < 0.001
    beats = concat_beats(prepared[split], PreprocessConfig())
    assert beats.class_counts().tolist() == kept.tolist()
    assert beats.x.shape == (int(kept.sum()), 1, 256)
    assert np.isfinite(beats.x).all() and np.isfinite(beats.rr).all()
    assert set(beats.record.tolist()) == set(DS1 if split == "DS1" else DS2)


@pytest.mark.realdata
def test_no_ds2_record_is_touched_when_loading_ds1(
    real_data_dir, shared_cache_dir, prepared, monkeypatch
) -> None:
    touched: set[str] = set()
    monkeypatch.setattr(mitbih, "on_record_access", lambda r, d: touched.add(r))
    prepare_records(DS1, data_dir=real_data_dir, cache_dir=shared_cache_dir, allowed=DS1)
    assert touched == set(DS1)
