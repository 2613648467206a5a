"""Multi-objective DCL-ENAS (``dcl_mo``) on the toy table with a conflicting cost."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from ecgnas.errors import ConfigError
from ecgnas.search import Budget, History, Observation, make_strategy, run_search
from ecgnas.search.multiobjective import DCLMO, DCLMOSettings, scaled
from ecgnas.search.pareto import hypervolume_2d
from ecgnas.spaces.base import Arch
from ecgnas.testing import ToyEvaluator, toy_space

from .helpers import mo_strategy, strategy, toy_cost


def _hv(evaluations: Sequence, cost, ref: tuple[float, float]) -> float:  # noqa: ANN001
    score = np.array([e.score for e in evaluations])
    return hypervolume_2d(np.column_stack([-score, cost([e.arch for e in evaluations])]), ref)


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="infill"):
        DCLMOSettings(infill="best")
    with pytest.raises(ConfigError, match="hv_reference"):
        DCLMOSettings(hv_reference=1.0)
    with pytest.raises(ConfigError):  # dcl_enas's own checks still apply
        DCLMOSettings(n_explore=10, n_infill=10)
    assert make_strategy("dcl_mo", cost=lambda a: np.zeros(len(a))).settings()["infill"] == "hv"


def test_scaled_maps_each_column_onto_the_unit_interval() -> None:
    out = scaled(np.array([[1.0, 5.0], [3.0, 5.0], [2.0, 5.0]]))
    assert out.tolist() == [[0.0, 0.0], [1.0, 0.0], [0.5, 0.0]]


@pytest.mark.parametrize("seed", [0, 1])
def test_runs_exactly_to_budget_without_repeats_and_deterministically(seed: int) -> None:
    space = toy_space(4)
    runs = []
    for _ in range(2):
        ev = ToyEvaluator(space)
        result = run_search(mo_strategy("dcl_mo", space), ev, Budget(max_evals=37), seed)
        keys = [e.canonical for e in result.evaluations]
        assert len(keys) == len(set(keys)) == ev.calls == 37
        runs.append(keys)
    assert runs[0] == runs[1]
    # the first ten are the paired initial sample: random search's first ten
    rand = run_search(strategy("random"), ToyEvaluator(space), Budget(max_evals=10), seed)
    assert runs[0][:10] == [e.canonical for e in rand.evaluations]


@pytest.mark.parametrize("infill", ["hv", "crowding"])
def test_beats_random_search_on_hypervolume(infill: str) -> None:
    space = toy_space(4)  # 4,096 cells; the cost grows with the score's weights
    cost = toy_cost(space)
    all_scores = ToyEvaluator(space).all_scores()
    ref = (-all_scores.min(), 1.1 * cost(space.enumerate()).max())
    for seed in range(3):
        mo = run_search(
            mo_strategy("dcl_mo", space, infill=infill), ToyEvaluator(space), Budget(60), seed
        )
        rnd = run_search(strategy("random"), ToyEvaluator(space), Budget(60), seed)
        assert _hv(mo.evaluations, cost, ref) > _hv(rnd.evaluations, cost, ref) + 5.0


class _Fixed:
    """A predictor with fixed scores per arch (fit does nothing)."""

    def __init__(self, values: dict[Arch, float]) -> None:
        self.values = values

    def fit(self, archs: Sequence[Arch], scores: object) -> None:
        pass

    def score(self, archs: Sequence[Arch]) -> np.ndarray:
        return np.array([self.values[a] for a in archs], dtype=np.float64)


@pytest.mark.parametrize("infill", ["hv", "crowding"])
def test_infill_takes_the_predicted_front_not_what_the_evaluated_archs_dominate(
    infill: str,
) -> None:
    space = toy_space(3)
    archs = [space.make([i // 3, i % 3, 0, 0, 0, 0]) for i in range(9)]
    # (predicted score, cost): three evaluated archs on a front, two candidates that extend
    # it (index 3: more accurate at a higher cost; 4: between two evaluated points) and
    # four candidates that evaluated archs dominate
    table = [(5, 5), (3, 3), (1, 1), (7, 6), (4.5, 3.5), (4, 5), (2, 3), (0.5, 1), (4.9, 5.5)]
    values = {a: float(s) for a, (s, _) in zip(archs, table)}
    costs = {a: float(c) for a, (_, c) in zip(archs, table)}
    s = DCLMO(
        DCLMOSettings(infill=infill),
        predictor_factory=lambda sp, seed: _Fixed(values),
        cost=lambda a: np.array([costs[x] for x in a]),
    )
    s.start(space, seed=0)
    history = History()
    for a in archs[:3]:
        history.add(Observation(a, space.canonical(a), values[a], 1.0))
    cands = archs[3:]
    points = np.array([[-values[a], costs[a]] for a in cands])
    picks = s._infill(history, points, 2)
    assert sorted(picks) == [0, 1]
    assert len(s._infill(history, points, 10)) == 6  # fills up, each candidate once
