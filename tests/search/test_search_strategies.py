"""Every strategy on a tiny synthetic table whose optimum is known: the optimum is found,
the budget is never exceeded, no arch is evaluated twice, and runs are paired and
deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnas.errors import ConfigError
from ecgnas.search import (
    STRATEGY_NAMES,
    Budget,
    History,
    Observation,
    make_strategy,
    run_search,
)
from ecgnas.search.base import InitialSample
from ecgnas.testing import ToyEvaluator, ridge_factory, toy_space

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


@pytest.mark.parametrize("name", STRATEGY_NAMES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_finds_the_known_optimum_within_budget_without_repeats(name: str, seed: int) -> None:
    space = toy_space(3)  # 729 cells, unique optimum
    evaluator = ToyEvaluator(space)
    # random search needs most of the space; the others must do it with a fifth of it
    budget = 700 if name == "random" else 150
    result = run_search(strategy(name), evaluator, Budget(max_evals=budget), seed)
    keys = [ev.canonical for ev in result.evaluations]
    assert len(keys) == len(set(keys)) == evaluator.calls
    assert len(result.evaluations) <= budget
    optimum = evaluator.optimum()
    assert result.best().arch == optimum
    assert result.best().score == pytest.approx(evaluator.all_scores().max())
    found = keys.index(space.canonical(optimum)) + 1
    if name != "random":
        assert found <= budget


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_exhausting_a_tiny_space_stops_cleanly(name: str) -> None:
    space = toy_space(2)  # 64 cells
    evaluator = ToyEvaluator(space)
    result = run_search(strategy(name), evaluator, Budget(max_evals=500), seed=3)
    keys = [ev.canonical for ev in result.evaluations]
    assert len(keys) == len(set(keys)) <= 64
    assert evaluator.calls == len(keys)
    assert "budget" not in result.stop_reason
    assert result.best().arch == evaluator.optimum()


@pytest.mark.parametrize("name", STRATEGY_NAMES)
@pytest.mark.parametrize("budget", [1, 7, 23])
def test_eval_budget_is_exact(name: str, budget: int) -> None:
    evaluator = ToyEvaluator(toy_space(3))
    result = run_search(strategy(name), evaluator, Budget(max_evals=budget), seed=0)
    assert len(result.evaluations) == evaluator.calls == budget
    assert result.stop_reason.startswith("budget")


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_seconds_budget_overshoots_by_at_most_one_evaluation(name: str) -> None:
    evaluator = ToyEvaluator(toy_space(3))  # each evaluation costs 0..60 s
    budget = Budget(max_seconds=900.0)
    result = run_search(strategy(name), evaluator, budget, seed=0)
    spent_before_last = result.seconds_spent - result.evaluations[-1].cost_seconds
    assert spent_before_last < 900.0 + sum(result.round_seconds)
    assert sum(ev.cost_seconds for ev in result.evaluations[:-1]) < 900.0
    assert result.seconds_spent >= 900.0 or "budget" not in result.stop_reason


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_same_seed_same_run_other_seed_other_run(name: str) -> None:
    space = toy_space(3)
    runs = [
        [
            ev.canonical
            for ev in run_search(strategy(name), ToyEvaluator(space), Budget(40), s).evaluations
        ]
        for s in (5, 5, 6)
    ]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_initial_samples_are_paired_across_methods() -> None:
    space = toy_space(3)
    n = 10
    firsts = {}
    for name in STRATEGY_NAMES:
        result = run_search(strategy(name), ToyEvaluator(space), Budget(max_evals=n), seed=11)
        firsts[name] = [ev.canonical for ev in result.evaluations]
    assert all(v == firsts["random"] for v in firsts.values()), firsts


def test_strategies_never_see_reporting_metrics() -> None:
    seen: list[History] = []

    class Spy:
        name = "spy"

        def settings(self):
            return {}

        def start(self, space, seed):
            self.stream = InitialSample(space, seed)

        def ask(self, history):
            seen.append(history)
            return self.stream.take(3, history)

        def tell(self, history, new):
            assert all(isinstance(o, Observation) for o in new)
            assert all(not hasattr(o, "metrics") for o in new)

    result = run_search(Spy(), ToyEvaluator(toy_space(3)), Budget(max_evals=9), seed=0)
    assert "test_acc" in result.evaluations[0].metrics
    assert all(not hasattr(o, "metrics") for o in seen[-1])


def test_driver_skips_duplicate_proposals() -> None:
    space = toy_space(3)

    class Repeater:
        """Proposes the same arch twice and an already evaluated one again."""

        name = "repeater"

        def settings(self):
            return {}

        def start(self, space_, seed):
            self.rng = np.random.default_rng(seed)

        def ask(self, history):
            a = space.sample(self.rng)
            return [a, a] + ([history[0].arch] if len(history) else [])

        def tell(self, history, new):
            pass

    evaluator = ToyEvaluator(space)
    result = run_search(Repeater(), evaluator, Budget(max_evals=30), seed=0)
    keys = [ev.canonical for ev in result.evaluations]
    assert len(keys) == len(set(keys)) == evaluator.calls == 30


def test_a_strategy_that_stalls_is_stopped() -> None:
    space = toy_space(3)

    class Stuck:
        name = "stuck"

        def settings(self):
            return {}

        def start(self, space_, seed):
            self.arch = space.sample(np.random.default_rng(seed))

        def ask(self, history):
            return [self.arch]

        def tell(self, history, new):
            pass

    result = run_search(Stuck(), ToyEvaluator(space), Budget(max_evals=10), seed=0)
    assert len(result.evaluations) == 1
    assert "no new arch" in result.stop_reason


def test_make_strategy_rejects_unknown_names_and_settings() -> None:
    with pytest.raises(ConfigError, match="unknown strategy"):
        make_strategy("bogus")
    with pytest.raises(ConfigError, match="bad settings"):
        make_strategy("rea", popsize=3)
    with pytest.raises(ConfigError):
        make_strategy("rea", population=3, sample=5)
    with pytest.raises(ConfigError):
        make_strategy("dcl_enas", p_crossover=1.5)


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


def test_budget_validation_and_device_days() -> None:
    with pytest.raises(ConfigError):
        Budget()
    with pytest.raises(ConfigError):
        Budget(max_evals=0)
    with pytest.raises(ConfigError):
        Budget(max_seconds=-1.0)
    b = Budget.device_days(0.5, devices=4)
    assert b.max_seconds == 0.5 * 86_400 * 4 and b.max_evals is None
    assert b.allows(10_000, 172_799.0) and not b.allows(0, 172_800.0)
    assert "device seconds" in b.stop_reason(0, 172_800.0)
    e = Budget(max_evals=5, max_seconds=100.0)
    assert e.allows(4, 99.0) and not e.allows(5, 0.0) and not e.allows(0, 100.0)
    assert e.stop_reason(4, 99.0) == ""
    assert Budget.from_json(e.to_json()) == e


def test_history_orders_and_deduplicates() -> None:
    from ecgnas.spaces.base import Arch

    h = History()
    for i, s in enumerate([3.0, 5.0, 5.0, 1.0]):
        h.add(Observation(Arch("toy", (i,) * 6), f"k{i}", s, 2.0))
    with pytest.raises(ValueError):
        h.add(Observation(Arch("toy", (0,) * 6), "k0", 9.0, 1.0))
    h.charge(1.5)
    assert h.best().canonical == "k1"  # earliest of the tied best
    assert [o.canonical for o in h.top(3)] == ["k1", "k2", "k0"]
    assert h.seconds == pytest.approx(9.5) and len(h) == 4 and h.seen("k3")


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
