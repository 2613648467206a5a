"""DCL-ENAS: one predictor refit per infill round, coverage picks next to the incumbent."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnas.errors import ConfigError
from ecgnas.search import (
    Budget,
    History,
    Observation,
    make_strategy,
    run_search,
)
from ecgnas.testing import ToyEvaluator, ridge_factory, toy_space

from .helpers import FAST, strategy


def test_dcl_enas_refits_predictor_once_per_infill_round() -> None:
    fits = []

    def factory(space, seed):
        pred = ridge_factory(space, seed)
        fits.append(pred)
        return pred

    s = make_strategy("dcl_enas", predictor_factory=factory, **FAST["dcl_enas"])
    result = run_search(s, ToyEvaluator(toy_space(3)), Budget(max_evals=30), seed=0)
    # 10 initial, then rounds of 5: fits after 10, 15, 20, 25 evaluations
    assert len(fits) == 1 and fits[0].fits == 4
    rounds = [ev.round for ev in result.evaluations]
    assert rounds[:10] == [0] * 10 and rounds[10:15] == [1] * 5


def test_dcl_enas_coverage_picks_try_the_least_tried_op_next_to_the_incumbent() -> None:
    space = toy_space(3)
    s = strategy("dcl_enas", n_cover=2, n_explore=1)
    s.start(space, seed=0)
    history = History()
    # every evaluated cell has op 0 on edge 2; the best one is the incumbent
    rng = np.random.default_rng(0)
    for i in range(12):
        ops = [int(o) for o in rng.integers(0, 3, 6)]
        ops[2] = 0
        arch = space.make(ops)
        if history.seen(space.canonical(arch)):
            continue
        history.add(Observation(arch, space.canonical(arch), float(i), 1.0))
    incumbent = history.top(1)[0].arch
    s._predictor.fit(history.archs(), history.scores())
    picks = s._cover(history, set())
    assert len(picks) == 2
    for pick in picks:
        changed = [e for e in range(6) if pick.ops[e] != incumbent.ops[e]]
        assert changed == [2]  # op 0 on edge 2 is all that was tried: ops 1 and 2 come first
    assert {p.ops[2] for p in picks} == {1, 2}
    # in a full round the picks come on top of the predicted ones, none evaluated twice
    batch = s.ask(history)
    keys = [space.canonical(a) for a in batch]
    assert len(batch) == FAST["dcl_enas"]["n_infill"] and len(set(keys)) == len(keys)
    assert not any(history.seen(k) for k in keys)
    with pytest.raises(ConfigError):
        make_strategy("dcl_enas", n_infill=5, n_explore=2, n_cover=3)
