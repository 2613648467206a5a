"""Beats: RR features, windows, peak matching, labelled and detected beats of a record."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnas.data.beats import (
    RR_COLUMNS,
    BeatStats,
    detect_rpeaks,
    detected_beats,
    extract_windows,
    match_peaks,
    record_beats,
    rr_features,
    window_mask,
)
from ecgnas.data.mitbih import Record, read_record, read_wfdb
from ecgnas.data.preprocess import (
    PreprocessConfig,
    preprocess_signal,
)
from ecgnas.errors import DataError

FS = 360.0


def _toy_record() -> Record:
    n = 3600
    r = np.array([50, 400, 700, 1100, 1450, 1800, 2200, 2550, 2900, 3500])
    sig = np.zeros(n)
    sig[r] = 1.0
    symbols = ("N", "V", "A", "N", "F", "N", "/", "N", "N", "V")
    samples = np.concatenate([r, [1000]])
    order = np.argsort(samples, kind="stable")
    return Record(
        name="100",
        signal=sig,
        fs=360.0,
        ann_sample=samples[order],
        ann_symbol=tuple((symbols + ("+",))[i] for i in order),
    )


def test_rr_features_known_positions() -> None:
    r = np.array([100, 460, 820, 1000, 1360])  # intervals 1, 1, 0.5, 1 s
    f = rr_features(r, FS, local_beats=2)
    assert f.dtype == np.float32 and f.shape == (5, 6) and len(RR_COLUMNS) == 6
    np.testing.assert_allclose(f[:, 0], [1, 1, 1, 0.5, 1])  # pre (first copies post)
    np.testing.assert_allclose(f[:, 1], [1, 1, 0.5, 1, 1])  # post (last copies pre)
    np.testing.assert_allclose(f[:, 2], [1, 1, 0.75, 0.75, 1])  # mean of pre and post
    mean_rr = 3.5 / 4
    np.testing.assert_allclose(f[:, 3:], f[:, :3] / mean_rr, rtol=1e-6)


def test_local_rr_is_centred_mean_of_ten_intervals() -> None:
    rng = np.random.default_rng(0)
    r = np.cumsum(rng.integers(200, 500, size=40))
    d = np.diff(r) / FS
    f = rr_features(r, FS, local_beats=10)
    for i in range(len(r)):
        lo, hi = max(0, i - 5), min(len(d), i + 5)
        assert f[i, 2] == pytest.approx(d[lo:hi].mean(), rel=1e-6)
    assert f[20, 5] == pytest.approx(d[15:25].mean() / d.mean(), rel=1e-5)


def test_rr_features_rejects_bad_input() -> None:
    with pytest.raises(DataError, match="at least 2"):
        rr_features(np.array([5]), FS)
    with pytest.raises(DataError, match="increasing"):
        rr_features(np.array([5, 5, 9]), FS)


def test_windows_and_edge_mask() -> None:
    sig = np.arange(1000, dtype=np.float32)
    r = np.array([5, 90, 500, 834, 835])
    keep = window_mask(r, sig.size, 90, 166)
    assert keep.tolist() == [False, True, True, True, False]
    x = extract_windows(sig, r[keep], 90, 166)
    assert x.shape == (3, 256)
    assert x[:, 90].tolist() == [90, 500, 834]  # the R peak sits at index `before`
    assert x[0, 0] == 0 and x[2, -1] == 999


def test_match_peaks_one_to_one_within_tolerance() -> None:
    ref = np.array([100, 400, 700, 1000])
    det = np.array([95, 103, 420, 760, 1001, 1500])
    d, r = match_peaks(det, ref, tolerance=54)
    # 95 and 103 both near 100: the closer one (103) wins; 760 is 60 away from 700
    assert list(zip(d.tolist(), r.tolist(), strict=True)) == [(1, 0), (2, 1), (4, 3)]
    e = match_peaks(np.array([], dtype=np.int64), ref, 54)
    assert e[0].size == 0 and e[1].size == 0


def test_record_beats_counts_and_labels() -> None:
    rec = _toy_record()
    b = record_beats(rec, PreprocessConfig(baseline=False))
    # 50 (N) and 3500 (V) fall off the edges
    assert b.sample.tolist() == [400, 700, 1100, 1450, 1800, 2200, 2550, 2900]
    assert b.y.tolist() == [2, 1, 0, 3, 0, 4, 0, 0]
    assert b.stats.annotated.tolist() == [5, 1, 2, 1, 1]
    assert b.stats.dropped_edge.tolist() == [1, 0, 1, 0, 0]
    assert b.stats.kept.tolist() == [4, 1, 1, 1, 1]
    assert b.stats.non_beat == 1
    assert np.all(np.argmax(b.x, axis=1) == 90)
    # RR comes from all beats, including the dropped edge beats
    assert b.rr[0, 0] == pytest.approx(350 / 360)
    stats = BeatStats.from_vector(b.stats.to_vector())
    assert stats.kept.tolist() == b.stats.kept.tolist() and stats.non_beat == 1


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


@pytest.mark.realdata
def test_xqrs_matches_reference_beats_of_record_100(real_data_dir) -> None:
    rec = read_record("100", real_data_dir)
    beats = record_beats(rec, PreprocessConfig(rpeaks="detector"))
    s = beats.stats
    matched = s.annotated.sum() - s.missed.sum()
    assert matched / s.annotated.sum() > 0.99
    assert s.unmatched_detections <= 5
    # labels come from the reference annotations: 33 S beats in record 100
    assert s.kept[1] + s.dropped_edge[1] + s.missed[1] == 33
