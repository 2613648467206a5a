"""Helpers shared by the search tests: small-but-real strategy settings."""

from __future__ import annotations

from ecgnas.search import (
    make_strategy,
)
from ecgnas.testing import ridge_factory

#: small-but-real settings so the predictor-based methods run in well under a second
FAST = {
    "dcl_enas": {"offspring": 30, "t_gap": 2, "n_init": 10, "population": 10, "n_infill": 5},
    "npenas": {"n_init": 10, "batch": 5, "n_candidates": 40},
    "bananas": {"n_init": 10, "batch": 5, "n_candidates": 40, "members": 3},
    "rea": {"population": 10, "sample": 3},
    "random": {},
}


def strategy(name: str, **overrides):
    settings = {**FAST[name], **overrides}
    return make_strategy(name, predictor_factory=ridge_factory, **settings)
