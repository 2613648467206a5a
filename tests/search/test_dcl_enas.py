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
from ecgnas.spaces.cell import effective_ops
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


class _TwoHeads:
    """A fake ensemble predictor: member scores fixed per arch (by its first op)."""

    def __init__(self, table: dict[int, tuple[float, float]]) -> None:
        self.table = table

    def fit(self, archs, scores) -> None:  # noqa: ANN001 (the Predictor protocol)
        pass

    def score_members(self, archs) -> np.ndarray:  # noqa: ANN001
        return np.array([self.table[a.ops[0]] for a in archs], dtype=np.float64).T.reshape(2, -1)

    def score(self, archs) -> np.ndarray:  # noqa: ANN001
        return self.score_members(archs).mean(axis=0)


def test_ucb_ranks_by_mean_plus_spread_of_standardised_members() -> None:
    # Members (0, 1, 2) and (0, 1, -2) over three archs: standardised, the means are
    # -0.48, 0.54, -0.06 and the spreads 0.74, 0.53, 1.28, so the mean ranks arch 1 first
    # and mean + 1 * spread (0.27, 1.07, 1.22) ranks arch 2 first.
    space = toy_space(3)
    archs = [space.make((k, 1, 1, 1, 1, 1)) for k in range(3)]
    fake = _TwoHeads({0: (0.0, 0.0), 1: (1.0, 1.0), 2: (2.0, -2.0)})
    ranks = {}
    for acquisition in ("mean", "ucb"):
        s = make_strategy(
            "dcl_enas", predictor_factory=lambda sp, seed: fake, acquisition=acquisition
        )
        s.start(space, seed=0)
        ranks[acquisition] = s._rank(archs, fake.score(archs)).tolist()
    assert ranks["mean"] == [1, 0, 2]  # the raw means 0, 1, 0 (ties: by position)
    assert ranks["ucb"] == [2, 1, 0]


def test_thompson_draws_are_seeded_permutations() -> None:
    space = toy_space(3)
    archs = [space.make((k, 1, 1, 1, 1, 1)) for k in range(3)]
    fake = _TwoHeads({0: (0.0, 0.0), 1: (1.0, 1.0), 2: (2.0, -2.0)})
    orders = []
    for _ in range(2):
        s = make_strategy(
            "dcl_enas", predictor_factory=lambda sp, seed: fake, acquisition="thompson"
        )
        s.start(space, seed=3)
        orders.append([s._rank(archs, fake.score(archs)).tolist() for _ in range(20)])
    assert orders[0] == orders[1]
    assert all(sorted(o) == [0, 1, 2] for o in orders[0])
    assert len({tuple(o) for o in orders[0]}) > 1  # the draws vary from call to call


def test_acquisition_needs_an_ensemble_predictor() -> None:
    s = make_strategy("dcl_enas", predictor_factory=ridge_factory, acquisition="ucb")
    with pytest.raises(ConfigError, match="ensemble"):
        s.start(toy_space(3), seed=0)
    with pytest.raises(ConfigError):
        make_strategy("dcl_enas", acquisition="best")
    with pytest.raises(ConfigError):
        make_strategy("dcl_enas", dedup="exact")


def test_function_dedup_never_proposes_a_cell_computing_an_evaluated_function() -> None:
    space = toy_space(3)  # op 0 is none
    s = strategy("dcl_enas", dedup="function")
    s.start(space, seed=0)
    history = History()
    rng = np.random.default_rng(1)
    while len(history) < 12:
        arch = space.make([int(o) for o in rng.integers(0, 3, 6)])
        if not history.seen(space.canonical(arch)):
            history.add(Observation(arch, space.canonical(arch), float(len(history)), 1.0))
    evaluated = {effective_ops(a.ops) for a in history.archs()}
    dead = space.make((0, 1, 2, 1, 1, 1))  # node 1 receives nothing: edges 1->2, 1->3 dead
    twin = space.make((0, 1, 1, 1, 2, 1))
    assert s._key(dead) == s._key(twin) != space.canonical(dead)
    for _ in range(3):
        batch = s.ask(history)
        functions = [effective_ops(a.ops) for a in batch]
        assert len(set(functions)) == len(batch) == FAST["dcl_enas"]["n_infill"]
        assert not evaluated & set(functions)
        for arch in batch:
            history.add(Observation(arch, space.canonical(arch), 0.0, 1.0))
        evaluated |= set(functions)


def test_balanced_design_spreads_each_gene_evenly_and_is_deterministic() -> None:
    from ecgnas.search.base import InitialSample, balanced_design
    from ecgnas.spaces.base import Arch

    # hand-made: the first pick is candidates[0]; then the one sharing fewest values with it
    cands = [Arch("t", (0, 0)), Arch("t", (0, 1)), Arch("t", (1, 1)), Arch("t", (1, 0))]
    assert balanced_design(cands, 2) == [cands[0], cands[2]]
    assert balanced_design(cands, 9) == [cands[0], cands[2], cands[1], cands[3]]
    assert balanced_design([], 3) == [] and balanced_design(cands, 0) == []
    # archs of different sizes (vertex spaces): a missing vertex is a value of its own
    ragged = [Arch("v", (0, 1)), Arch("v", (0, 1, 2)), Arch("v", (0, 2))]
    assert balanced_design(ragged, 2) == [ragged[0], ragged[1]]
    # a real pool: 15 picks over 3 ops put each op on each edge exactly 5 times
    space = toy_space(3)
    pool = InitialSample(space, 0).take(300, History())
    design = balanced_design(pool, 15)
    counts = np.stack([np.bincount(space.ops_array(design)[:, e], minlength=3) for e in range(6)])
    assert (counts == 5).all()
    assert balanced_design(pool, 15) == design


def test_dcl_enas_balanced_initial_design_is_asked_first_and_resumes() -> None:
    space = toy_space(3)
    plain = strategy("dcl_enas")
    plain.start(space, seed=4)
    s = strategy("dcl_enas", init_design="balanced", design_pool=10)
    s.start(space, seed=4)
    history = History()
    first = s.ask(history)
    assert len(first) == 10 and first == s._design
    assert first != plain.ask(History())  # not the paired random stream
    counts = np.stack([np.bincount(space.ops_array(first)[:, e], minlength=3) for e in range(6)])
    assert counts.max() - counts.min() <= 1  # 10 picks over 3 ops: 3 or 4 of each
    for arch in first[:4]:  # an interrupted round: the rest of the design comes next
        history.add(Observation(arch, space.canonical(arch), 0.0, 1.0))
    assert s.ask(history) == first[4:]
    with pytest.raises(ConfigError, match="init_design"):
        make_strategy("dcl_enas", init_design="sobol")
    with pytest.raises(ConfigError, match="design_pool"):
        make_strategy("dcl_enas", design_pool=0)
