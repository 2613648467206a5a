"""NSGA-II baseline for the multi-objective search: Optuna's ``NSGAIISampler`` in ask/tell form.

An Optuna study with directions ``(maximize, minimize)`` over (search signal, cost); the
cell's ops are its parameters, one categorical parameter per edge (``e0..e5``, choices the
op codes). The cost of each evaluated arch comes from the cost function the application
layer passes in (``CostFunction``: a cheap query, not an evaluation); the signal is the
evaluation's score. NSGA-II sees nothing else: unlike ``dcl_mo`` it never queries the cost
of an arch it does not evaluate.

* The first generation (``population`` archs, 10 by default) is the paired initial-sample stream
  (``InitialSample``, enqueued as fixed trials), so for one seed NSGA-II, random search and
  ``dcl_mo`` start from the same archs; from then on the sampler's own selection, uniform
  crossover (probability ``crossover_prob``, ``swapping_prob``) and mutation
  (``mutation_prob``, Optuna's default ``1 / n_params`` when ``None``) make each child.
* A child already evaluated (its canonical hash is in the history) is not evaluated again:
  its trial is closed as failed, which NSGA-II ignores, and the sampler is asked again (up to
  ``max_retries`` times, then one fresh random arch is enqueued), so every evaluation is a
  new arch, as in the other strategies.
* One arch per round (one trial at a time), which is the sequential NSGA-II.

Cell spaces only (``CellSpace``: a fixed number of edges with ``n_ops`` ops each).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgnas.errors import ConfigError
from ecgnas.search.base import History, InitialSample, Observation, draw_new, seed_streams
from ecgnas.search.pareto import CostFunction
from ecgnas.spaces.base import Arch, SearchSpace
from ecgnas.spaces.cell import N_EDGES, CellSpace

if TYPE_CHECKING:
    import optuna

    from ecgnas.search.baselines import PredictorFactory


@dataclass(frozen=True)
class NSGA2Settings:
    """NSGA-II settings (see the module docstring). ``population`` 10 and ``mutation_prob``
    0.3 (Optuna's defaults: 50 and ``1 / n_params``, here 1/6) are the best of eight settings
    tried on the tuning seeds 0-29 of the pareto benchmark (NB201 cifar10, edgegpu and raspi4
    latency, budget 100: population 6-50, mutation 1/6-0.5, crossover 0.5/0.9)."""

    population: int = 10
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5
    mutation_prob: float | None = 0.3
    max_retries: int = 200

    def __post_init__(self) -> None:
        if self.population < 2:
            raise ConfigError(f"NSGA-II population must be at least 2, got {self.population}")
        for name in ("crossover_prob", "swapping_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"NSGA-II {name} must lie in [0, 1], got {getattr(self, name)}")
        if self.mutation_prob is not None and not 0.0 <= self.mutation_prob <= 1.0:
            raise ConfigError(f"NSGA-II mutation_prob must lie in [0, 1], got {self.mutation_prob}")
        if self.max_retries < 1:
            raise ConfigError(f"NSGA-II max_retries must be at least 1, got {self.max_retries}")


class NSGA2:
    """NSGA-II (Optuna's sampler) on (signal up, cost down), one arch per round."""

    name = "nsga2"

    def __init__(
        self,
        settings: NSGA2Settings | None = None,
        predictor_factory: PredictorFactory | None = None,
        cost: CostFunction | None = None,
    ) -> None:
        del predictor_factory  # NSGA-II has no predictor
        if cost is None:
            raise ConfigError(
                "strategy 'nsga2' needs a cost objective (run it with `ecgnas benchmark pareto`)"
            )
        self.config = settings or NSGA2Settings()
        self._cost = cost
        self._space: CellSpace | None = None
        self._study: optuna.Study | None = None
        self._stream: InitialSample | None = None
        self._rng: np.random.Generator | None = None
        self._pending: dict[str, optuna.Trial] = {}

    def settings(self) -> dict[str, Any]:
        return asdict(self.config)

    def start(self, space: SearchSpace, seed: int) -> None:
        import optuna

        if not isinstance(space, CellSpace):
            raise ConfigError(f"nsga2 needs a cell space, not {space.name!r}")
        cfg = self.config
        self._space = space
        self._rng = seed_streams(seed, 2)[1]
        sampler = optuna.samplers.NSGAIISampler(
            population_size=cfg.population,
            crossover_prob=cfg.crossover_prob,
            swapping_prob=cfg.swapping_prob,
            mutation_prob=cfg.mutation_prob,
            seed=int(self._rng.integers(2**31 - 1)),
        )
        self._study = optuna.create_study(
            directions=["maximize", "minimize"],
            sampler=sampler,
            storage=optuna.storages.InMemoryStorage(),
        )
        self._stream = InitialSample(space, seed)
        for arch in self._stream.take(cfg.population, History()):
            self._study.enqueue_trial(self._params(arch))
        self._pending = {}

    @staticmethod
    def _params(arch: Arch) -> dict[str, Any]:
        return {f"e{i}": int(op) for i, op in enumerate(arch.ops)}

    def _suggest(self, trial: optuna.Trial) -> Arch:
        assert self._space is not None
        choices = list(range(self._space.n_ops))
        ops = [int(trial.suggest_categorical(f"e{i}", choices)) for i in range(N_EDGES)]
        return self._space.make(ops)

    def ask(self, history: History) -> list[Arch]:
        import optuna

        study, space, rng = self._study, self._space, self._rng
        assert study is not None and space is not None and rng is not None, "start() first"
        self._close_pending()
        for attempt in range(self.config.max_retries + 1):
            if attempt == self.config.max_retries:  # the sampler keeps repeating itself
                fresh = draw_new(space, rng, history)
                if fresh is None:
                    return []
                study.enqueue_trial(self._params(fresh))
            trial = study.ask()
            arch = self._suggest(trial)
            key = space.canonical(arch)
            if history.seen(key) or key in self._pending:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            self._pending[key] = trial
            return [arch]
        return []  # pragma: no cover - the enqueued fresh arch is always new

    def _close_pending(self) -> None:
        """Fail the trials whose arch was proposed but never evaluated (budget stop)."""
        import optuna

        assert self._study is not None
        for trial in self._pending.values():
            self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
        self._pending = {}

    def tell(self, history: History, new: Sequence[Observation]) -> None:
        study = self._study
        assert study is not None, "start() first"
        if not new:
            return
        costs = self._cost([o.arch for o in new])
        for obs, cost in zip(new, costs):
            trial = self._pending.pop(obs.canonical, None)
            if trial is not None:
                study.tell(trial, [float(obs.score), float(cost)])
