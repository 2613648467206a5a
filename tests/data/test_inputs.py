"""Model inputs: rhythm features, morphology, channels, polarity (tiny synthetic beats)."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnas.data.beats import rr_features
from ecgnas.data.inputs import (
    MORPHOLOGY_COLUMNS,
    RHYTHM_COLUMNS,
    InputConfig,
    build_inputs,
    morphology_features,
    polarity_sign,
    rhythm_features,
    rhythm_from_rr,
    running_mean,
)
from ecgnas.errors import ConfigError, DataError

FS = 100.0
R_INDEX = 20
WIDTH = 60


def _beat(width: int = 3, amp: float = 1.0) -> np.ndarray:
    """A window with a triangular QRS of half-width ``width`` samples at ``R_INDEX``."""
    t = np.arange(WIDTH, dtype=np.float32)
    return (amp * np.clip(1.0 - np.abs(t - R_INDEX) / width, 0.0, None)).astype(np.float32)


def _record(n: int, premature: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Windows [n, W] and R peaks of a regular rhythm (1 s), one early beat if asked."""
    peaks = np.arange(1, n + 1) * int(FS)
    if premature is not None:
        peaks[premature] -= int(0.4 * FS)
    x = np.stack([_beat() for _ in range(n)])
    return x, peaks


def test_running_mean_matches_a_loop() -> None:
    v = np.random.default_rng(0).uniform(0.5, 1.5, 37)
    causal = running_mean(v, 5, causal=True)
    centred = running_mean(v, 6, causal=False)
    for i in range(v.size):
        assert causal[i] == pytest.approx(v[max(0, i - 4) : i + 1].mean())
        assert centred[i] == pytest.approx(v[max(0, i - 3) : i + 4].mean())


def test_rhythm_features_flag_a_premature_beat() -> None:
    _, peaks = _record(50, premature=30)
    f = rhythm_features(peaks, FS, (8, 20))
    assert f.shape == (50, len(RHYTHM_COLUMNS))
    short, post_over_pre = (
        RHYTHM_COLUMNS.index("pre_rr_over_short"),
        RHYTHM_COLUMNS.index("post_over_pre_rr"),
    )
    regular = f[10]
    assert regular[short] == pytest.approx(1.0)
    assert regular[post_over_pre] == pytest.approx(1.0)
    early = f[30]
    assert early[0] == pytest.approx(0.6)  # pre-RR in seconds
    assert early[short] < 0.7
    assert early[post_over_pre] == pytest.approx(1.4 / 0.6, rel=1e-5)


def test_causal_averages_ignore_the_future() -> None:
    _, peaks = _record(60)
    changed = peaks.copy()
    changed[40:] = changed[39] + np.arange(1, 21) * int(0.5 * FS)  # rate doubles later on
    a = rhythm_features(peaks, FS, (8, 20), causal=True)
    b = rhythm_features(changed, FS, (8, 20), causal=True)
    # beat 38's post-RR is unchanged; its running averages use beats <= 38 only
    np.testing.assert_allclose(a[:39, 2:6], b[:39, 2:6])
    c = rhythm_features(changed, FS, (8, 20), causal=False)
    assert not np.allclose(a[:39, 4], c[:39, 4])


def test_rhythm_features_reject_bad_peaks() -> None:
    with pytest.raises(DataError):
        rhythm_features(np.array([5]), FS)
    with pytest.raises(DataError):
        rhythm_features(np.array([5, 5, 9]), FS)
    with pytest.raises(DataError):
        rhythm_from_rr(np.array([1.0, 0.0]), np.ones(2), np.ones(2))


def test_morphology_width_and_template() -> None:
    x = np.stack([_beat(3)] * 10 + [_beat(9, amp=2.0)])
    m = morphology_features(x, R_INDEX, FS, template_beats=5)
    assert m.shape == (11, len(MORPHOLOGY_COLUMNS))
    assert m[-1, 0] > 2 * m[5, 0]  # the wide beat has a wider QRS
    assert m[5, 1] == pytest.approx(1.0, abs=1e-5)  # identical to its running template
    assert m[-1, 2] == pytest.approx(2.0, rel=1e-4)  # twice the template's amplitude


def test_polarity_canonical_makes_an_inverted_lead_identical() -> None:
    x, peaks = _record(30, premature=10)
    rr = rr_features(peaks, FS)
    rec = np.array(["a"] * 30)
    config = InputConfig(rr_features="both", morphology=True, derivative=True, polarity="canonical")
    up = build_inputs(x, rr, rec, fs=FS, r_index=R_INDEX, config=config)
    down = build_inputs(-x, rr, rec, fs=FS, r_index=R_INDEX, config=config)
    np.testing.assert_array_equal(up[0], down[0])
    np.testing.assert_array_equal(up[1], down[1])
    assert polarity_sign(-x, R_INDEX, FS) == -1.0 and polarity_sign(x, R_INDEX, FS) == 1.0
    as_is = build_inputs(-x, rr, rec, fs=FS, r_index=R_INDEX, config=InputConfig())
    np.testing.assert_array_equal(as_is[0][:, 0], -x)


def test_channels_derivative_and_context() -> None:
    x, peaks = _record(6)
    x = x * np.arange(1, 7, dtype=np.float32)[:, None]  # tell the beats apart
    rr = rr_features(peaks, FS)
    rec = np.array(["a"] * 3 + ["b"] * 3)
    config = InputConfig(derivative=True, context_beats=1)
    xin, rrin = build_inputs(x, rr, rec, fs=FS, r_index=R_INDEX, config=config)
    assert xin.shape == (6, config.n_channels, WIDTH) and config.n_channels == 6
    assert rrin.shape == (6, 6)
    # channels: raw[i-1], raw[i], raw[i+1], deriv[i-1], deriv[i], deriv[i+1]
    np.testing.assert_array_equal(xin[1, 0], x[0])
    np.testing.assert_array_equal(xin[1, 2], x[2])
    np.testing.assert_array_equal(xin[2, 2], x[2])  # the record's last beat repeats itself
    np.testing.assert_array_equal(xin[3, 0], x[3])  # record b does not see record a
    np.testing.assert_allclose(xin[4, 4, 1:], np.diff(x[4]) * FS, rtol=1e-6)


def test_beats_of_a_record_must_be_contiguous() -> None:
    x, peaks = _record(4)
    rr = rr_features(peaks, FS)
    with pytest.raises(DataError, match="contiguous"):
        build_inputs(
            x, rr, np.array(["a", "b", "a", "b"]), fs=FS, r_index=R_INDEX, config=InputConfig()
        )


def test_input_config_round_trip_and_checks() -> None:
    config = InputConfig(
        rr_features="rhythm", rr_horizons=(40, 300), morphology=True, context_beats=2
    )
    assert InputConfig.from_json(config.to_json()) == config
    assert InputConfig.from_json({}) == InputConfig()
    assert config.rr_columns == RHYTHM_COLUMNS + MORPHOLOGY_COLUMNS
    for bad in (
        {"rr_features": "fancy"},
        {"rr_horizons": [400, 80]},
        {"raw": False, "derivative": False},
        {"context_beats": 4},
        {"polarity": "flip"},
        {"colour": "red"},
    ):
        with pytest.raises(ConfigError):
            InputConfig.from_json(bad)
