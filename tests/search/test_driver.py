"""The search driver: strategies see scores, never reporting metrics; duplicate proposals are
skipped; a strategy that stalls is stopped."""

from __future__ import annotations

import numpy as np

from ecgnas.search import (
    Budget,
    History,
    Observation,
    run_search,
)
from ecgnas.search.base import InitialSample
from ecgnas.testing import ToyEvaluator, toy_space


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
