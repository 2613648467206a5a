"""The ECG evaluator for search: train an arch on DS1-train records, score it on DS1-val.

``score`` is the DS1-validation macro-F1 over N, S, V, F (records never seen in training);
``cost_seconds`` the measured wall time of the training and validation on the device, which
is what a device-day budget counts. Proxy-training settings (epochs, the cap on N beats per
epoch, width) are in ``ProxySettings`` and recorded in the run's settings.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ecgnas.data.dataset import BeatSet
from ecgnas.errors import ConfigError
from ecgnas.evaluate import DirLike, Evaluator, EvaluatorSpec, Result, evaluator_kind
from ecgnas.spaces.base import Arch, SearchSpace
from ecgnas.train.ecg_data import DS1Split, load_ds1_split
from ecgnas.train.models import ECG_SPACES, build_ecg_model, default_settings
from ecgnas.train.trainer import BeatArrays, TrainConfig, train_classifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProxySettings:
    """How each candidate is trained during search (a cheap proxy of full training).

    epochs: maximum epochs; patience: early-stopping patience on DS1-val macro-F1;
    max_majority_per_epoch: N beats drawn afresh each epoch (all S, V, F beats are used);
    width / cells_per_stage: ecg1d macro settings (ignored by the manual baseline);
    lr, weight_decay, batch_size, loss: optimiser and loss (see ``TrainConfig``);
    device: ``auto`` | ``cpu`` | ``cuda[:i]``; seed: the weight-init and batch-order seed,
    the same for every candidate so candidates differ by architecture only.
    """

    epochs: int = 4
    patience: int = 2
    max_majority_per_epoch: int | None = 4000
    width: int = 8
    cells_per_stage: int = 1
    lr: float = 3e-3
    weight_decay: float = 1e-2
    batch_size: int = 256
    loss: str = "weighted_ce"
    device: str = "auto"
    seed: int = 0

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            loss=self.loss,
            max_majority_per_epoch=self.max_majority_per_epoch,
            patience=self.patience,
            seed=self.seed,
            device=self.device,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _trainer_arrays(beats: BeatSet) -> BeatArrays:
    """The trainer's inputs of a ``BeatSet`` as prepared: the same arrays, not copies (the
    window and the six RR columns; search candidates are trained on the default inputs)."""
    return BeatArrays(x=beats.x, rr=beats.rr, y=beats.y, record=beats.record)


class ECGEvaluator:
    """``evaluate(arch)`` trains the arch's network on DS1-train and scores DS1-val macro-F1."""

    def __init__(
        self, space: SearchSpace, data: DS1Split, proxy: ProxySettings | None = None
    ) -> None:
        if space.name not in ECG_SPACES:
            raise ConfigError(
                f"the ECG evaluator needs an ECG space ({', '.join(ECG_SPACES)}), got {space.name!r}"
            )
        self.space = space
        self.data = data
        self.proxy = proxy or ProxySettings()
        self.dataset = "mitbih"
        self._config = self.proxy.train_config()

    def model_settings(self, arch: Arch) -> dict[str, Any]:
        settings = default_settings(
            arch,
            n_classes=len(self.data.classes),
            n_rr=self.data.train.rr.shape[1],
            input_len=self.data.train.window,
        )
        if arch.space == "ecg1d":
            settings.update(width=self.proxy.width, cells_per_stage=self.proxy.cells_per_stage)
        return settings

    def evaluate(self, arch: Arch) -> Result:
        if not self.space.is_valid(arch):
            raise ConfigError(f"not a {self.space.name} arch: {arch.to_json()}")
        settings = self.model_settings(arch)

        def build():  # noqa: ANN202 - a torch module factory
            return build_ecg_model(arch, settings, seed=self.proxy.seed)

        result = train_classifier(
            build,
            _trainer_arrays(self.data.train),
            _trainer_arrays(self.data.val),
            self._config,
            self.data.classes,
        )
        m = result.val_metrics
        n_params = sum(
            int(v.numel())
            for k, v in result.state_dict.items()
            if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
        )
        metrics: dict[str, float | str] = {
            "signal": "DS1-val macro-F1 (N,S,V,F)",
            "cost_kind": "measured",
            "device": result.device,
            "best_epoch": float(result.best_epoch),
            "epochs_run": float(len(result.history)),
            "beats_per_second": float(result.beats_per_second),
            "outside_compute_share": float(result.outside_compute_share),
            "params": float(n_params),
            "val_accuracy": float(m.accuracy),
            "val_jkappa": float(m.jkappa) if not math.isnan(m.jkappa) else 0.0,
        }
        for i, name in enumerate(m.class_names):
            f1 = m.f1[i]
            metrics[f"val_f1_{name}"] = 0.0 if math.isnan(f1) else float(f1)
        log.info("%s: DS1-val macro-F1 %.4f in %.1f s", arch.key(), result.score, result.seconds)
        return Result(score=result.score, cost_seconds=float(result.seconds), metrics=metrics)


def build_mitbih_evaluator(
    spec: EvaluatorSpec, data_dir: DirLike = None, cache_dir: DirLike = None
) -> Evaluator:
    """The evaluator of a ``mitbih_spec`` (``EvaluatorFactory``): DS1 from ``data_dir``/
    ``cache_dir``, else the spec's, else the defaults."""
    kwargs: dict[str, Any] = {
        "val_fraction": float(spec.get("val_fraction", 0.2)),
        "split_seed": int(spec.get("split_seed", 0)),
        "data_dir": data_dir if data_dir is not None else spec.get("data_dir"),
        "cache_dir": cache_dir if cache_dir is not None else spec.get("cache_dir"),
    }
    if spec.get("records") is not None:
        kwargs["records"] = tuple(str(r) for r in spec["records"])
    try:
        proxy = ProxySettings(**spec.get("proxy", {}))
    except TypeError as exc:
        raise ConfigError(f"bad proxy settings in the evaluator spec: {exc}") from exc
    space = evaluator_kind(spec).space_of(spec)
    return ECGEvaluator(space, load_ds1_split(**kwargs), proxy)


def mitbih_spec(
    space: str,
    proxy: dict[str, Any],
    *,
    val_fraction: float = 0.2,
    split_seed: int = 0,
    records: Sequence[str] | None = None,
) -> EvaluatorSpec:
    """The spec of the ECG evaluator (``ProxySettings.to_json()`` as ``proxy``); workers read
    DS1 from their own data directory."""
    spec: EvaluatorSpec = {
        "evaluator": "mitbih",
        "space": space,
        "proxy": dict(proxy),
        "val_fraction": float(val_fraction),
        "split_seed": int(split_seed),
    }
    if records is not None:
        spec["records"] = [str(r) for r in records]
    return spec
