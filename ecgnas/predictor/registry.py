"""Predictors by name: the one table every list of predictors reads (no torch imported).

Each entry says what distinguishes the predictor: its input encoding, whether its encoder is
contrastively pre-trained (CLP), the fine-tuning (CLF) settings it changes from
``CLFSettings``'s defaults, and one line for reports and ``--help``.
``ecgnas.predictor.variants.make_predictor`` builds one; ``PREDICTOR_NAMES`` lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ecgnas.errors import ConfigError

#: the input encodings a predictor can read
ENCODERS: tuple[str, ...] = ("gin", "path", "onehot")


@dataclass(frozen=True)
class PredictorEntry:
    """One predictor: ``encoder`` (one of ``ENCODERS``), CLP or not, its CLF settings
    (``CLFSettings`` fields by name) and a one-line summary."""

    name: str
    encoder: str
    pretrained: bool
    clf: Mapping[str, Any]
    summary: str


def _entry(name: str, encoder: str, pretrained: bool, summary: str, **clf: Any) -> PredictorEntry:
    return PredictorEntry(name, encoder, pretrained, MappingProxyType(clf), summary)


_PREDICTORS: dict[str, PredictorEntry] = {
    entry.name: entry
    for entry in (
        _entry(
            "dcl", "gin", True, "CLP-pre-trained GIN, ranking head (CLF)",
            loss="rank", steps=300, lr=3e-3, encoder_lr_scale=0.0, members=1,
        ),
        _entry(
            "clf_only", "gin", False, "GIN from scratch, ranking loss (CLF without CLP)",
            loss="rank", steps=300, lr=1e-3, encoder_lr_scale=1.0,
        ),
        _entry(
            "clp_mse", "gin", True, "CLP-pre-trained GIN, MSE fine-tuning",
            loss="mse", steps=300, lr=1e-3, encoder_lr_scale=1.0,
        ),
        _entry(
            "gin_mse", "gin", False, "GIN from scratch, MSE regression (NPENAS predictor)",
            loss="mse", steps=300, lr=1e-3, encoder_lr_scale=1.0,
        ),
        _entry(
            "path_mlp", "path", False, "MLP on the path encoding, MSE (BANANAS-style)",
            loss="mse", steps=300, lr=1e-3, encoder_lr_scale=1.0,
        ),
        _entry(
            "path_mlp_rank", "path", False, "MLP on the path encoding, ranking loss",
            loss="rank", steps=300, lr=1e-3, encoder_lr_scale=1.0,
        ),
        _entry(
            "onehot_mlp_rank", "onehot", False, "MLP on one-hot ops, ranking loss (anchor)",
            loss="rank", steps=300, lr=1e-3, encoder_lr_scale=1.0,
        ),
        _entry(
            "onehot_mlp_mse", "onehot", False, "MLP on one-hot ops, MSE (anchor)",
            loss="mse", steps=300, lr=1e-3, encoder_lr_scale=1.0,
        ),
        _entry(
            "dcl_eff", "gin", True, "dcl on effective cells (dead edges set to none)",
            loss="rank", steps=300, lr=3e-3, encoder_lr_scale=0.0, members=1, effective=True,
        ),
    )
}  # fmt: skip

#: the known predictor names, the method's (``dcl``) first
PREDICTOR_NAMES: tuple[str, ...] = tuple(_PREDICTORS)


def predictor_entry(name: str) -> PredictorEntry:
    """The table entry of ``name`` (``ConfigError`` listing the known names if unknown)."""
    try:
        return _PREDICTORS[name]
    except KeyError:
        raise ConfigError(
            f"unknown predictor {name!r}; known: {', '.join(PREDICTOR_NAMES)}"
        ) from None


__all__ = ["ENCODERS", "PREDICTOR_NAMES", "PredictorEntry", "predictor_entry"]
