"""Signal preprocessing and the one config that describes how a record becomes beats.

``PreprocessConfig`` holds every setting that changes the prepared arrays (filters,
normalisation, sampling rate, beat window, R-peak source). Its ``digest()`` is the cache
key, and it is recorded in every cache entry and in ``BeatSet.config``.

Default pipeline, applied per record to the MLII lead at 360 Hz:

1. baseline-wander removal: ``baseline = median_600ms(median_200ms(x))``, ``x - baseline``
   (de Chazal et al. 2004). The windows are ``round(0.2 * fs)`` and ``round(0.6 * fs)``
   samples made odd: 73 and 217 at 360 Hz. ``scipy.ndimage.median_filter``, edges
   ``nearest``; about 30 ms per filter on 650,000 samples.
2. band-pass (off by default): zero-phase Butterworth, ``scipy.signal.sosfiltfilt``, order
   ``bandpass_order`` (the forward-backward pass doubles the effective order),
   ``bandpass_hz`` corners, default 0.5-40 Hz.
3. per-record normalisation: ``"zscore"`` (mean and standard deviation of the whole
   filtered record), ``"robust"`` (median and interquartile range / 1.349, a standard
   deviation estimate that ignores artefacts) or ``"none"`` (millivolts). The robust scale
   reflects the isoelectric segments that fill most of a record, so QRS complexes come out
   several times larger than with ``"zscore"``.

Normalising per record uses the whole record, so at deployment the statistics come from
the recording being classified (30 min here), not from a single beat.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import numpy as np

from ecgnas.errors import ConfigError, DataError, check_fields

PIPELINE_VERSION: Final = 1
"""Bump when the code that turns a record into beats changes its output; stales every cache."""

Normalize = Literal["zscore", "robust", "none"]
RPeaks = Literal["reference", "detector"]


@dataclass(frozen=True)
class PreprocessConfig:
    """How a raw record becomes beat windows, RR features and labels.

    Attributes (units in brackets)
    ------------------------------
    fs: [Hz] sampling rate of the prepared signal. 360 keeps MIT-BIH as recorded; any other
        value resamples.
    baseline: remove baseline wander with the 200 ms + 600 ms median filters.
    bandpass: apply the zero-phase Butterworth band-pass ``bandpass_hz``.
    bandpass_hz: [Hz] (low, high) corner frequencies; ``0 < low < high < fs / 2``.
    bandpass_order: Butterworth order of each pass (1..8).
    normalize: per-record ``"zscore"``, ``"robust"`` or ``"none"``.
    window_before, window_after: [samples at ``fs``] a beat window is
        ``signal[r - window_before : r + window_after]`` around R-peak sample ``r``; the
        default 90 + 166 = 256 samples is 0.25 s before and 0.46 s after the peak. Beats
        whose window falls off the record are dropped and counted per class.
    rpeaks: ``"reference"`` uses the annotated beat positions. ``"detector"`` runs
        ``wfdb.processing.XQRS`` and keeps detections matched to a reference beat within
        ``match_tolerance_s`` (labels come from the reference; see ``ecgnas.data.beats``).
    match_tolerance_s: [s] detector-to-reference matching tolerance, default 0.15.
    local_rr_beats: number of RR intervals averaged for the local mean RR (centred).
    """

    fs: float = 360.0
    baseline: bool = True
    bandpass: bool = False
    bandpass_hz: tuple[float, float] = (0.5, 40.0)
    bandpass_order: int = 3
    normalize: Normalize = "zscore"
    window_before: int = 90
    window_after: int = 166
    rpeaks: RPeaks = "reference"
    match_tolerance_s: float = 0.15
    local_rr_beats: int = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "fs", float(self.fs))
        object.__setattr__(self, "bandpass_hz", tuple(float(f) for f in self.bandpass_hz))
        if not 50.0 <= self.fs <= 2000.0:
            raise ConfigError(f"fs must be in [50, 2000] Hz, got {self.fs:g}")
        low, high = self.bandpass_hz if len(self.bandpass_hz) == 2 else (-1.0, -1.0)
        if not 0.0 < low < high < self.fs / 2:
            raise ConfigError(
                f"bandpass_hz must be (low, high) with 0 < low < high < fs/2, got {self.bandpass_hz}"
            )
        if not 1 <= self.bandpass_order <= 8:
            raise ConfigError(f"bandpass_order must be in 1..8, got {self.bandpass_order}")
        if self.normalize not in ("zscore", "robust", "none"):
            raise ConfigError(f"normalize must be zscore, robust or none, got {self.normalize!r}")
        if self.window_before < 0 or self.window_after < 1:
            raise ConfigError("window_before must be >= 0 and window_after >= 1 samples")
        if self.rpeaks not in ("reference", "detector"):
            raise ConfigError(f"rpeaks must be reference or detector, got {self.rpeaks!r}")
        if not 0.0 < self.match_tolerance_s <= 1.0:
            raise ConfigError(f"match_tolerance_s must be in (0, 1], got {self.match_tolerance_s}")
        if self.local_rr_beats < 1:
            raise ConfigError(f"local_rr_beats must be >= 1, got {self.local_rr_beats}")

    @property
    def window(self) -> int:
        """Beat window length in samples."""
        return self.window_before + self.window_after

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field (tuples become lists)."""
        out = asdict(self)
        out["bandpass_hz"] = list(self.bandpass_hz)
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> PreprocessConfig:
        """Inverse of ``to_json``; ``ConfigError`` for unknown keys or bad values."""
        kwargs = check_fields(cls, obj, "preprocessing setting(s)")
        if "bandpass_hz" in kwargs:
            kwargs["bandpass_hz"] = tuple(kwargs["bandpass_hz"])
        return cls(**kwargs)

    def digest(self) -> str:
        """Stable SHA-256 hex of the sorted JSON of the fields plus ``PIPELINE_VERSION``."""
        payload = {"pipeline_version": PIPELINE_VERSION, **self.to_json()}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def median_window(seconds: float, fs: float) -> int:
    """Odd window length in samples closest above ``seconds * fs`` (73 for 0.2 s at 360 Hz)."""
    n = max(1, int(round(seconds * fs)))
    return n if n % 2 else n + 1


def remove_baseline(signal: np.ndarray, fs: float) -> np.ndarray:
    """``signal - median_600ms(median_200ms(signal))``; float64 [n] in, float64 [n] out."""
    from scipy.ndimage import median_filter

    x = np.asarray(signal, dtype=np.float64)
    first = median_filter(x, size=median_window(0.2, fs), mode="nearest")
    baseline = median_filter(first, size=median_window(0.6, fs), mode="nearest")
    return x - baseline


def bandpass(signal: np.ndarray, fs: float, band_hz: tuple[float, float], order: int) -> np.ndarray:
    """Zero-phase Butterworth band-pass (``sosfiltfilt``); float64 [n] out.

    Raises ``DataError`` when the signal is too short for the filter's edge padding.
    """
    from scipy.signal import butter, sosfiltfilt

    sos = butter(order, band_hz, btype="bandpass", fs=fs, output="sos")
    x = np.asarray(signal, dtype=np.float64)
    padlen = 3 * (2 * len(sos) + 1)
    if x.size <= padlen:
        raise DataError(f"signal of {x.size} samples is too short to band-pass")
    return sosfiltfilt(sos, x)


def normalize(signal: np.ndarray, how: Normalize) -> np.ndarray:
    """Per-record normalisation (see module docstring). Raises ``DataError`` on a flat signal."""
    x = np.asarray(signal, dtype=np.float64)
    if how == "none":
        return x
    if how == "zscore":
        centre, scale = float(x.mean()), float(x.std())
    else:
        q25, centre, q75 = np.percentile(x, [25.0, 50.0, 75.0])
        scale = float(q75 - q25) / 1.349
    if not np.isfinite(scale) or scale <= 1e-12:
        raise DataError("signal is flat: cannot normalise it")
    return (x - centre) / scale


def preprocess_signal(signal: np.ndarray, fs: float, config: PreprocessConfig) -> np.ndarray:
    """Apply baseline removal, band-pass and normalisation of ``config``; float32 [n] out.

    ``fs`` must already equal ``config.fs`` (``read_record`` resamples); ``ConfigError``
    otherwise.
    """
    if abs(float(fs) - config.fs) > 1e-6:
        raise ConfigError(f"signal is at {fs:g} Hz but the config expects {config.fs:g} Hz")
    x = np.asarray(signal, dtype=np.float64)
    if config.baseline:
        x = remove_baseline(x, fs)
    if config.bandpass:
        x = bandpass(x, fs, config.bandpass_hz, config.bandpass_order)
    return normalize(x, config.normalize).astype(np.float32)
