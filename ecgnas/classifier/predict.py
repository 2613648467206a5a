"""Prediction: a loaded bundle (``Classifier``) classifies every beat of one lead.

``load_classifier(path)`` reads a bundle (``ecgnas.classifier.bundle``: contract, weights'
SHA-256, safetensors) and builds its model. ``Classifier.predict_record`` classifies a WFDB
record path (reference annotations ``<path>.atr`` used when present) or a raw signal
(millivolts) and its sampling rate. Records are read by ``ecgnas.data.mitbih.read_wfdb``
(the checks of the MIT-BIH reader: file sizes, signal checksum, lead by name, NaN samples,
annotation order). A signal at another rate is resampled to the bundle's rate
(``scipy.signal.resample_poly``) and beat positions are mapped back to the input's samples.
Beats are the training ones: ``ecgnas.data.beats.record_beats`` in reference mode, and
``ecgnas.data.beats.detected_beats`` (the same filters, XQRS detector, RR features and
windows) in detector mode, keeping every detection (one matched to a reference beat carries
its label). Probabilities are calibrated: ``softmax(logits / T)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgnas.classifier.bundle import read_contract, read_weights, resolve_bundle
from ecgnas.errors import ConfigError, DataError
from ecgnas.spaces.base import Arch

if TYPE_CHECKING:
    from torch import nn

    from ecgnas.train.metrics import ClassMetrics


def load_classifier(path: str | os.PathLike[str] | None = None) -> Classifier:
    """Load a bundle into a ``Classifier``: ``None`` is the default shipped bundle, a shipped
    bundle's name (``"tiny"``; ``ecgnas.classifier.bundle.BUNDLES``) that bundle, anything else
    a bundle directory (``resolve_bundle``; ``ConfigError`` for an unknown bare name).

    Order of checks: contract (``read_contract``), weights present, weights SHA-256 equal to
    ``weights_sha256``, safetensors parse (``read_weights``), weights matching the model's
    parameters. Any failure raises ``DataError``; nothing is unpickled.
    """
    from ecgnas.train.models import build_ecg_model

    bundle = resolve_bundle(path)
    contract = read_contract(bundle)
    state = read_weights(bundle, contract)
    arch = Arch.from_json(contract["arch"])
    try:
        if "ensemble" in contract:
            from ecgnas.classifier.ensemble import build_ensemble

            temps = contract["ensemble"]["temperatures"]
            model = build_ensemble(arch, contract["model_settings"], temps)
        else:
            model = build_ecg_model(arch, contract["model_settings"])
    except (ConfigError, TypeError) as exc:
        raise DataError(f"{bundle}: cannot build the model ({exc})") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataError(
            f"{bundle / 'model.safetensors'}: weights do not fit the model ({first})"
        ) from exc
    model.eval()
    return Classifier(bundle, contract, model)


@dataclass(frozen=True)
class BeatPredictions:
    """The classified beats of one recording (row ``i`` is one beat, in time order).

    sample: int64 [n] R-peak sample index at the *input's* sampling rate ``fs``.
    fs: [Hz] the input's sampling rate.
    classes: the model's class letters; ``probabilities`` columns follow them.
    probabilities: float32 [n, C] calibrated, ``softmax(logits / T)``; rows sum to 1.
    reference: str [n] the reference AAMI class (N, S, V, F or Q) of each beat, ``""``
        where unknown (a detection with no reference beat in tolerance), or ``None`` when
        the input had no reference annotations.
    rpeaks: ``"reference"`` or ``"detector"``.
    missed_reference: reference beats (by AAMI class N, S, V, F, Q) with no detection,
        detector mode with annotations only; beats dropped at the recording's edges
        (window falling off) are in ``dropped_edge``.
    """

    record: str
    sample: np.ndarray
    fs: float
    classes: tuple[str, ...]
    probabilities: np.ndarray
    reference: np.ndarray | None
    rpeaks: str
    missed_reference: dict[str, int]
    dropped_edge: int

    def __len__(self) -> int:
        return int(self.sample.shape[0])

    @property
    def predicted(self) -> np.ndarray:
        """int64 [n] index of the most probable class."""
        return self.probabilities.argmax(axis=1).astype(np.int64)

    @property
    def labels(self) -> np.ndarray:
        """str [n] the predicted class letter of each beat."""
        return np.asarray(self.classes)[self.predicted]

    def counts(self) -> dict[str, int]:
        """Predicted beats per class."""
        pred = np.bincount(self.predicted, minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, pred)}

    def metrics(self) -> ClassMetrics | None:
        """``ClassMetrics`` against the reference on beats whose reference is one of the
        model's classes (Q and unmatched beats left out), or ``None`` without reference."""
        from ecgnas.train.metrics import classification_metrics

        if self.reference is None:
            return None
        index = {c: i for i, c in enumerate(self.classes)}
        y = np.asarray([index.get(r, -1) for r in self.reference.tolist()], dtype=np.int64)
        keep = y >= 0
        return classification_metrics(y[keep], self.predicted[keep], self.classes)

    def to_csv(self) -> str:
        """``sample,time_s,predicted,p_<class>...,reference`` (one line per beat)."""
        head = ["sample", "time_s", "predicted"] + [f"p_{c}" for c in self.classes]
        head.append("reference")
        lines = [",".join(head)]
        labels = self.labels
        for i in range(len(self)):
            ref = "" if self.reference is None else str(self.reference[i])
            probs = ",".join(f"{p:.6f}" for p in self.probabilities[i])
            lines.append(
                f"{int(self.sample[i])},{self.sample[i] / self.fs:.4f},{labels[i]},{probs},{ref}"
            )
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _Input:
    """One lead at the bundle's rate, with optional reference beats."""

    name: str
    signal: np.ndarray  # float64 mV at model fs
    fs_in: float
    ann_sample_in: np.ndarray | None  # all annotations at input fs
    ann_sample: np.ndarray | None  # at model fs
    ann_symbol: tuple[str, ...] | None


@dataclass(frozen=True)
class _Beats:
    """The model inputs of one recording and the bookkeeping ``BeatPredictions`` reports."""

    x: np.ndarray  # float32 [n, 1, W]
    rr: np.ndarray  # float32 [n, 6]
    sample: np.ndarray  # int64 [n] at the input's rate
    reference: np.ndarray | None
    missed: dict[str, int]
    dropped: int


class Classifier:
    """A loaded bundle: ``model`` (eval mode, CPU), ``contract``, ``temperature``, ``classes``,
    ``preprocess`` (the training ``PreprocessConfig``), ``inputs`` (the ``InputConfig`` that
    turns prepared beats into model inputs)."""

    def __init__(self, path: Path, contract: Mapping[str, Any], model: nn.Module) -> None:
        from ecgnas.classifier.bundle import contract_inputs
        from ecgnas.data.preprocess import PreprocessConfig

        self.path = path
        self.contract = contract
        self.model = model
        self.classes: tuple[str, ...] = tuple(contract["class_names"])
        self.temperature = float(contract["temperature"])
        self.preprocess = PreprocessConfig.from_json(contract["preprocessing"]["config"])
        self.lead = str(contract["preprocessing"]["lead"])
        self.arch = Arch.from_json(contract["arch"])
        self.inputs = contract_inputs(dict(contract))

    @property
    def name(self) -> str:
        return str(self.contract["name"])

    def __repr__(self) -> str:
        return f"Classifier({self.name!r}, arch={self.arch.key()}, T={self.temperature:.3f})"

    def model_inputs(
        self, x: np.ndarray, rr: np.ndarray, record: str = "record"
    ) -> tuple[np.ndarray, np.ndarray]:
        """The model inputs (``ecgnas.data.inputs.build_inputs`` with the bundle's
        ``InputConfig``) of one recording's prepared beats, in time order: windows
        ``x [n, 1, W]`` and the six RR columns ``rr [n, 6]``."""
        from ecgnas.data.inputs import build_inputs

        return build_inputs(
            x,
            rr,
            np.full(len(x), record),
            fs=self.preprocess.fs,
            r_index=self.preprocess.window_before,
            config=self.inputs,
        )

    def logits(self, x: np.ndarray, rr: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """Raw logits float32 ``[n, C]`` for model inputs ``x [n, channels, W]`` and
        ``rr [n, k]`` (``model_inputs`` makes them from prepared beats)."""
        import torch

        x = np.ascontiguousarray(x, dtype=np.float32)
        rr = np.ascontiguousarray(rr, dtype=np.float32)
        shape = (self.inputs.n_channels, self.preprocess.window)
        if x.ndim != 3 or x.shape[1:] != shape or rr.shape != (len(x), self.inputs.n_rr):
            raise ConfigError(
                f"expected beats [n, {shape[0]}, {shape[1]}] and rr [n, {self.inputs.n_rr}], "
                f"got {x.shape} and {rr.shape}"
            )
        out = np.zeros((len(x), len(self.classes)), dtype=np.float32)
        with torch.inference_mode():
            for i in range(0, len(x), batch_size):
                xb = torch.from_numpy(x[i : i + batch_size])
                rb = torch.from_numpy(rr[i : i + batch_size])
                out[i : i + batch_size] = self.model(xb, rb).float().numpy()
        return out

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``softmax(logits / T)``, float32 ``[n, C]``."""
        from ecgnas.classifier.calibration import softmax

        return softmax(logits, self.temperature).astype(np.float32)

    def predict_record(
        self,
        record_path: str | os.PathLike[str] | None = None,
        *,
        signal: np.ndarray | None = None,
        fs: float | None = None,
        rpeaks: str | None = None,
        lead: str | None = None,
    ) -> BeatPredictions:
        """Classify every beat of a WFDB record or of a raw single-lead signal.

        record_path: a WFDB record without extension (``.../mitdb/100``); its ``lead``
            (default: the bundle's, MLII) is read in millivolts, and ``<record>.atr``, when
            present, gives reference beats and labels.
        signal, fs: instead of a record, one lead in millivolts (float [n]) at ``fs`` Hz.
        rpeaks: ``"reference"`` (annotated beats) or ``"detector"`` (XQRS); default:
            reference when the record has annotations, else detector. A raw signal has no
            annotations, so it needs the detector.

        Raises ``ConfigError`` for conflicting or missing arguments, ``DataError`` for an
        unreadable record, a missing lead, a flat or too short signal.
        """
        if (record_path is None) == (signal is None):
            raise ConfigError("give either a record path or a signal (with fs), not both")
        if signal is not None:
            if fs is None or not float(fs) > 0:
                raise ConfigError("a raw signal needs its sampling rate fs (Hz)")
            data = self._from_signal(signal, float(fs))
        else:
            if fs is not None:
                raise ConfigError("fs is read from the record header; give it only with signal")
            assert record_path is not None
            data = self._from_record(Path(record_path), lead or self.lead)
        has_ref = data.ann_symbol is not None
        mode = rpeaks or ("reference" if has_ref else "detector")
        if mode not in ("reference", "detector"):
            raise ConfigError(f"rpeaks must be reference or detector, got {mode!r}")
        if mode == "reference" and not has_ref:
            raise ConfigError(
                f"{data.name} has no reference annotations (.atr): use the detector "
                "(rpeaks='detector', --rpeaks detector)"
            )
        beats = self._reference_beats(data) if mode == "reference" else self._detector_beats(data)
        n_classes = len(self.classes)
        x_in, rr_in = self.model_inputs(beats.x, beats.rr, data.name)
        logits = self.logits(x_in, rr_in) if len(beats.x) else np.zeros((0, n_classes), np.float32)
        return BeatPredictions(
            record=data.name,
            sample=beats.sample,
            fs=data.fs_in,
            classes=self.classes,
            probabilities=self.probabilities(logits),
            reference=beats.reference,
            rpeaks=mode,
            missed_reference=beats.missed,
            dropped_edge=beats.dropped,
        )

    # -- inputs --

    def _resample(self, signal: np.ndarray, fs: float) -> np.ndarray:
        if abs(fs - self.preprocess.fs) < 1e-9:
            return signal
        from scipy.signal import resample_poly  # only now: importing scipy.signal takes ~1 s

        ratio = Fraction(self.preprocess.fs / fs).limit_denominator(1000)
        return resample_poly(signal, ratio.numerator, ratio.denominator)

    def _from_signal(self, signal: np.ndarray, fs: float) -> _Input:
        x = np.asarray(signal, dtype=np.float64)
        if x.ndim != 1:
            raise DataError(f"the signal must be one lead, shape [n]; got {x.shape}")
        if not np.isfinite(x).all():
            raise DataError("the signal has NaN or infinite samples")
        if x.size < 2 * self.preprocess.window:
            raise DataError(f"the signal is too short ({x.size} samples)")
        return _Input("signal", self._resample(x, fs), fs, None, None, None)

    def _from_record(self, path: Path, lead: str) -> _Input:
        from ecgnas.data.mitbih import read_wfdb

        base = path.with_suffix("") if path.suffix in (".hea", ".dat", ".atr") else path
        has_atr = base.with_suffix(".atr").is_file()
        rec = read_wfdb(base, lead=lead, annotations=has_atr)
        signal = self._resample(rec.signal, rec.fs)
        if not has_atr:
            return _Input(rec.name, signal, rec.fs, None, None, None)
        ann = np.clip(self._to_model_rate(rec.ann_sample, rec.fs), 0, signal.size - 1)
        return _Input(rec.name, signal, rec.fs, rec.ann_sample, ann, rec.ann_symbol)

    def _to_model_rate(self, sample: np.ndarray, fs_in: float) -> np.ndarray:
        return np.rint(sample * (self.preprocess.fs / fs_in)).astype(np.int64)

    def _to_input_rate(self, sample: np.ndarray, fs_in: float) -> np.ndarray:
        return np.rint(sample * (fs_in / self.preprocess.fs)).astype(np.int64)

    # -- beats --

    def _reference_beats(self, data: _Input) -> _Beats:
        from dataclasses import replace

        from ecgnas.data.beats import record_beats
        from ecgnas.data.labels import AAMI_CLASSES, aami_indices
        from ecgnas.data.mitbih import Record

        assert data.ann_sample is not None and data.ann_symbol is not None
        assert data.ann_sample_in is not None
        config = replace(self.preprocess, rpeaks="reference")
        rec = Record(data.name, data.signal, config.fs, data.ann_sample, data.ann_symbol)
        beats = record_beats(rec, config)
        # exact input-rate positions: find each kept beat among the annotated beats
        is_beat = aami_indices(data.ann_symbol) >= 0
        model_pos = data.ann_sample[is_beat]
        idx = np.searchsorted(model_pos, beats.sample)
        idx = np.clip(idx, 0, max(0, model_pos.size - 1))
        exact = model_pos[idx] == beats.sample
        sample = np.where(
            exact,
            data.ann_sample_in[is_beat][idx],
            self._to_input_rate(beats.sample, data.fs_in),
        )
        return _Beats(
            x=beats.x[:, None, :],
            rr=beats.rr,
            sample=sample.astype(np.int64),
            reference=np.asarray(AAMI_CLASSES)[beats.y.astype(np.int64)],
            missed={c: 0 for c in AAMI_CLASSES},
            dropped=int(beats.stats.dropped_edge.sum()),
        )

    def _detector_beats(self, data: _Input) -> _Beats:
        from ecgnas.data.beats import detected_beats
        from ecgnas.data.labels import AAMI_CLASSES

        config = self.preprocess
        found = detected_beats(data.signal, config, data.name)
        reference = None
        missed = {c: 0 for c in AAMI_CLASSES}
        if data.ann_symbol is not None and data.ann_sample is not None:
            labels, missed = self._match_reference(found.peaks, data.ann_sample, data.ann_symbol)
            reference = labels[found.keep]
        return _Beats(
            x=found.x[:, None, :],
            rr=found.rr,
            sample=self._to_input_rate(found.peaks[found.keep], data.fs_in),
            reference=reference,
            missed=missed,
            dropped=int((~found.keep).sum()),
        )

    def _match_reference(
        self, peaks: np.ndarray, ann_sample: np.ndarray, ann_symbol: tuple[str, ...]
    ) -> tuple[np.ndarray, dict[str, int]]:
        """The reference class of each detection (``""`` when unmatched) and the reference
        beats per class that no detection matched."""
        from ecgnas.data.beats import match_peaks
        from ecgnas.data.labels import AAMI_CLASSES, aami_indices

        labels = aami_indices(ann_symbol)
        ref_r = ann_sample[labels >= 0]
        ref_y = labels[labels >= 0].astype(np.int64)
        tol = int(round(self.preprocess.match_tolerance_s * self.preprocess.fs))
        det_idx, ref_idx = match_peaks(peaks, ref_r, tol)
        out = np.full(peaks.size, "", dtype="<U1")
        out[det_idx] = np.asarray(AAMI_CLASSES)[ref_y[ref_idx]]
        matched = np.zeros(ref_r.size, dtype=bool)
        matched[ref_idx] = True
        counts = np.bincount(ref_y[~matched], minlength=len(AAMI_CLASSES))
        return out, {c: int(n) for c, n in zip(AAMI_CLASSES, counts)}
