"""The NSGA-II baseline (Optuna's sampler in ask/tell form) on the toy table."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnas.errors import ConfigError
from ecgnas.search import Budget, make_strategy, run_search
from ecgnas.search.nsga2 import NSGA2, NSGA2Settings
from ecgnas.spaces.base import Arch
from ecgnas.testing import ToyEvaluator, toy_space

from .helpers import mo_strategy, strategy, toy_cost


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="population"):
        NSGA2Settings(population=1)
    with pytest.raises(ConfigError, match="crossover_prob"):
        NSGA2Settings(crossover_prob=1.5)
    with pytest.raises(ConfigError, match="mutation_prob"):
        NSGA2Settings(mutation_prob=-0.1)
    with pytest.raises(ConfigError, match="needs a cost"):
        NSGA2()
    with pytest.raises(ConfigError, match="cell space"):
        s = NSGA2(cost=lambda a: np.zeros(len(a)))
        from ecgnas.spaces.nb101 import NB101Space

        s.start(NB101Space(), 0)


@pytest.mark.parametrize("seed", [0, 3])
def test_runs_to_budget_without_repeats_paired_and_deterministic(seed: int) -> None:
    space = toy_space(3)
    runs = []
    for _ in range(2):
        ev = ToyEvaluator(space)
        result = run_search(mo_strategy("nsga2", space), ev, Budget(max_evals=45), seed)
        keys = [e.canonical for e in result.evaluations]
        assert len(keys) == len(set(keys)) == ev.calls == 45
        assert all(e.round == i for i, e in enumerate(result.evaluations))  # one per round
        runs.append(keys)
    assert runs[0] == runs[1]
    # its first generation is the paired initial sample (population 8 here)
    rand = run_search(strategy("random"), ToyEvaluator(space), Budget(max_evals=8), seed)
    assert runs[0][:8] == [e.canonical for e in rand.evaluations]


def test_the_study_gets_score_and_cost_and_rejected_repeats_fail() -> None:
    import optuna

    space = toy_space(2)  # 64 cells: the sampler repeats itself often
    cost = toy_cost(space)
    s = make_strategy("nsga2", cost=cost, population=4)
    assert isinstance(s, NSGA2)
    result = run_search(s, ToyEvaluator(space), Budget(max_evals=64), seed=1)
    keys = [e.canonical for e in result.evaluations]
    assert len(keys) == len(set(keys)) == 64  # the whole space, each cell once
    study = s._study
    assert study is not None
    done = study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    failed = study.get_trials(states=[optuna.trial.TrialState.FAIL])
    # the driver tells a round's results at the next round: the last one is never told
    assert len(done) == 63 and len(failed) > 0
    by_key = {e.canonical: e for e in result.evaluations}
    for trial in done:
        arch = Arch("toy", tuple(trial.params[f"e{i}"] for i in range(6)))
        ev = by_key[space.canonical(arch)]
        assert trial.values == pytest.approx([ev.score, float(cost([arch])[0])])
