"""Pareto tools for two or more objectives, all to be MINIMISED (negate what you maximise).

Points are float64 arrays ``[n, m]`` (``n`` points, ``m`` objectives). ``a`` dominates ``b``
when ``a <= b`` in every objective and ``a < b`` in at least one; equal points do not
dominate each other, so duplicates share a front.

* ``non_dominated_sort``: the fronts (NSGA-II's fast non-dominated sort, Deb et al. 2002),
  front 0 the non-dominated points; ``pareto_mask`` the non-dominated points only.
* ``crowding_distance``: NSGA-II's crowding distance within one front (boundary points
  ``inf``; each objective's gaps divided by its range over the front).
* ``crowded_order``: every point by (front, larger crowding first, index): NSGA-II's
  environmental selection keeps a prefix of it.
* ``front_2d``: the non-dominated points of a 2-D set by a sort, ``O(n log n)`` (for a
  whole benchmark table);
* ``hypervolume_2d``: the area dominated by a 2-D point set and bounded by a reference point.
* ``greedy_hv_selection``: ``k`` candidates picked one at a time by the hypervolume each adds
  to a base set (the 2-D hypervolume-contribution infill of ``ecgnas.search.multiobjective``).

Pure numpy, ``O(m n^2)`` time and ``O(n^2)`` memory for the sort: meant for a few hundred
points (a population with its offspring), not a whole benchmark table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ecgnas.spaces.base import Arch

#: the cost objective of a multi-objective search: ``cost(archs) -> float64 [len(archs)]``,
#: lower is better (a latency, an energy, a parameter count); a cheap query, not an evaluation
CostFunction = Callable[[Sequence[Arch]], np.ndarray]


def _as_points(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"points must be a 2-D array [n, m], got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("points must be finite")
    return arr


def dominance_matrix(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """bool ``[n, n]``: entry ``(i, j)`` is whether point ``i`` dominates point ``j``."""
    p = _as_points(points)
    le = (p[:, None, :] <= p[None, :, :]).all(axis=2)
    lt = (p[:, None, :] < p[None, :, :]).any(axis=2)
    return np.asarray(le & lt, dtype=bool)


def non_dominated_sort(points: np.ndarray | Sequence[Sequence[float]]) -> list[np.ndarray]:
    """The fronts of ``points``: a list of int64 index arrays (ascending), front 0 first.

    Every point is in exactly one front; a point of front ``k > 0`` is dominated by at least
    one point of front ``k - 1`` and by none of fronts ``k`` and later.
    """
    p = _as_points(points)
    n = len(p)
    if n == 0:
        return []
    dom = dominance_matrix(p)
    dominated_by = dom.sum(axis=0)  # how many points dominate each point
    fronts: list[np.ndarray] = []
    current = np.flatnonzero(dominated_by == 0)
    assigned = 0
    while len(current):
        fronts.append(current.astype(np.int64))
        assigned += len(current)
        # remove the current front: the points it dominated lose that many dominators
        dominated_by = dominated_by - dom[current].sum(axis=0)
        dominated_by[current] = -1  # never picked again
        current = np.flatnonzero(dominated_by == 0)
    assert assigned == n  # dominance is acyclic, so every point is reached
    return fronts


def front_ranks(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """int64 ``[n]``: the front of each point (0 = non-dominated)."""
    p = _as_points(points)
    ranks = np.empty(len(p), dtype=np.int64)
    for k, front in enumerate(non_dominated_sort(p)):
        ranks[front] = k
    return ranks


def pareto_mask(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """bool ``[n]``: whether each point is non-dominated in ``points``."""
    p = _as_points(points)
    if len(p) == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(~dominance_matrix(p).any(axis=0), dtype=bool)


def crowding_distance(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """float64 ``[n]``: the crowding distance of each point of ONE front.

    For each objective, the points are sorted by it; the two extreme points get ``inf``, the
    others the gap between their two neighbours divided by the objective's range over the
    front. Distances are summed over the objectives. An objective that is constant over the
    front adds nothing (its extremes are not made ``inf``). Fronts of one or two points are
    all ``inf``. Ties in an objective are broken by index (a stable sort).
    """
    p = _as_points(points)
    n, m = p.shape
    dist = np.zeros(n, dtype=np.float64)
    if n <= 2:
        dist[:] = np.inf
        return dist
    for j in range(m):
        order = np.argsort(p[:, j], kind="stable")
        values = p[order, j]
        span = values[-1] - values[0]
        if span <= 0:
            continue
        dist[order[0]] = np.inf
        dist[order[-1]] = np.inf
        dist[order[1:-1]] += (values[2:] - values[:-2]) / span
    return dist


def crowded_order(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """int64 ``[n]``: all indices, best first, by (front, larger crowding distance, index).

    NSGA-II's environmental selection of ``k`` survivors is ``crowded_order(points)[:k]``;
    its crowded-comparison tournament prefers the point that comes first here.
    """
    p = _as_points(points)
    out: list[int] = []
    for front in non_dominated_sort(p):
        crowd = crowding_distance(p[front])
        # larger crowding first, then the lower index (lexsort: last key is the primary)
        order = np.lexsort((front, -crowd))
        out.extend(int(front[i]) for i in order)
    return np.array(out, dtype=np.int64)


def front_2d(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """int64 indices of the non-dominated points of a 2-D set, by increasing first objective.

    The same set as ``pareto_mask`` (equal non-dominated points are all kept), found by one
    sort and a sweep instead of the ``O(n^2)`` dominance matrix.
    """
    p = _as_points(points) if len(points) else np.zeros((0, 2))
    if p.shape[1] != 2:
        raise ValueError(f"front_2d needs 2 objectives, got {p.shape[1]}")
    if len(p) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(len(p)), p[:, 1], p[:, 0]))  # by x, then y, then index
    x, y = p[order, 0], p[order, 1]
    # the lowest y among all points before each one in the order (+inf for the first)
    before = np.concatenate([[np.inf], np.minimum.accumulate(y)[:-1]])
    # a point is dominated iff some earlier point has a lower y, or the same y with a lower x
    first_x_of_y: dict[float, float] = {}
    keep = np.zeros(len(p), dtype=bool)
    for i in range(len(p)):
        if y[i] < before[i]:
            keep[i] = True
            first_x_of_y[float(y[i])] = float(x[i])
        elif y[i] == before[i] and first_x_of_y.get(float(y[i])) == float(x[i]):
            keep[i] = True  # equal to a kept point: equal points do not dominate each other
    return order[keep].astype(np.int64)


def hypervolume_2d(
    points: np.ndarray | Sequence[Sequence[float]], reference: Sequence[float]
) -> float:
    """The area dominated by 2-D ``points`` (minimisation) and bounded by ``reference``.

    Only points strictly better than ``reference`` in both objectives count (others add
    nothing). An empty set has hypervolume 0. Sweep: sort by the first objective, keep the
    points that improve the second, and add one rectangle per kept point.
    """
    p = _as_points(points) if len(points) else np.zeros((0, 2))
    if p.shape[1] != 2:
        raise ValueError(f"hypervolume_2d needs 2 objectives, got {p.shape[1]}")
    rx, ry = float(reference[0]), float(reference[1])
    p = p[(p[:, 0] < rx) & (p[:, 1] < ry)]
    if len(p) == 0:
        return 0.0
    p = p[np.lexsort((p[:, 1], p[:, 0]))]  # by x, then y
    keep = p[:, 1] < np.minimum.accumulate(np.concatenate([[ry], p[:-1, 1]]))
    front = p[keep]  # x increasing, y strictly decreasing
    next_x = np.concatenate([front[1:, 0], [rx]])
    return float(((next_x - front[:, 0]) * (ry - front[:, 1])).sum())


def greedy_hv_selection(
    candidates: np.ndarray | Sequence[Sequence[float]],
    base: np.ndarray | Sequence[Sequence[float]],
    reference: Sequence[float],
    k: int,
) -> list[int]:
    """Up to ``k`` candidate indices, picked one at a time by the 2-D hypervolume each adds
    to ``base`` plus the picks so far (ties: the lower index). Stops early when no remaining
    candidate adds any area, so it may return fewer than ``k``.
    """
    cand = _as_points(candidates) if len(candidates) else np.zeros((0, 2))
    current = _as_points(base) if len(base) else np.zeros((0, 2))
    picks: list[int] = []
    open_ = list(range(len(cand)))
    rx, ry = float(reference[0]), float(reference[1])
    for _ in range(k):
        if not open_:
            break
        front = current[pareto_mask(current)] if len(current) else current
        base_hv = hypervolume_2d(front, reference)
        gains = np.array(
            [hypervolume_2d(np.vstack([front, cand[i : i + 1]]), (rx, ry)) - base_hv for i in open_]
        )
        best = int(np.argmax(gains))
        if gains[best] <= 1e-15:
            break
        chosen = open_.pop(best)
        picks.append(chosen)
        current = np.vstack([front, cand[chosen : chosen + 1]])
    return picks
