"""Multi-objective DCL-ENAS (``dcl_mo``): accuracy by the DCL predictor, cost by a table.

Two objectives: the search signal (higher is better), which only true evaluations reveal and
the dual-contrastive predictor ranks (the same predictor as ``dcl_enas``, fine-tuned (CLF)
on every evaluated arch before each infill round), and a cost (lower is better: a latency,
an energy, a parameter count) that the application layer supplies as a ``CostFunction``.
The cost is a cheap query (a lookup table, a cost model), so it is known for every candidate
without an evaluation; only true evaluations count against the budget.

1. Evaluate ``n_init`` archs of the paired initial-sample stream; seed the population with
   the ``population`` best of them by NSGA-II's crowded order on (true signal, cost).
2. Until the budget stops the run, repeat:

   a. fit the predictor on every evaluated arch;
   b. evolve ``t_gap`` generations on (predicted signal, cost): binary tournaments by the
      crowded order (front, then crowding distance), uniform crossover and one-edge mutation
      as in ``dcl_enas``; environmental selection keeps the ``population`` first of parents
      + offspring in the crowded order (NSGA-II);
   c. truly evaluate ``n_infill`` new archs: ``n_infill - n_explore - n_cover`` from the
      predicted Pareto front of every arch generated in this gap plus the population, spread
      along it (``infill``: ``"hv"`` picks them one at a time by the hypervolume each adds to
      the predicted front of the evaluated archs; ``"crowding"`` takes the crowded order of
      candidates and evaluated archs together); ``n_explore`` exploration picks, the first in
      the crowded order of ``explore_pool`` fresh random archs; and ``n_cover`` coverage picks
      next to the most accurate evaluated arch (``dcl_enas``'s coverage pick, which extends the
      accurate end of the front).

The hypervolume infill works in the predictor's units: each objective is scaled to [0, 1]
over the evaluated archs and the candidates (the predictor's scores carry order, not
accuracy), and the reference point is ``hv_reference`` in both scaled objectives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ecgnas.errors import ConfigError
from ecgnas.search.base import History
from ecgnas.search.dcl_enas import DCLENAS, DCLENASSettings
from ecgnas.search.pareto import CostFunction, crowded_order, greedy_hv_selection
from ecgnas.spaces.base import Arch
from ecgnas.spaces.cell import CellSpace

if TYPE_CHECKING:
    from ecgnas.search.baselines import PredictorFactory

INFILL_RULES: tuple[str, ...] = ("hv", "crowding")


@dataclass(frozen=True)
class DCLMOSettings(DCLENASSettings):
    """``dcl_enas``'s settings plus the infill rule and the scaled hypervolume reference."""

    infill: str = "hv"
    hv_reference: float = 1.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.infill not in INFILL_RULES:
            raise ConfigError(
                f"dcl_mo infill must be one of {', '.join(INFILL_RULES)}, got {self.infill!r}"
            )
        if not self.hv_reference > 1.0:
            raise ConfigError(f"dcl_mo hv_reference must be above 1, got {self.hv_reference}")


def scaled(points: np.ndarray) -> np.ndarray:
    """``points`` with each column mapped linearly onto [0, 1] (a constant column to 0)."""
    lo = points.min(axis=0)
    span = points.max(axis=0) - lo
    span[span <= 0] = 1.0
    out: np.ndarray = (points - lo) / span
    return out


class DCLMO(DCLENAS):
    """Multi-objective DCL-ENAS (ask/tell); see the module docstring."""

    name = "dcl_mo"
    settings_class = DCLMOSettings

    def __init__(
        self,
        settings: DCLMOSettings | None = None,
        predictor_factory: PredictorFactory | None = None,
        cost: CostFunction | None = None,
    ) -> None:
        if cost is None:
            raise ConfigError(
                "strategy 'dcl_mo' needs a cost objective (run it with `ecgnas benchmark pareto`)"
            )
        super().__init__(settings, predictor_factory)
        self._cost = cost

    def _points(self, predicted: np.ndarray, archs: list[Arch]) -> np.ndarray:
        """``[n, 2]`` minimisation points (-predicted signal, cost) of ``archs``."""
        cost = np.asarray(self._cost(archs), dtype=np.float64)
        return np.column_stack([-np.asarray(predicted, dtype=np.float64), cost])

    # --- ask ------------------------------------------------------------------------------
    def ask(self, history: History) -> list[Arch]:
        space, predictor, cfg = self._space, self._predictor, self.config
        assert space is not None and predictor is not None and self._stream is not None
        if len(history) < cfg.n_init:
            return self._stream.take(cfg.n_init - len(history), history)
        predictor.fit(history.archs(), history.scores())
        if not self._population:
            archs = history.archs()
            order = crowded_order(self._points(history.scores(), archs))
            self._population = [archs[int(i)] for i in order[: cfg.population]]
        pool = self._evolve(history)
        open_ = [(a, p) for key, (a, p) in pool.items() if not history.seen(key)]
        if not open_:
            return self._fallback(history)
        n_cover = cfg.n_cover if isinstance(space, CellSpace) else 0
        k = cfg.n_infill - cfg.n_explore - n_cover
        cands = [a for a, _ in open_]
        cand_points = np.array([p for _, p in open_], dtype=np.float64)
        chosen = [cands[i] for i in self._infill(history, cand_points, k)]
        taken = {space.canonical(a) for a in chosen}
        if n_cover:
            chosen += self._cover(history, taken)
        if cfg.n_explore:
            chosen += self._explore(history, taken)
        return chosen

    def _evolve(self, history: History) -> dict[str, tuple[Arch, tuple[float, float]]]:
        """``t_gap`` NSGA-II generations on (predicted signal, cost); every arch met, by
        canonical hash, with its point (-predicted signal, cost)."""
        space, predictor, cfg = self._space, self._predictor, self.config
        assert space is not None and predictor is not None
        population = self._population
        points = self._points(predictor.score(population), population)
        pool: dict[str, tuple[Arch, tuple[float, float]]] = {}
        for arch, p in zip(population, points):
            pool[space.canonical(arch)] = (arch, (float(p[0]), float(p[1])))
        for _ in range(cfg.t_gap):
            # tournament fitness: minus the position in the crowded order (higher is better)
            fitness = np.empty(len(population))
            fitness[crowded_order(points)] = -np.arange(len(population), dtype=np.float64)
            children = self._offspring(population, fitness, history)
            if not children:
                break
            child_points = self._points(predictor.score(children), children)
            for arch, p in zip(children, child_points):
                pool[space.canonical(arch)] = (arch, (float(p[0]), float(p[1])))
            merged = population + children
            merged_points = np.vstack([points, child_points])
            keep = crowded_order(merged_points)[: cfg.population]
            population = [merged[int(i)] for i in keep]
            points = merged_points[keep]
        self._population = population
        return pool

    def _infill(self, history: History, cand_points: np.ndarray, k: int) -> list[int]:
        """Indices of ``k`` candidates from the predicted front (see the module docstring)."""
        predictor, cfg = self._predictor, self.config
        assert predictor is not None
        k = min(k, len(cand_points))
        if k <= 0:
            return []
        archs = history.archs()
        base = self._points(predictor.score(archs), archs)
        both = scaled(np.vstack([base, cand_points]))
        n_base = len(base)
        if cfg.infill == "hv":
            ref = (cfg.hv_reference, cfg.hv_reference)
            picks = greedy_hv_selection(both[n_base:], both[:n_base], ref, k)
        else:
            picks = []
        if len(picks) < k:  # fill up (or, for "crowding", choose) in the joint crowded order
            taken = set(picks)
            for i in crowded_order(both):
                j = int(i) - n_base
                if j >= 0 and j not in taken:
                    picks.append(j)
                    taken.add(j)
                    if len(picks) == k:
                        break
        return picks

    def _explore_order(self, fresh: list[Arch]) -> np.ndarray:
        """The crowded order of the fresh archs on (predicted signal, cost): lightly screened
        exploration picks spread over the cost range."""
        assert self._predictor is not None
        return crowded_order(self._points(self._predictor.score(fresh), fresh))
