"""Beats of one record: windows around R peaks, RR features, AAMI labels, drop counts.

**R peaks.** With ``rpeaks="reference"`` the beats are the reference annotations whose
symbol is an AAMI beat (``ecgnas.data.labels.AAMI_MAP``). With ``rpeaks="detector"``,
``wfdb.processing.XQRS`` runs on the raw lead (millivolts, before our filters) and each
detection is matched one-to-one to the nearest reference beat within ``match_tolerance_s``
(greedy, closest pairs first). A matched detection keeps the *detected* position (window
and RR) and takes the reference label. Unmatched detections (false positives) are counted
in ``BeatStats.unmatched_detections`` and excluded, since they have no label; reference
beats without a detection are counted per class in ``BeatStats.missed``.

**RR features** (``RR_COLUMNS``, seconds and ratios), from the R-peak sequence of the whole
record (all AAMI beats in reference mode, all detections in detector mode), *before* edge
drops: pre-RR, post-RR, local mean RR over ``local_rr_beats`` intervals centred on the beat
(the 5 intervals up to and including pre-RR and the 5 from post-RR on, clipped at the record
ends), and the same three divided by the record's mean RR. The first beat's pre-RR is its
post-RR and the last beat's post-RR is its pre-RR.

**Windows** are ``signal[r - before : r + after]``; a beat whose window falls off the
record is dropped and counted per class in ``BeatStats.dropped_edge``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from ecgnas.data.labels import AAMI_CLASSES, aami_indices
from ecgnas.data.mitbih import Record, quiet_wfdb
from ecgnas.data.preprocess import PreprocessConfig, preprocess_signal
from ecgnas.errors import DataError

RR_COLUMNS: Final[tuple[str, ...]] = (
    "pre_rr_s",
    "post_rr_s",
    "local_rr_s",
    "pre_rr_ratio",
    "post_rr_ratio",
    "local_rr_ratio",
)
"""The six RR feature columns: three in seconds, three divided by the record's mean RR."""

N_CLASSES: Final = len(AAMI_CLASSES)


@dataclass(frozen=True)
class BeatStats:
    """Per-record bookkeeping; every ``[5]`` array is int64 in AAMI order N, S, V, F, Q.

    annotated: AAMI beats in the reference annotations.
    kept: beats in the prepared arrays (``annotated - missed - dropped_edge``).
    dropped_edge: beats whose window fell off the record.
    missed: reference beats with no matched detection (detector mode; zeros otherwise).
    non_beat: annotations that are not AAMI beats (rhythm, noise, comments, ...).
    detections: R peaks found by the detector (0 in reference mode).
    unmatched_detections: detections with no reference beat within tolerance (excluded).
    """

    annotated: np.ndarray
    kept: np.ndarray
    dropped_edge: np.ndarray
    missed: np.ndarray
    non_beat: int
    detections: int = 0
    unmatched_detections: int = 0

    def to_vector(self) -> np.ndarray:
        """int64 [23]: the four class arrays then the three counts (cache layout)."""
        return np.concatenate(
            [
                self.annotated,
                self.kept,
                self.dropped_edge,
                self.missed,
                [self.non_beat, self.detections, self.unmatched_detections],
            ]
        ).astype(np.int64)

    @classmethod
    def from_vector(cls, vec: np.ndarray) -> BeatStats:
        """Inverse of ``to_vector``; ``DataError`` for a wrong length."""
        vec = np.asarray(vec, dtype=np.int64)
        if vec.shape != (4 * N_CLASSES + 3,):
            raise DataError(f"beat statistics have shape {vec.shape}, expected (23,)")
        c = N_CLASSES
        return cls(
            annotated=vec[:c].copy(),
            kept=vec[c : 2 * c].copy(),
            dropped_edge=vec[2 * c : 3 * c].copy(),
            missed=vec[3 * c : 4 * c].copy(),
            non_beat=int(vec[4 * c]),
            detections=int(vec[4 * c + 1]),
            unmatched_detections=int(vec[4 * c + 2]),
        )


@dataclass(frozen=True)
class RecordBeats:
    """The prepared beats of one record.

    x: float32 [n, window] preprocessed signal around each R peak.
    rr: float32 [n, 6] RR features (``RR_COLUMNS``).
    y: int8 [n] AAMI class index (0..4 = N, S, V, F, Q).
    sample: int64 [n] R-peak sample index at the config's ``fs``.
    """

    record: str
    x: np.ndarray
    rr: np.ndarray
    y: np.ndarray
    sample: np.ndarray
    stats: BeatStats


def rr_features(r_peaks: np.ndarray, fs: float, local_beats: int = 10) -> np.ndarray:
    """RR features of an R-peak sequence: float32 [m, 6] (see module docstring).

    ``r_peaks``: strictly increasing sample indices (int [m]) at ``fs`` Hz.
    Raises ``DataError`` for fewer than two peaks or peaks that do not increase.
    """
    r = np.asarray(r_peaks, dtype=np.int64)
    m = r.size
    if m < 2:
        raise DataError(f"RR features need at least 2 beats, got {m}")
    d = np.diff(r).astype(np.float64) / float(fs)
    if (d <= 0).any():
        raise DataError("R peaks are not strictly increasing")
    pre = np.concatenate([[d[0]], d])
    post = np.concatenate([d, [d[-1]]])
    before, after = (local_beats + 1) // 2, local_beats // 2
    cs = np.concatenate([[0.0], np.cumsum(d)])
    i = np.arange(m)
    lo = np.clip(i - before, 0, m - 1)
    hi = np.clip(i + after, 0, m - 1)
    span = hi - lo
    local = np.where(span > 0, (cs[hi] - cs[lo]) / np.maximum(span, 1), pre)
    mean_rr = float(d.mean())
    feats = np.stack([pre, post, local, pre / mean_rr, post / mean_rr, local / mean_rr], axis=1)
    return feats.astype(np.float32)


def window_mask(r_peaks: np.ndarray, n_samples: int, before: int, after: int) -> np.ndarray:
    """bool [m]: True where ``[r - before, r + after)`` lies inside ``[0, n_samples)``."""
    r = np.asarray(r_peaks, dtype=np.int64)
    return (r - before >= 0) & (r + after <= n_samples)


def extract_windows(signal: np.ndarray, r_peaks: np.ndarray, before: int, after: int) -> np.ndarray:
    """float32 [m, before + after] windows; every window must lie inside the signal."""
    r = np.asarray(r_peaks, dtype=np.int64)
    idx = r[:, None] + np.arange(-before, after, dtype=np.int64)[None, :]
    return np.asarray(signal, dtype=np.float32)[idx]


def detect_rpeaks(signal: np.ndarray, fs: float) -> np.ndarray:
    """R-peak sample indices found by ``wfdb.processing.XQRS`` (int64, sorted, unique).

    ``signal``: one raw ECG lead in millivolts. About 2 s per 30-min record at 360 Hz.
    """
    with quiet_wfdb():
        from wfdb import processing

    xqrs = processing.XQRS(sig=np.asarray(signal, dtype=np.float64), fs=float(fs))
    xqrs.detect(verbose=False)
    return np.unique(np.asarray(xqrs.qrs_inds, dtype=np.int64))


def match_peaks(
    detected: np.ndarray, reference: np.ndarray, tolerance: int
) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of detections to reference peaks within ``tolerance`` samples.

    Candidates are each detection's nearest reference on either side; pairs are taken
    closest first. Returns ``(det_idx, ref_idx)`` int64 arrays of equal length, sorted by
    ``det_idx``. Both inputs must be sorted.
    """
    det = np.asarray(detected, dtype=np.int64)
    ref = np.asarray(reference, dtype=np.int64)
    if det.size == 0 or ref.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    right = np.searchsorted(ref, det)
    cand_det = np.concatenate([np.arange(det.size), np.arange(det.size)])
    cand_ref = np.concatenate([right - 1, right])
    ok = (cand_ref >= 0) & (cand_ref < ref.size)
    cand_det, cand_ref = cand_det[ok], cand_ref[ok]
    dist = np.abs(det[cand_det] - ref[cand_ref])
    ok = dist <= tolerance
    cand_det, cand_ref, dist = cand_det[ok], cand_ref[ok], dist[ok]
    order = np.lexsort((cand_ref, cand_det, dist))
    used_det = np.zeros(det.size, dtype=bool)
    used_ref = np.zeros(ref.size, dtype=bool)
    pairs: list[tuple[int, int]] = []
    for k in order.tolist():
        i, j = int(cand_det[k]), int(cand_ref[k])
        if not used_det[i] and not used_ref[j]:
            used_det[i] = used_ref[j] = True
            pairs.append((i, j))
    pairs.sort()
    out = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return out[:, 0].copy(), out[:, 1].copy()


@dataclass(frozen=True)
class DetectedBeats:
    """Every R peak the detector found in one lead, as unlabelled beats (for prediction).

    peaks: int64 [m] all detections at the config's ``fs``; the RR features use all of them.
    keep: bool [m] detections whose window lies inside the signal.
    x: float32 [k, window] preprocessed windows of the kept detections (``k = keep.sum()``).
    rr: float32 [k, 6] their RR features (``RR_COLUMNS``).
    """

    peaks: np.ndarray
    keep: np.ndarray
    x: np.ndarray
    rr: np.ndarray


def detected_beats(
    signal: np.ndarray, config: PreprocessConfig, name: str = "signal"
) -> DetectedBeats:
    """Cut a beat at every detection of a raw lead (millivolts at ``config.fs``), no labels.

    The preprocessing, detector, RR features and windows of ``record_beats`` in detector
    mode, but no reference is needed and no detection is dropped for lacking one. Raises
    ``DataError`` (prefixed with ``name``) for a flat lead or fewer than two detections.
    """
    try:
        filtered = preprocess_signal(signal, config.fs, config)
    except DataError as exc:
        raise DataError(f"{name}: {exc}") from exc
    peaks = detect_rpeaks(signal, config.fs)
    try:
        rr = rr_features(peaks, config.fs, config.local_rr_beats)
    except DataError as exc:
        raise DataError(f"{name}: detector: {exc}") from exc
    keep = window_mask(peaks, filtered.size, config.window_before, config.window_after)
    x = extract_windows(filtered, peaks[keep], config.window_before, config.window_after)
    return DetectedBeats(peaks=peaks, keep=keep, x=x, rr=rr[keep])


def _per_class(y: np.ndarray) -> np.ndarray:
    return np.bincount(np.asarray(y, dtype=np.int64), minlength=N_CLASSES).astype(np.int64)


def record_beats(record: Record, config: PreprocessConfig) -> RecordBeats:
    """Preprocess ``record`` and cut it into labelled beats according to ``config``.

    Raises ``DataError`` when the record has fewer than two beats (no RR) or a flat lead.
    """
    try:
        signal = preprocess_signal(record.signal, record.fs, config)
    except DataError as exc:
        raise DataError(f"record {record.name}: {exc}") from exc
    labels = aami_indices(record.ann_symbol)
    is_beat = labels >= 0
    ref_r = np.asarray(record.ann_sample, dtype=np.int64)[is_beat]
    ref_y = labels[is_beat]
    annotated = _per_class(ref_y)
    non_beat = int((~is_beat).sum())
    missed = np.zeros(N_CLASSES, dtype=np.int64)
    detections = unmatched = 0

    if config.rpeaks == "reference":
        peaks, peak_y = ref_r, ref_y
        try:
            rr_all = rr_features(peaks, config.fs, config.local_rr_beats)
        except DataError as exc:
            raise DataError(f"record {record.name}: {exc}") from exc
    else:
        found = detect_rpeaks(record.signal, record.fs)
        detections = int(found.size)
        tol = int(round(config.match_tolerance_s * config.fs))
        det_idx, ref_idx = match_peaks(found, ref_r, tol)
        unmatched = detections - int(det_idx.size)
        matched_ref = np.zeros(ref_r.size, dtype=bool)
        matched_ref[ref_idx] = True
        missed = _per_class(ref_y[~matched_ref])
        try:
            rr_found = rr_features(found, config.fs, config.local_rr_beats)
        except DataError as exc:
            raise DataError(f"record {record.name}: detector: {exc}") from exc
        peaks, peak_y, rr_all = found[det_idx], ref_y[ref_idx], rr_found[det_idx]

    keep = window_mask(peaks, signal.size, config.window_before, config.window_after)
    dropped = _per_class(peak_y[~keep])
    peaks, peak_y, rr = peaks[keep], peak_y[keep], rr_all[keep]
    x = extract_windows(signal, peaks, config.window_before, config.window_after)
    stats = BeatStats(
        annotated=annotated,
        kept=_per_class(peak_y),
        dropped_edge=dropped,
        missed=missed,
        non_beat=non_beat,
        detections=detections,
        unmatched_detections=unmatched,
    )
    return RecordBeats(
        record=record.name,
        x=x,
        rr=np.ascontiguousarray(rr, dtype=np.float32),
        y=peak_y.astype(np.int8),
        sample=peaks.astype(np.int64),
        stats=stats,
    )
