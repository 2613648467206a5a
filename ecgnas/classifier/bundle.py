"""The reusable classifier: a bundle on disk, loaded into an object that classifies records.

**Bundle** (a directory):

* ``model.safetensors``: the weights (``safetensors.torch.save_file``). They are only ever
  read with ``safetensors.torch.load_file``, never ``torch.load``/pickle.
* ``contract.json``: everything needed to rebuild the model and reproduce its inputs (see
  ``CONTRACT_KEYS``): format name and version, arch, model settings, preprocessing
  (``PreprocessConfig.to_json()``, lead, sampling rate, beat window, RR features), class
  names, temperature, metrics (labelled DS1-validation and DS2-test), training settings,
  package versions, and ``weights_sha256``, the SHA-256 of ``model.safetensors``.
* ``MODEL_CARD.md``: intended use, data, protocol, results, limitations.

``save_bundle`` writes the three files into a temporary directory beside the target and
renames it into place, so a crash leaves the old bundle or none. ``load_classifier``
validates the contract (format and version, required keys and their types, preprocessing,
arch) and the weights' SHA-256 *before* reading them, then builds the model; anything wrong
raises ``DataError`` naming the problem.

**Prediction.** ``Classifier.predict_record`` classifies every beat of one lead: from a
WFDB record path (reference annotations ``<path>.atr`` used when present) or from a raw
signal (millivolts) and its sampling rate. A signal at another rate is resampled to the
bundle's rate (``scipy.signal.resample_poly``) and beat positions are mapped back to the
input's samples. Preprocessing is the training one: ``ecgnas.data.beats.record_beats`` in
reference mode; in detector mode the same filters, ``detect_rpeaks`` (XQRS), RR features and
windows, keeping every detection (a detection matched to a reference beat carries its label).
Probabilities are calibrated: ``softmax(logits / T)``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ecgnas.errors import ConfigError, DataError
from ecgnas.io import atomic_write_json
from ecgnas.spaces.base import Arch

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ecgnas.data.preprocess import PreprocessConfig

log = logging.getLogger(__name__)

FORMAT_NAME: Final = "ecgnas-classifier"
FORMAT_VERSION: Final = 1
WEIGHTS_FILE: Final = "model.safetensors"
CONTRACT_FILE: Final = "contract.json"
CARD_FILE: Final = "MODEL_CARD.md"
BUNDLE_FILES: Final = (WEIGHTS_FILE, CONTRACT_FILE, CARD_FILE)
SHIPPED_BUNDLE: Final = "classifier"
"""Sub-directory of ``ecgnas/assets`` holding the shipped bundle."""

CONTRACT_KEYS: Final[dict[str, type | tuple[type, ...]]] = {
    "format": str,
    "format_version": int,
    "name": str,
    "arch": dict,
    "model_settings": dict,
    "preprocessing": dict,
    "class_names": list,
    "temperature": (int, float),
    "metrics": dict,
    "training": dict,
    "versions": dict,
    "weights_sha256": str,
}
"""Required top-level keys of ``contract.json`` and their JSON types."""

PREPROCESSING_KEYS: Final[dict[str, type | tuple[type, ...]]] = {
    "config": dict,
    "digest": str,
    "lead": str,
    "fs": (int, float),
    "window_before": int,
    "window_after": int,
    "rr_features": dict,
}

RR_DEFINITION: Final = (
    "pre-RR, post-RR and local mean RR (local_rr_beats intervals centred on the beat) in "
    "seconds, from the R-peak sequence of the whole recording; then the same three divided "
    "by the recording's mean RR (ecgnas.data.beats.rr_features). First beat: pre-RR = "
    "post-RR; last beat: post-RR = pre-RR."
)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of the packages a bundle depends on (ecgnas, torch, numpy, wfdb, python)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import ecgnas

    out = {"ecgnas": ecgnas.__version__, "python": platform.python_version()}
    for pkg in ("torch", "numpy", "scipy", "wfdb", "safetensors"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def preprocessing_contract(config: PreprocessConfig, lead: str = "MLII") -> dict[str, Any]:
    """The ``preprocessing`` section of a contract for ``config``."""
    from ecgnas.data.beats import RR_COLUMNS

    return {
        "config": config.to_json(),
        "digest": config.digest(),
        "lead": lead,
        "fs": config.fs,
        "window_before": config.window_before,
        "window_after": config.window_after,
        "rr_features": {
            "columns": list(RR_COLUMNS),
            "definition": RR_DEFINITION,
            "local_rr_beats": config.local_rr_beats,
            "normalisation": "the *_ratio columns divide by the recording's mean RR; the "
            "model batch-normalises all six with statistics learned on DS1",
        },
    }


# --- writing --------------------------------------------------------------------------------


def save_bundle(
    path: str | os.PathLike[str],
    state_dict: Mapping[str, torch.Tensor],
    contract: dict[str, Any],
    model_card: str,
) -> Path:
    """Write a bundle directory atomically and return its path.

    ``contract`` is completed here with ``format``, ``format_version`` and
    ``weights_sha256``, then validated like ``load_classifier`` does (``DataError`` when a
    required key is missing). An existing *bundle* at ``path`` is replaced; an existing
    directory that is not a bundle is refused (``ConfigError``), never deleted.
    """
    from safetensors.torch import save_file

    target = Path(path)
    if target.exists() and not (target / CONTRACT_FILE).is_file():
        if not target.is_dir() or any(target.iterdir()):
            raise ConfigError(f"{target} exists and is not a classifier bundle; not replacing it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT_NAME})
        full = dict(contract)
        full["format"] = FORMAT_NAME
        full["format_version"] = FORMAT_VERSION
        full["weights_sha256"] = sha256_file(tmp / WEIGHTS_FILE)
        validate_contract(full)
        atomic_write_json(tmp / CONTRACT_FILE, full)
        (tmp / CARD_FILE).write_text(model_card, encoding="utf-8")
        # temporary files are private (0600/0700); a bundle is meant to be shared
        for name in BUNDLE_FILES:
            os.chmod(tmp / name, 0o644)
        os.chmod(tmp, 0o755)
        # a directory cannot replace another in one rename: move the old bundle aside,
        # move the new one in, then delete the old one (put back if the second move fails)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except BaseException:
            if old is not None:
                os.replace(old, target)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


# --- validating and loading -------------------------------------------------------------------


def _type_name(t: type | tuple[type, ...]) -> str:
    types = t if isinstance(t, tuple) else (t,)
    names = {"str": "a string", "int": "an integer", "float": "a number", "dict": "an object"}
    names["list"] = "a list"
    return " or ".join(names.get(x.__name__, x.__name__) for x in types)


def _check_keys(obj: Mapping[str, Any], spec: Mapping[str, Any], where: str) -> None:
    missing = [k for k in spec if k not in obj]
    if missing:
        raise DataError(f"{where}: missing key(s) {', '.join(missing)}")
    for key, want in spec.items():
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, want):
            raise DataError(f"{where}: {key!r} must be {_type_name(want)}")


def validate_contract(contract: Any, where: str = CONTRACT_FILE) -> None:
    """Raise ``DataError`` naming the first thing wrong with a contract (see ``CONTRACT_KEYS``)."""
    from ecgnas.data.preprocess import PreprocessConfig
    from ecgnas.spaces.registry import get_space

    if not isinstance(contract, dict):
        raise DataError(f"{where}: not a JSON object")
    if contract.get("format") != FORMAT_NAME:
        raise DataError(
            f"{where}: format is {contract.get('format')!r}, expected {FORMAT_NAME!r} "
            "(not an ecgnas classifier bundle)"
        )
    version = contract.get("format_version")
    if version != FORMAT_VERSION:
        raise DataError(
            f"{where}: unsupported format_version {version!r} (this ecgnas reads "
            f"version {FORMAT_VERSION})"
        )
    _check_keys(contract, CONTRACT_KEYS, where)
    _check_keys(contract["preprocessing"], PREPROCESSING_KEYS, f"{where} preprocessing")
    names = contract["class_names"]
    if len(names) < 2 or not all(isinstance(n, str) and n for n in names):
        raise DataError(f"{where}: class_names must be a list of at least two class letters")
    temperature = float(contract["temperature"])
    if not (math.isfinite(temperature) and temperature > 0):
        raise DataError(f"{where}: temperature must be a positive number, got {temperature}")
    sha = contract["weights_sha256"]
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise DataError(f"{where}: weights_sha256 is not a SHA-256 hex digest")
    pre = contract["preprocessing"]
    try:
        config = PreprocessConfig.from_json(pre["config"])
    except (ConfigError, TypeError) as exc:
        raise DataError(f"{where}: bad preprocessing config ({exc})") from exc
    if config.digest() != pre["digest"]:
        raise DataError(f"{where}: preprocessing digest does not match its config")
    if (config.fs, config.window_before, config.window_after) != (
        float(pre["fs"]),
        pre["window_before"],
        pre["window_after"],
    ):
        raise DataError(f"{where}: preprocessing fs/window disagree with its config")
    try:
        arch = Arch.from_json(contract["arch"])
        space = get_space(arch.space)
    except (KeyError, ValueError, TypeError, ConfigError) as exc:
        raise DataError(f"{where}: bad arch ({exc})") from exc
    if not space.is_valid(arch):
        raise DataError(f"{where}: arch {arch.key()} is not valid in space {arch.space!r}")
    if contract["model_settings"].get("n_classes") != len(names):
        raise DataError(f"{where}: model_settings.n_classes disagrees with class_names")


def read_contract(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate ``<bundle>/contract.json`` (``DataError`` when absent or invalid)."""
    bundle = Path(path)
    file = bundle / CONTRACT_FILE
    if not bundle.is_dir():
        raise DataError(f"no classifier bundle at {bundle} (not a directory)")
    if not file.is_file():
        raise DataError(f"{bundle} is not a classifier bundle: no {CONTRACT_FILE}")
    try:
        contract = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{file}: not valid JSON ({exc})") from exc
    validate_contract(contract, str(file))
    return contract


def shipped_bundle_path() -> Path:
    """Where the bundle shipped inside the package lives (``ecgnas/assets/classifier``)."""
    return Path(__file__).resolve().parent / "assets" / SHIPPED_BUNDLE


def load_classifier(path: str | os.PathLike[str] | None = None) -> Classifier:
    """Load a bundle (``None``: the shipped one) into a ``Classifier``; see the module docstring.

    Order of checks: contract (``read_contract``), weights present, weights SHA-256 equal to
    ``weights_sha256``, safetensors parse, weights matching the model's parameters. Any
    failure raises ``DataError``; nothing is unpickled.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ecgnas.train.models import build_ecg_model

    bundle = Path(path) if path is not None else shipped_bundle_path()
    contract = read_contract(bundle)
    weights = bundle / WEIGHTS_FILE
    if not weights.is_file():
        raise DataError(f"{bundle}: missing {WEIGHTS_FILE}")
    actual = sha256_file(weights)
    if actual != contract["weights_sha256"]:
        raise DataError(
            f"{weights}: SHA-256 {actual[:12]}... does not match the contract's "
            f"{contract['weights_sha256'][:12]}... (corrupt or replaced weights)"
        )
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise DataError(f"{weights}: not a readable safetensors file ({exc})") from exc
    arch = Arch.from_json(contract["arch"])
    try:
        model = build_ecg_model(arch, contract["model_settings"])
    except (ConfigError, TypeError) as exc:
        raise DataError(f"{bundle}: cannot build the model ({exc})") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataError(f"{weights}: weights do not fit the model ({first})") from exc
    model.eval()
    return Classifier(bundle, contract, model)


# --- predictions ---------------------------------------------------------------------------


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

    def metrics(self) -> Any:
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


class Classifier:
    """A loaded bundle: ``model`` (eval mode, CPU), ``contract``, ``temperature``, ``classes``,
    ``preprocess`` (the training ``PreprocessConfig``)."""

    def __init__(self, path: Path, contract: dict[str, Any], model: nn.Module) -> None:
        from ecgnas.data.preprocess import PreprocessConfig

        self.path = path
        self.contract = contract
        self.model = model
        self.classes: tuple[str, ...] = tuple(contract["class_names"])
        self.temperature = float(contract["temperature"])
        self.preprocess = PreprocessConfig.from_json(contract["preprocessing"]["config"])
        self.lead = str(contract["preprocessing"]["lead"])
        self.arch = Arch.from_json(contract["arch"])

    @property
    def name(self) -> str:
        return str(self.contract["name"])

    def __repr__(self) -> str:
        return f"Classifier({self.name!r}, arch={self.arch.key()}, T={self.temperature:.3f})"

    def logits(self, x: np.ndarray, rr: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """Raw logits float32 ``[n, C]`` for beat windows ``x [n, 1, W]`` and RR ``[n, 6]``."""
        import torch

        x = np.ascontiguousarray(x, dtype=np.float32)
        rr = np.ascontiguousarray(rr, dtype=np.float32)
        if x.ndim != 3 or x.shape[1:] != (1, self.preprocess.window) or rr.shape != (len(x), 6):
            raise ConfigError(
                f"expected beats [n, 1, {self.preprocess.window}] and rr [n, 6], "
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
        from ecgnas.calibration import softmax

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
            data = self._from_record(Path(record_path), lead or self.lead)  # type: ignore[arg-type]
        has_ref = data.ann_symbol is not None
        mode = rpeaks or ("reference" if has_ref else "detector")
        if mode not in ("reference", "detector"):
            raise ConfigError(f"rpeaks must be reference or detector, got {mode!r}")
        if mode == "reference" and not has_ref:
            raise ConfigError(
                f"{data.name} has no reference annotations (.atr): use the detector "
                "(rpeaks='detector', --rpeaks detector)"
            )
        if mode == "reference":
            x, rr, sample, reference, missed, dropped = self._reference_beats(data)
        else:
            x, rr, sample, reference, missed, dropped = self._detector_beats(data)
        logits = self.logits(x, rr) if len(x) else np.zeros((0, len(self.classes)), np.float32)
        return BeatPredictions(
            record=data.name,
            sample=sample,
            fs=data.fs_in,
            classes=self.classes,
            probabilities=self.probabilities(logits),
            reference=reference,
            rpeaks=mode,
            missed_reference=missed,
            dropped_edge=dropped,
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
        from ecgnas.data.mitbih import quiet_wfdb

        with quiet_wfdb():
            import wfdb

        base = path.with_suffix("") if path.suffix in (".hea", ".dat", ".atr") else path
        if not base.with_suffix(".hea").is_file():
            raise DataError(f"no WFDB record at {base} (missing {base.name}.hea)")
        try:
            with quiet_wfdb():
                header = wfdb.rdheader(str(base))
        except Exception as exc:  # wfdb raises bare errors on bad headers
            raise DataError(f"{base}: cannot read the header ({exc})") from exc
        names = list(header.sig_name or [])
        if lead not in names:
            raise DataError(
                f"{base} has no {lead} lead (leads: {', '.join(names) or 'none'}); the model "
                f"was trained on {self.lead}"
            )
        fs_in = float(header.fs)
        try:
            with quiet_wfdb():
                rec = wfdb.rdrecord(str(base), channels=[names.index(lead)])
            x = np.asarray(rec.p_signal[:, 0], dtype=np.float64)
        except Exception as exc:
            raise DataError(f"{base}: cannot read the signal ({exc})") from exc
        if not np.isfinite(x).all():
            raise DataError(f"{base}: {lead} has invalid (NaN) samples")
        ann_in = ann = symbols = None
        if base.with_suffix(".atr").is_file():
            try:
                with quiet_wfdb():
                    atr = wfdb.rdann(str(base), "atr")
            except Exception as exc:
                raise DataError(f"{base}: cannot read the annotations ({exc})") from exc
            ann_in = np.asarray(atr.sample, dtype=np.int64)
            symbols = tuple(str(s) for s in atr.symbol)
            ann = self._to_model_rate(ann_in, fs_in)
        signal = self._resample(x, fs_in)
        if ann is not None:
            ann = np.clip(ann, 0, signal.size - 1)
        return _Input(base.name, signal, fs_in, ann_in, ann, symbols)

    def _to_model_rate(self, sample: np.ndarray, fs_in: float) -> np.ndarray:
        return np.rint(sample * (self.preprocess.fs / fs_in)).astype(np.int64)

    def _to_input_rate(self, sample: np.ndarray, fs_in: float) -> np.ndarray:
        return np.rint(sample * (fs_in / self.preprocess.fs)).astype(np.int64)

    # -- beats --

    def _reference_beats(self, data: _Input) -> tuple:
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
        reference = np.asarray(AAMI_CLASSES)[beats.y.astype(np.int64)]
        missed = {c: 0 for c in AAMI_CLASSES}
        dropped = int(beats.stats.dropped_edge.sum())
        return beats.x[:, None, :], beats.rr, sample.astype(np.int64), reference, missed, dropped

    def _detector_beats(self, data: _Input) -> tuple:
        from ecgnas.data.beats import (
            detect_rpeaks,
            extract_windows,
            match_peaks,
            rr_features,
            window_mask,
        )
        from ecgnas.data.labels import AAMI_CLASSES, aami_indices
        from ecgnas.data.preprocess import preprocess_signal

        config = self.preprocess
        try:
            filtered = preprocess_signal(data.signal, config.fs, config)
        except DataError as exc:
            raise DataError(f"{data.name}: {exc}") from exc
        found = detect_rpeaks(data.signal, config.fs)
        if found.size < 2:
            raise DataError(f"{data.name}: the detector found {found.size} beats; need 2+")
        rr_all = rr_features(found, config.fs, config.local_rr_beats)
        keep = window_mask(found, filtered.size, config.window_before, config.window_after)
        reference = None
        missed = {c: 0 for c in AAMI_CLASSES}
        if data.ann_symbol is not None and data.ann_sample is not None:
            labels = aami_indices(data.ann_symbol)
            ref_r = data.ann_sample[labels >= 0]
            ref_y = labels[labels >= 0].astype(np.int64)
            tol = int(round(config.match_tolerance_s * config.fs))
            det_idx, ref_idx = match_peaks(found, ref_r, tol)
            ref_all = np.full(found.size, "", dtype="<U1")
            ref_all[det_idx] = np.asarray(AAMI_CLASSES)[ref_y[ref_idx]]
            reference = ref_all[keep]
            matched = np.zeros(ref_r.size, dtype=bool)
            matched[ref_idx] = True
            counts = np.bincount(ref_y[~matched], minlength=len(AAMI_CLASSES))
            missed = {c: int(n) for c, n in zip(AAMI_CLASSES, counts)}
        peaks = found[keep]
        x = extract_windows(filtered, peaks, config.window_before, config.window_after)
        sample = self._to_input_rate(peaks, data.fs_in)
        dropped = int((~keep).sum())
        return x[:, None, :], rr_all[keep], sample, reference, missed, dropped
