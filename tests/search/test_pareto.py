"""Non-dominated sorting, crowding distance and 2-D hypervolume on hand-checked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecgnas.search.pareto import (
    crowded_order,
    crowding_distance,
    dominance_matrix,
    front_2d,
    front_ranks,
    greedy_hv_selection,
    hypervolume_2d,
    non_dominated_sort,
    pareto_mask,
)

# minimisation; (2, 2) twice: equal points do not dominate each other
POINTS = [(1, 4), (2, 2), (4, 1), (3, 3), (4, 4), (2, 2)]


def test_dominance_is_weak_in_all_and_strict_in_one() -> None:
    dom = dominance_matrix([(1, 1), (1, 2), (1, 2), (2, 0)])
    assert dom.tolist() == [
        [False, True, True, False],
        [False, False, False, False],  # equal points: neither dominates
        [False, False, False, False],
        [False, False, False, False],
    ]


def test_non_dominated_sort_by_hand() -> None:
    fronts = non_dominated_sort(POINTS)
    assert [f.tolist() for f in fronts] == [[0, 1, 2, 5], [3], [4]]
    assert front_ranks(POINTS).tolist() == [0, 0, 0, 1, 2, 0]
    assert pareto_mask(POINTS).tolist() == [True, True, True, False, False, True]
    assert non_dominated_sort(np.zeros((0, 2))) == []
    # three objectives: (0, 0, 1) and (1, 0, 0) are incomparable, (1, 1, 1) is dominated
    assert [f.tolist() for f in non_dominated_sort([(0, 0, 1), (1, 0, 0), (1, 1, 1)])] == [
        [0, 1],
        [2],
    ]


def test_non_dominated_sort_agrees_with_a_brute_force_definition() -> None:
    rng = np.random.default_rng(0)
    pts = rng.integers(0, 6, size=(60, 2)).astype(float)  # many ties
    ranks = front_ranks(pts)
    for i in range(len(pts)):
        dominators = [
            j for j in range(len(pts)) if (pts[j] <= pts[i]).all() and (pts[j] < pts[i]).any()
        ]
        # rank 0 iff nobody dominates; otherwise one more than the best dominator's rank
        expected = 0 if not dominators else 1 + max(ranks[j] for j in dominators)
        assert ranks[i] == expected


def test_front_2d_is_the_pareto_mask_sorted_by_the_first_objective() -> None:
    assert front_2d(POINTS).tolist() == [0, 1, 5, 2]
    assert front_2d(np.zeros((0, 2))).tolist() == []
    rng = np.random.default_rng(3)
    for _ in range(20):
        pts = rng.integers(0, 5, size=(40, 2)).astype(float)  # ties and duplicates
        idx = front_2d(pts)
        assert sorted(idx.tolist()) == np.flatnonzero(pareto_mask(pts)).tolist()
        assert (np.diff(pts[idx, 0]) >= 0).all()


def test_crowding_distance_by_hand() -> None:
    front = [(0, 10), (1, 6), (3, 5), (10, 0)]
    # x: span 10, (1,6) gets (3-0)/10, (3,5) gets (10-1)/10; y: span 10, (3,5) gets
    # (6-0)/10, (1,6) gets (10-5)/10
    assert crowding_distance(front).tolist() == pytest.approx([math.inf, 0.8, 1.5, math.inf])
    # a constant objective adds nothing and does not make its extremes infinite
    assert crowding_distance([(1, 5), (2, 5), (3, 5)]).tolist() == [math.inf, 1.0, math.inf]
    assert crowding_distance([(1, 5), (2, 4)]).tolist() == [math.inf, math.inf]


def test_crowded_order_ranks_fronts_then_crowding() -> None:
    pts = [(0, 10), (1, 6), (3, 5), (10, 0), (5, 7)]  # (5,7) is dominated by (3,5)
    assert crowded_order(pts).tolist() == [0, 3, 2, 1, 4]


def test_hypervolume_2d_by_hand() -> None:
    staircase = [(1, 3), (2, 2), (3, 1)]
    # rectangles of the sweep: 1*1 + 1*2 + 1*3
    assert hypervolume_2d(staircase, (4, 4)) == pytest.approx(6.0)
    # dominated points, points beyond the reference and on its boundary add nothing
    extra = [*staircase, (3, 3), (5, 0), (0, 4), (2, 2)]
    assert hypervolume_2d(extra, (4, 4)) == pytest.approx(6.0)
    assert hypervolume_2d(extra[::-1], (4, 4)) == pytest.approx(6.0)
    assert hypervolume_2d([(0, 0)], (1, 2)) == pytest.approx(2.0)
    assert hypervolume_2d([(-1, 0.5)], (0, 1)) == pytest.approx(0.5)
    assert hypervolume_2d([], (1, 1)) == 0.0
    assert hypervolume_2d([(2, 0)], (1, 1)) == 0.0
    with pytest.raises(ValueError):
        hypervolume_2d([(1, 2, 3)], (4, 4))


def test_hypervolume_matches_a_grid_count() -> None:
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 1, size=(12, 2))
    grid = (np.arange(400) + 0.5) / 400
    gx, gy = np.meshgrid(grid, grid)
    covered = np.zeros_like(gx, dtype=bool)
    for x, y in pts:
        covered |= (gx >= x) & (gy >= y)
    assert hypervolume_2d(pts, (1, 1)) == pytest.approx(covered.mean(), abs=5e-3)


def test_greedy_hv_selection_by_hand() -> None:
    base = [(1, 3)]  # HV 3 against (4, 4)
    cands = [(2, 2), (3, 1), (1.5, 3.5), (0.5, 3.9)]
    # gains: (2,2) 2, (3,1) 2 (tie: the lower index first), then (3,1) adds 1, (0.5,3.9)
    # adds 0.5*0.1; (1.5,3.5) is dominated and adds nothing, so only three are picked
    assert greedy_hv_selection(cands, base, (4, 4), 4) == [0, 1, 3]
    assert greedy_hv_selection(cands, base, (4, 4), 1) == [0]
    # alone: (2,2) covers 2*2 = 4, (3,1) 1*3, (0.5,3.9) 3.5*0.1, (1.5,3.5) 2.5*0.5
    assert greedy_hv_selection(cands, [], (4, 4), 1) == [0]
    assert greedy_hv_selection([], base, (4, 4), 3) == []
