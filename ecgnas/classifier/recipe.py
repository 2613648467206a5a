"""The training recipe shared by tuning and the final training.

* ``Hyperparams``: what is tuned (learning rate, weight decay, batch size, dropout, epochs,
  loss and its class weighting or focal gamma, augmentation strength).
* ``Setup``: what is fixed for a study and reused by ``ecgnas train`` (preprocessing, the
  record-wise DS1 split, N-beat subsampling per epoch, early-stopping patience, the range of
  epochs, holdout or k-fold objective).
* the builders that turn them into a model and trainer settings, and the DS1 data they
  train on (``load_ds1`` passes ``allowed=DS1``, so the data layer refuses any DS2 record).

**Speed.** Each epoch trains on every S, V and F beat of the training records and a fresh
random subset of at most ``Setup.max_majority`` N beats (``None``: all N beats). Class
weights are computed on the full training set, so subsampling does not change them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ecgnas.data.inputs import InputConfig
from ecgnas.data.preprocess import PreprocessConfig
from ecgnas.errors import ConfigError, check_fields
from ecgnas.spaces.base import Arch
from ecgnas.spaces.ecg1d import REDUCTIONS
from ecgnas.train.metrics import AAMI4

if TYPE_CHECKING:
    from torch import nn

    from ecgnas.data.dataset import BeatSet
    from ecgnas.data.splits import RecordSplit
    from ecgnas.train.trainer import BeatArrays, TrainConfig

CV_MODES: Final = ("holdout", "kfold")
FINAL_MODES: Final = ("holdout", "ensemble")
LOSSES: Final = ("weighted_ce", "focal")
CELL_NET_SPACES: Final = ("ecg1d", "ecgjoint")
"""Spaces whose network is the cell network (``dropout`` and ``width`` are model settings)."""


@dataclass(frozen=True)
class Hyperparams:
    """Training hyperparameters of the final model (the tuned part).

    lr: peak learning rate of AdamW's one-cycle schedule. weight_decay: AdamW decoupled
    decay. batch_size: beats per step. dropout: probability before the classifier (ecg1d:
    the ``dropout`` model setting; manual baseline: every dropout layer of the network,
    replacing the grid's value). epochs: maximum epochs (early stopping may end sooner).
    loss: ``"weighted_ce"`` or ``"focal"``; both weight class ``c`` by ``(n/n_c) **
    class_weight_power`` (0: unweighted). focal_gamma: focusing exponent (focal only).
    augment: strength in [0, 1] of amplitude, offset and noise augmentation.
    adversarial: weight of the record discriminator behind gradient reversal (subject-
    invariant training, ``ecgnas.train.adversarial``); 0 (default) turns it off. Not tuned
    by ``ecgnas tune``: set it in a recipe.
    """

    lr: float = 3e-3
    weight_decay: float = 1e-2
    batch_size: int = 128
    dropout: float = 0.1
    epochs: int = 10
    loss: str = "weighted_ce"
    class_weight_power: float = 0.5
    focal_gamma: float = 2.0
    augment: float = 0.0
    adversarial: float = 0.0

    def __post_init__(self) -> None:
        if not (self.lr > 0 and self.weight_decay >= 0 and self.batch_size >= 1):
            raise ConfigError(f"bad hyperparameters: {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Hyperparams:
        """Inverse of ``to_json``; unknown keys raise ``ConfigError``, missing keys default."""
        return cls(**check_fields(cls, obj, "hyperparameter(s)"))


@dataclass(frozen=True)
class Setup:
    """The fixed part of the recipe, shared by a tuning study and the final training.

    preprocess: how records become beats (its digest is recorded in the study).
    inputs: what the model sees of each beat (``ecgnas.data.inputs.InputConfig``: RR feature
        set, morphology, derivative and context channels, polarity).
    classes: the model's classes (N, S, V, F).
    cv: ``"holdout"`` (one record-wise validation split) or ``"kfold"`` (``folds`` folds,
        the pooled out-of-fold objective of ``ecgnas.classifier.cv``).
    final: the final model: ``"holdout"`` (one model, early-stopped and calibrated on the
        holdout split's DS1-val records) or ``"ensemble"`` (the ``folds`` fold models of
        DS1 cross-validation, each calibrated on its held-out records, probabilities
        averaged: ``ecgnas.classifier.cv.fit_ensemble``).
    val_fraction: share of DS1 records held out (holdout; 5 of 22 records at 0.2).
    split_seed: seed of the record-wise split (fixed across training seeds).
    max_majority: N beats per epoch (a fresh random subset each epoch), None for all.
    patience: epochs without a better validation macro-F1 before stopping.
    min_epochs, max_epochs: range of the tuned number of epochs.
    eval_batch_size: beats per forward pass when scoring (small batches are faster on CPU).
    width: stage-1 channels of an ecg1d network (None: the model default, 16); other
        spaces ignore it.
    pool_bins: time bins of a cell network's final pooling (None: the model default, 1,
        global pooling; ``ECGModelConfig.pool_bins``); other spaces ignore it.
    head_hidden: hidden units of a cell network's head (None: the model default, 0, a
        linear classifier; ``ECGModelConfig.head_hidden``); other spaces ignore it.
    reduction: a cell network's reduction blocks (None: the model default, ``"resblock"``;
        ``ECGModelConfig.reduction``); other spaces ignore it.
    """

    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    inputs: InputConfig = field(default_factory=InputConfig)
    classes: tuple[str, ...] = AAMI4
    cv: str = "holdout"
    final: str = "holdout"
    folds: int = 5
    val_fraction: float = 0.2
    split_seed: int = 0
    max_majority: int | None = 4000
    patience: int = 4
    min_epochs: int = 3
    max_epochs: int = 10
    eval_batch_size: int = 256
    width: int | None = None
    pool_bins: int | None = None
    head_hidden: int | None = None
    reduction: str | None = None

    def __post_init__(self) -> None:
        if self.cv not in CV_MODES:
            raise ConfigError(f"cv must be one of {', '.join(CV_MODES)}, got {self.cv!r}")
        if self.final not in FINAL_MODES:
            raise ConfigError(f"final must be one of {', '.join(FINAL_MODES)}, got {self.final!r}")
        if (self.cv == "kfold" or self.final == "ensemble") and self.folds < 2:
            raise ConfigError(f"k-fold needs at least 2 folds, got {self.folds}")
        if self.max_majority is not None and self.max_majority < 1:
            raise ConfigError(f"max_majority must be >= 1 or None, got {self.max_majority}")
        if not 1 <= self.min_epochs <= self.max_epochs:
            raise ConfigError(
                f"need 1 <= min_epochs <= max_epochs, got {self.min_epochs}, {self.max_epochs}"
            )
        if self.width is not None and self.width < 1:
            raise ConfigError(f"width must be >= 1 or None, got {self.width}")
        if self.pool_bins is not None and self.pool_bins < 1:
            raise ConfigError(f"pool_bins must be >= 1 or None, got {self.pool_bins}")
        if self.head_hidden is not None and self.head_hidden < 0:
            raise ConfigError(f"head_hidden must be >= 0 or None, got {self.head_hidden}")
        if self.reduction is not None and self.reduction not in REDUCTIONS:
            raise ConfigError(
                f"reduction must be one of {', '.join(REDUCTIONS)} or None, got {self.reduction!r}"
            )
        if self.patience < 1:
            raise ConfigError(f"patience must be >= 1, got {self.patience}")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["preprocess"] = self.preprocess.to_json()
        out["inputs"] = self.inputs.to_json()
        out["classes"] = list(self.classes)
        for key in ("pool_bins", "head_hidden", "reduction"):
            if out[key] is None:
                del out[key]  # so that setups from before it existed read (and hash) as before
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Setup:
        kwargs = check_fields(cls, obj, "setup key(s)")
        if "preprocess" in kwargs:
            kwargs["preprocess"] = PreprocessConfig.from_json(kwargs["preprocess"])
        if "inputs" in kwargs:
            kwargs["inputs"] = InputConfig.from_json(kwargs["inputs"])
        if "classes" in kwargs:
            kwargs["classes"] = tuple(kwargs["classes"])
        return cls(**kwargs)


def model_settings(arch: Arch, setup: Setup, dropout: float) -> dict[str, Any]:
    """The ``build_ecg_model`` settings for ``arch`` with this setup's head and window."""
    from ecgnas.train.models import default_settings

    settings = default_settings(
        arch,
        n_classes=len(setup.classes),
        n_rr=setup.inputs.n_rr,
        input_len=setup.preprocess.window,
        in_channels=setup.inputs.n_channels,
    )
    if arch.space in CELL_NET_SPACES:
        settings["dropout"] = float(dropout)
        if setup.width is not None:
            settings["width"] = int(setup.width)
        if setup.pool_bins not in (None, 1):
            settings["pool_bins"] = int(setup.pool_bins)
        if setup.head_hidden not in (None, 0):
            settings["head_hidden"] = int(setup.head_hidden)
        if setup.reduction not in (None, "resblock"):
            settings["reduction"] = str(setup.reduction)
    return settings


def setup_for(arch: Arch, setup: Setup) -> Setup:
    """``setup`` with the data choices of an ``ecgjoint`` arch applied (sampling rate,
    window, neighbouring beats, channels, RR set); other archs get ``setup`` unchanged.

    Every path that trains or scores an arch (cross-validation, the final fit, tuning)
    passes through here, so a joint arch always sees the data it names.
    """
    if arch.space != "ecgjoint":
        return setup
    from ecgnas.spaces.ecgjoint import ECGJointSpace

    d = ECGJointSpace().data_choices(arch)
    return replace(
        setup,
        preprocess=replace(
            setup.preprocess, fs=d.fs, window_before=d.window_before, window_after=d.window_after
        ),
        inputs=replace(
            setup.inputs,
            context_beats=d.context_beats,
            raw=d.raw,
            derivative=d.derivative,
            rr_features=d.rr_features,  # type: ignore[arg-type]
        ),
    )


def model_factory(
    arch: Arch, settings: dict[str, Any], dropout: float, seed: int
) -> Callable[[], nn.Module]:
    """A zero-argument builder of the model (what ``train_classifier`` takes).

    The manual baseline's dropout layers are set to ``dropout`` after building (its grid
    value is replaced), so both models are tuned over the same dropout range.
    """

    def build() -> nn.Module:
        from torch import nn

        from ecgnas.train.models import build_ecg_model

        model = build_ecg_model(arch, settings, seed=seed)
        if arch.space not in CELL_NET_SPACES:
            for module in model.modules():
                if isinstance(module, nn.Dropout):
                    module.p = float(dropout)
        return model

    return build


def train_config(hp: Hyperparams, setup: Setup, seed: int, device: str = "cpu") -> TrainConfig:
    """The trainer settings of one run of the recipe."""
    from ecgnas.train.trainer import TrainConfig

    return TrainConfig(
        epochs=hp.epochs,
        batch_size=hp.batch_size,
        lr=hp.lr,
        weight_decay=hp.weight_decay,
        loss=hp.loss,
        class_weight_power=hp.class_weight_power,
        focal_gamma=hp.focal_gamma,
        max_majority_per_epoch=setup.max_majority,
        patience=setup.patience,
        augment=hp.augment,
        adversarial=hp.adversarial,
        seed=seed,
        device=device,
        amp=True,
        eval_batch_size=setup.eval_batch_size,
    )


def load_ds1(
    setup: Setup,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> BeatSet:
    """All DS1 beats of ``setup.classes`` (records outside DS1 are refused by the data layer)."""
    from ecgnas.data.dataset import load_beats
    from ecgnas.data.splits import DS1

    return load_beats(
        DS1,
        setup.preprocess,
        classes=setup.classes,
        data_dir=data_dir,
        cache_dir=cache_dir,
        allowed=DS1,
    )


def ds1_beats(
    beats: BeatSet | None,
    setup: Setup,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    who: str = "training",
) -> BeatSet:
    """``beats`` checked against ``setup`` (``load_ds1(setup)`` when ``None``).

    Beats passed in must be DS1's and prepared as ``setup`` says: the same preprocessing
    (sampling rate, window, filters) and classes. A mismatch is a one-line ``ConfigError``
    naming ``who``: a model trained on beats of another preprocessing would be scored and
    shipped under a contract its training never saw (an ``ecgjoint`` arch's ``fs`` and
    window genes change the preprocessing, so beats loaded for the recipe do not fit it).
    """
    import numpy as np

    from ecgnas.data.splits import DS1

    if beats is None:
        return load_ds1(setup, data_dir, cache_dir)
    if not set(np.unique(beats.record).tolist()) <= set(DS1):
        raise ConfigError(f"{who}: the beats passed in include records outside DS1")
    have = {**beats.config.to_json(), "classes": list(beats.classes)}
    want = {**setup.preprocess.to_json(), "classes": list(setup.classes)}
    differ = [k for k in want if have.get(k) != want[k]]
    if differ:
        shown = ", ".join(f"{k} {have.get(k)} (setup: {want[k]})" for k in differ)
        raise ConfigError(
            f"{who}: the beats passed in were prepared otherwise than the setup says: {shown}; "
            "load them with the arch's setup (recipe.setup_for)"
        )
    return beats


def ds1_splits(beats: BeatSet, setup: Setup, *, kfold: bool | None = None) -> list[RecordSplit]:
    """The record-wise DS1 split(s): one holdout split, or ``setup.folds`` folds."""
    from ecgnas.data.splits import DS1, kfold_splits, validation_split

    counts = beats.record_class_counts()
    use_kfold = setup.cv == "kfold" if kfold is None else kfold
    if use_kfold:
        return kfold_splits(counts, DS1, k=setup.folds, seed=setup.split_seed)
    return [validation_split(counts, DS1, val_fraction=setup.val_fraction, seed=setup.split_seed)]


def as_arrays(beats: BeatSet, inputs: InputConfig | None = None) -> BeatArrays:
    """The trainer's view of a ``BeatSet``: the model inputs of ``inputs`` (default
    ``InputConfig()``: the window and the six RR columns as prepared)."""
    from ecgnas.data.inputs import build_inputs
    from ecgnas.train.trainer import BeatArrays

    x, rr = build_inputs(
        beats.x,
        beats.rr,
        beats.record,
        fs=beats.config.fs,
        r_index=beats.config.window_before,
        config=inputs or InputConfig(),
    )
    return BeatArrays(x=x, rr=rr, y=beats.y, record=beats.record)


def read_setup(path: str | os.PathLike[str]) -> Setup:
    """A ``Setup`` from a JSON file of its fields (missing fields take defaults); one-line
    ``ConfigError`` for a missing file, bad JSON or a bad field."""
    file = Path(path)
    try:
        obj = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read setup file {file}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(f"{file}: not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise ConfigError(f"{file}: a setup file holds one JSON object")
    try:
        return Setup.from_json(obj)
    except (TypeError, ConfigError) as exc:
        raise ConfigError(f"{file}: {exc}") from exc


def with_overrides(setup: Setup, **changes: Any) -> Setup:
    """``setup`` with the non-None ``changes`` applied."""
    return replace(setup, **{k: v for k, v in changes.items() if v is not None})
