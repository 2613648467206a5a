"""Baseline strategies: BANANAS fits every ensemble member on its own seed."""

from __future__ import annotations

import pytest

from ecgnas.errors import ConfigError
from ecgnas.search import (
    Budget,
    make_strategy,
    run_search,
)
from ecgnas.testing import ToyEvaluator, ridge_factory, toy_space

from .helpers import FAST


def test_bananas_fits_every_ensemble_member_on_its_own_seed_and_samples_from_them() -> None:
    made = []

    def factory(space, seed):
        pred = ridge_factory(space, seed)
        made.append((seed, pred))
        return pred

    s = make_strategy("bananas", predictor_factory=factory, **FAST["bananas"])
    result = run_search(s, ToyEvaluator(toy_space(3)), Budget(max_evals=30), seed=4)
    seeds = [seed for seed, _ in made]
    assert len(seeds) == 3 and len(set(seeds)) == 3  # members = 3, distinct seeds
    # 10 initial, then rounds of 5 after 10, 15, 20, 25 evaluations: every member refitted
    assert all(pred.fits == 4 for _, pred in made)
    keys = [ev.canonical for ev in result.evaluations]
    assert len(keys) == len(set(keys)) == 30
    with pytest.raises(ConfigError):
        make_strategy("bananas", members=1)
