"""Signal preprocessing: baseline removal, band-pass, normalisation, and its config."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnas.data.preprocess import (
    PreprocessConfig,
    bandpass,
    median_window,
    normalize,
    preprocess_signal,
    remove_baseline,
)
from ecgnas.errors import ConfigError, DataError


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
