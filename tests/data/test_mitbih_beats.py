from __future__ import annotations

import numpy as np
import pytest

from ecgnas.data.beats import (
    RR_COLUMNS,
    BeatStats,
    extract_windows,
    match_peaks,
    record_beats,
    rr_features,
    window_mask,
)
from ecgnas.data.mitbih import Record
from ecgnas.data.preprocess import (
    PreprocessConfig,
    bandpass,
    median_window,
    normalize,
    preprocess_signal,
    remove_baseline,
)
from ecgnas.errors import ConfigError, DataError

FS = 360.0


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


def test_median_windows_and_baseline_removal() -> None:
    assert median_window(0.2, 360) == 73 and median_window(0.6, 360) == 217
    t = np.arange(20 * 360)
    wander = 0.8 * np.sin(2 * np.pi * 0.3 * t / 360) + 0.5
    spikes = np.zeros_like(wander)
    spikes[360::360] = 1.0
    out = remove_baseline(wander + spikes, 360)
    inner = slice(360, -360)
    # 1.6 mV peak-to-peak wander leaves < 0.05 mV (median of a curved baseline)
    assert np.abs(out[inner][spikes[inner] == 0]).max() < 0.05
    np.testing.assert_allclose(out[360::360][:-1], 1.0, atol=0.02)  # spikes kept


def test_bandpass_removes_dc_and_high_frequency() -> None:
    t = np.arange(60 * 360) / 360
    x = 2.0 + np.sin(2 * np.pi * 10 * t) + np.sin(2 * np.pi * 120 * t)
    y = bandpass(x, 360, (0.5, 40.0), 3)
    inner = slice(20 * 360, -20 * 360)  # away from the 0.5 Hz edge transients
    np.testing.assert_allclose(y[inner], np.sin(2 * np.pi * 10 * t)[inner], atol=0.05)
    with pytest.raises(DataError, match="too short"):
        bandpass(np.ones(10), 360, (0.5, 40.0), 3)


def test_normalize() -> None:
    rng = np.random.default_rng(0)
    x = 3.0 + 2.0 * rng.standard_normal(10000)
    z = normalize(x, "zscore")
    assert z.mean() == pytest.approx(0, abs=1e-9) and z.std() == pytest.approx(1, abs=1e-9)
    rob = normalize(x, "robust")
    assert np.median(rob) == pytest.approx(0, abs=1e-9)
    assert np.subtract(*np.percentile(rob, [75, 25])) == pytest.approx(1.349, rel=1e-6)
    assert normalize(x, "none") is not None and np.array_equal(normalize(x, "none"), x)
    with pytest.raises(DataError, match="flat"):
        normalize(np.ones(100), "zscore")


def test_config_digest_is_stable_and_sensitive() -> None:
    a, b = PreprocessConfig(), PreprocessConfig()
    assert a.digest() == b.digest() and len(a.digest()) == 64
    assert PreprocessConfig.from_json(a.to_json()) == a
    changed = {
        PreprocessConfig(bandpass=True).digest(),
        PreprocessConfig(window_before=100).digest(),
        PreprocessConfig(rpeaks="detector").digest(),
        PreprocessConfig(normalize="robust").digest(),
        PreprocessConfig(fs=250).digest(),
    }
    assert a.digest() not in changed and len(changed) == 5
    assert PreprocessConfig(bandpass_hz=[0.5, 40]).digest() == a.digest()  # list == tuple
    assert a.window == 256


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bandpass_hz": (40.0, 0.5)},
        {"bandpass_hz": (0.5, 200.0)},
        {"normalize": "minmax"},
        {"rpeaks": "both"},
        {"window_after": 0},
        {"fs": 10},
        {"local_rr_beats": 0},
    ],
)
def test_config_rejects_bad_values(kwargs) -> None:
    with pytest.raises(ConfigError):
        PreprocessConfig(**kwargs)


def test_config_from_json_rejects_unknown_key() -> None:
    with pytest.raises(ConfigError, match="unknown preprocessing setting"):
        PreprocessConfig.from_json({"lowpass": 3})


def test_preprocess_signal_checks_rate_and_returns_float32() -> None:
    x = np.sin(np.arange(5000) / 10.0)
    assert preprocess_signal(x, 360, PreprocessConfig()).dtype == np.float32
    with pytest.raises(ConfigError, match="250"):
        preprocess_signal(x, 250, PreprocessConfig())


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
