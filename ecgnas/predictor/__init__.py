"""Architecture-performance predictors: the DCL predictor (CLP + CLF) and its baselines.

* ``Predictor``: the contract (``fit(archs, scores)``, ``score(archs)``);
* ``PREDICTOR_NAMES`` / ``predictor_entry``: the table of named predictors (``registry``);
* ``make_predictor(name, space, seed, **settings)``: build one (``variants``; imports torch,
  so it is loaded on first use: ``import ecgnas.predictor`` stays light);
* ``CLPSettings`` / ``CLFSettings``: pre-training and fine-tuning settings (torch too);
* ``EncoderStore``: cached and shipped pre-trained encoders (torch too).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ecgnas.predictor.base import Predictor
from ecgnas.predictor.registry import PREDICTOR_NAMES, PredictorEntry, predictor_entry

if TYPE_CHECKING:
    from ecgnas.predictor.finetune import CLFSettings
    from ecgnas.predictor.pretrain import CLPSettings
    from ecgnas.predictor.store import EncoderStore
    from ecgnas.predictor.variants import make_predictor

#: names loaded on first use (their modules import torch)
_LAZY = {
    "CLFSettings": "ecgnas.predictor.finetune",
    "CLPSettings": "ecgnas.predictor.pretrain",
    "EncoderStore": "ecgnas.predictor.store",
    "make_predictor": "ecgnas.predictor.variants",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PREDICTOR_NAMES",
    "CLFSettings",
    "CLPSettings",
    "EncoderStore",
    "Predictor",
    "PredictorEntry",
    "make_predictor",
    "predictor_entry",
]
