"""Every strategy on a tiny synthetic table whose optimum is known: the optimum is found,
the budget is never exceeded, no arch is evaluated twice, and runs are paired and
deterministic."""

from __future__ import annotations

import pytest

from ecgnas.search import (
    STRATEGY_NAMES,
    Budget,
    run_search,
)
from ecgnas.testing import ToyEvaluator, toy_space

from .helpers import strategy


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
