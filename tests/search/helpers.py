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


def toy_cost(space):  # noqa: ANN001, ANN201 (a CostFunction over a toy space)
    """A cost that conflicts with ``ToyEvaluator``'s score: per (edge, op) weights that grow
    with the score's weights (seed 123, as the evaluator's) plus noise, all positive."""
    import numpy as np

    rng = np.random.default_rng(123)
    score_w = rng.normal(0.0, 1.0, size=(6, space.n_ops))  # the evaluator's weights
    noise = np.random.default_rng(7).uniform(0.0, 0.5, size=(6, space.n_ops))
    w = 1.0 + np.exp(score_w) + noise

    def cost(archs):  # noqa: ANN001, ANN202
        ops = space.ops_array(archs)
        return w[np.arange(6), ops].sum(axis=1) if len(archs) else np.zeros(0)

    return cost


def mo_strategy(name: str, space, **overrides):  # noqa: ANN001, ANN201
    """A multi-objective strategy with small settings, the ridge predictor and ``toy_cost``."""
    settings = {**FAST_MO.get(name, {}), **overrides}
    return make_strategy(name, predictor_factory=ridge_factory, cost=toy_cost(space), **settings)


FAST_MO = {
    "dcl_mo": {"offspring": 30, "t_gap": 2, "n_init": 10, "population": 10, "n_infill": 5},
    "nsga2": {"population": 8},
}
