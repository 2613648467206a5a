"""DCL-ENAS (Algorithm 1): evolution guided by the dual-contrastive-learning predictor.

1. The predictor (``make_predictor("dcl", space, seed)``) brings its contrastively
   pre-trained encoder (CLP, cached or shipped by ``ecgnas.predictor``).
2. Evaluate ``n_init`` random archs (the paired initial-sample stream), fine-tune the
   predictor on them (CLF), and seed the population with the ``population`` best of them.
3. Until the budget stops the run, repeat:

   a. evolve ``t_gap`` generations: each makes ``offspring`` new archs by binary tournament
      selection (on predicted score), uniform crossover (probability ``p_crossover``) and
      mutation (always when the child equals a parent, else with ``p_mutation``); offspring
      are new to the population, this generation and the evaluated set; the predictor scores
      them and environmental selection keeps the ``population`` best of parents + offspring
      by predicted score;
   b. truly evaluate ``n_infill`` not-yet-evaluated archs: the ``n_infill - n_explore -
      n_cover`` most promising by predicted score among every arch generated in this gap plus
      the final population; ``n_explore`` exploration picks, the best predicted of
      ``explore_pool`` fresh random archs; and (cell spaces) ``n_cover`` coverage picks, the
      one-edge mutants of the best evaluated arch that put on an edge the op the evaluated
      archs have tried there least;
   c. refine the predictor (CLF again on every evaluated arch).

Why the exploration picks (step b): without them (``n_explore=0``) about a quarter of the
NB201 runs lock onto one region of the space within the first infill rounds: every
evaluated arch shares, e.g., the same op on the input-output edge, so the predictor, trained
only on its own picks, cannot rank the region the best cells are in, and the population
never leaves. Two lightly screened random archs per round (the best 2 of 20 by prediction)
cost 20 % of the evaluations and fix it: on NB201 cifar10 (seeds 0-29, budget 100) the
mean test accuracy of the found arch rose from 94.23 to 94.35 and the share of runs finding
the best cell from 77 % to 97 % (``reports/search_tuning.md``). A large screen (200) picks
what the predictor already likes and does not help (94.20).

Why the coverage pick: most remaining misses end on one cell (``3,3,2,2,2,3`` on cifar10,
test 93.66): every evaluated cell there has ``nor_conv_1x1`` on edge 3, where the best
cells have ``skip_connect``. One pick per round that tries, next to the incumbent, the op
least tried on some edge raised the mean on the tuning seeds 0-99 from 94.332 to 94.355
(found the best cell 94 % → 97 %) on cifar10 and from 72.587 to 72.626 on cifar100; two
picks, or mutants of the best three archs, did no better (``reports/search_tuning.md``).

Options (off by default; ``reports/predictor_ablation.md`` measures them):

* ``acquisition``: how the predicted-best infill picks are ranked. ``"mean"`` (default): the
  predicted score. With an ensemble predictor (``EnsemblePredictor``, e.g.
  ``predictor_settings={"clf": {"members": 5}}``), ``"ucb"`` ranks by mean + ``kappa`` * std
  of the members' standardised scores, and ``"thompson"`` by one independent normal draw
  per arch with that mean and std (from the run's rng).
* ``init_design``: how the ``n_init`` first archs are chosen. ``"random"`` (default): the
  paired initial-sample stream, the same archs every method starts from. ``"balanced"``:
  ``n_init`` of the stream's first ``n_init * design_pool`` archs, chosen greedily so each
  gene's values (each op on each edge, each macro choice) appear as evenly as possible
  (``ecgnas.search.base.balanced_design``). Behind the defaults on the tuning seeds of
  both the ECG table (58.70 against 59.33 at 50 evaluations) and NB201 cifar10 (best cell
  found in 94 % against 97 % of runs), so off (``reports/search_tuning.md``).
* ``dedup``: what counts as a duplicate that is never proposed again. ``"canonical"``
  (default): the space's canonical hash. ``"function"`` (cell spaces): cells with the same
  effective ops (``ecgnas.spaces.cell.effective_ops``: every dead edge set to ``none``)
  compute the same function, so once one is evaluated or proposed, the others are not.

Defaults: population 20, ``n_init`` 20, 120 offspring per generation, ``t_gap`` 4,
``n_infill`` 10 (2 of them exploration, 1 coverage), binary tournaments, crossover and
mutation probabilities 0.5. The evolution rng, the initial sample and the predictor seed all derive
from the run seed, so a run is a deterministic function of (seed, history) as resume
requires, provided the predictor is deterministic for its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecgnas.errors import ConfigError
from ecgnas.predictor.base import EnsemblePredictor
from ecgnas.search.base import History, balanced_design, draw_new
from ecgnas.search.baselines import PredictorGuided
from ecgnas.spaces.base import Arch, SearchSpace
from ecgnas.spaces.cell import N_EDGES, CellSpace, effective_ops

#: how infill picks are ranked (see the module docstring)
ACQUISITIONS: tuple[str, ...] = ("mean", "ucb", "thompson")
#: what counts as a duplicate (see the module docstring)
DEDUPS: tuple[str, ...] = ("canonical", "function")
#: how the ``n_init`` first archs are chosen (see the module docstring)
INIT_DESIGNS: tuple[str, ...] = ("random", "balanced")


@dataclass(frozen=True)
class DCLENASSettings:
    """Settings of Algorithm 1 (see the module docstring); every one is a parameter."""

    population: int = 20
    n_init: int = 20
    offspring: int = 120
    t_gap: int = 4
    n_infill: int = 10
    tournament: int = 2
    n_explore: int = 2
    explore_pool: int = 20
    n_cover: int = 1
    cover_parents: int = 1
    p_crossover: float = 0.5
    p_mutation: float = 0.5
    predictor: str = "dcl"
    predictor_settings: dict[str, Any] = field(default_factory=dict)
    acquisition: str = "mean"
    kappa: float = 1.0
    dedup: str = "canonical"
    init_design: str = "random"
    design_pool: int = 20

    def __post_init__(self) -> None:
        for name in ("population", "n_init", "offspring", "t_gap", "n_infill", "tournament"):
            if getattr(self, name) < 1:
                raise ConfigError(f"DCL-ENAS {name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.n_explore < self.n_infill:
            raise ConfigError(f"DCL-ENAS n_explore must lie in 0..n_infill-1, got {self.n_explore}")
        if self.n_cover < 0 or self.n_explore + self.n_cover >= self.n_infill:
            raise ConfigError(
                "DCL-ENAS n_cover must be >= 0 and n_explore + n_cover < n_infill, got "
                f"{self.n_cover} + {self.n_explore} (n_infill {self.n_infill})"
            )
        if self.cover_parents < 1:
            raise ConfigError(
                f"DCL-ENAS cover_parents must be at least 1, got {self.cover_parents}"
            )
        if self.explore_pool < 1:
            raise ConfigError(f"DCL-ENAS explore_pool must be at least 1, got {self.explore_pool}")
        for name in ("p_crossover", "p_mutation"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"DCL-ENAS {name} must lie in [0, 1], got {getattr(self, name)}")
        if self.acquisition not in ACQUISITIONS:
            raise ConfigError(
                f"DCL-ENAS acquisition must be one of {ACQUISITIONS}, not {self.acquisition!r}"
            )
        if self.dedup not in DEDUPS:
            raise ConfigError(f"DCL-ENAS dedup must be one of {DEDUPS}, not {self.dedup!r}")
        if self.init_design not in INIT_DESIGNS:
            raise ConfigError(
                f"DCL-ENAS init_design must be one of {INIT_DESIGNS}, not {self.init_design!r}"
            )
        if self.design_pool < 1:
            raise ConfigError(f"DCL-ENAS design_pool must be at least 1, got {self.design_pool}")


class DCLENAS(PredictorGuided):
    """The DCL-ENAS strategy (ask/tell)."""

    name = "dcl_enas"
    settings_class = DCLENASSettings
    _n_streams = 3
    _rng_stream = 2

    def start(self, space: SearchSpace, seed: int) -> None:
        super().start(space, seed)
        self._population: list[Arch] = []
        self._done: tuple[int, set[str]] = (0, set())
        self._design: list[Arch] = []
        if self.config.init_design == "balanced":
            cfg = self.config
            assert self._stream is not None  # set by super().start
            pool = self._stream.take(cfg.n_init * cfg.design_pool, History())
            self._design = balanced_design(pool, cfg.n_init)
        if self.config.acquisition != "mean" and not isinstance(self._predictor, EnsemblePredictor):
            raise ConfigError(
                f"DCL-ENAS acquisition {self.config.acquisition!r} needs an ensemble predictor "
                "(one with score_members)"
            )

    def _key(self, arch: Arch) -> str:
        """The duplicate key of ``arch``: its canonical hash, or (``dedup="function"``, cell
        spaces) the canonical hash of its effective cell."""
        space = self._space
        assert space is not None
        if self.config.dedup == "function" and isinstance(space, CellSpace):
            return space.canonical(space.make(effective_ops(arch.ops, space.none_index)))
        return space.canonical(arch)

    def _seen(self, key: str, history: History) -> bool:
        """Whether an evaluated arch has the duplicate key ``key`` (see ``_key``)."""
        if self.config.dedup == "canonical":
            return history.seen(key)
        if self._done[0] != len(history):
            self._done = (len(history), {self._key(a) for a in history.archs()})
        return key in self._done[1]

    # --- ask/tell ---------------------------------------------------------------------------
    def ask(self, history: History) -> list[Arch]:
        space, rng, predictor = self._space, self._rng, self._predictor
        assert space is not None and rng is not None and predictor is not None
        assert self._stream is not None
        cfg = self.config
        if len(history) < cfg.n_init:
            return self._initial(cfg.n_init - len(history), history)

        predictor.fit(history.archs(), history.scores())  # CLF (first time) / refinement
        if not self._population:
            self._population = [o.arch for o in history.top(cfg.population)]

        population = self._population
        fitness = predictor.score(population)
        pool: dict[str, tuple[Arch, float]] = {}
        for arch, fit in zip(population, fitness):
            pool[self._key(arch)] = (arch, float(fit))
        for _ in range(cfg.t_gap):
            children = self._offspring(population, fitness, history)
            if not children:
                break
            child_fit = predictor.score(children)
            for arch, fit in zip(children, child_fit):
                pool[self._key(arch)] = (arch, float(fit))
            merged = population + children
            merged_fit = np.concatenate([fitness, child_fit])
            keep = np.argsort(-merged_fit, kind="stable")[: cfg.population]
            population = [merged[int(i)] for i in keep]
            fitness = merged_fit[keep]
        self._population = population

        open_ = [(a, f) for key, (a, f) in pool.items() if not self._seen(key, history)]
        if not open_:
            return self._fallback(history)
        n_cover = cfg.n_cover if isinstance(space, CellSpace) else 0  # cell spaces only
        order = self._rank([a for a, _ in open_], np.array([f for _, f in open_]))
        chosen = [open_[int(i)][0] for i in order[: cfg.n_infill - cfg.n_explore - n_cover]]
        taken = {self._key(a) for a in chosen}
        if n_cover:
            chosen += self._cover(history, taken)
        if cfg.n_explore:
            chosen += self._explore(history, taken)
        return chosen

    def _initial(self, n: int, history: History) -> list[Arch]:
        """The next ``n`` initial archs not in ``history``: from the balanced design when
        there is one (then, if it runs out, the paired stream), else the paired stream."""
        assert self._space is not None and self._stream is not None
        picks = [a for a in self._design if not history.seen(self._space.canonical(a))][:n]
        if len(picks) < n:
            keys = {self._space.canonical(a) for a in picks}
            extra = self._stream.take(n, history)
            picks += [a for a in extra if self._space.canonical(a) not in keys][: n - len(picks)]
        return picks

    def _rank(self, archs: list[Arch], predicted: np.ndarray) -> np.ndarray:
        """Indices of ``archs`` best first by the acquisition (``predicted``: their scores).

        ``"ucb"`` and ``"thompson"`` standardise each member's scores over ``archs`` (a
        ranking head's scale is arbitrary), then take the mean ``mu`` and std ``sd`` across
        members: ``mu + kappa * sd``, or one draw from ``N(mu, sd^2)`` per arch.
        """
        cfg, rng, predictor = self.config, self._rng, self._predictor
        if cfg.acquisition == "mean":
            return np.argsort(-predicted, kind="stable")
        assert rng is not None and isinstance(predictor, EnsemblePredictor)  # start() checks
        members = predictor.score_members(archs)
        spread = members.std(axis=1, keepdims=True)
        z = (members - members.mean(axis=1, keepdims=True)) / np.where(spread > 0, spread, 1.0)
        mu, sd = z.mean(axis=0), z.std(axis=0)
        value = mu + cfg.kappa * sd if cfg.acquisition == "ucb" else rng.normal(mu, sd)
        return np.argsort(-value, kind="stable")

    def _explore(self, history: History, taken: set[str]) -> list[Arch]:
        """The ``n_explore`` first, by ``_explore_order``, of ``explore_pool`` fresh random archs.

        A small screen keeps these picks close to random: they test regions the evolved
        population has left, which a predictor trained only on its own picks cannot rank.
        """
        space, rng, cfg = self._space, self._rng, self.config
        assert space is not None and rng is not None
        fresh: list[Arch] = []
        for _ in range(cfg.explore_pool):
            arch = draw_new(space, rng, history)
            if arch is None:
                break
            key = self._key(arch)
            if key not in taken and not self._seen(key, history):
                taken.add(key)
                fresh.append(arch)
        if not fresh:
            return []
        return [fresh[int(i)] for i in self._explore_order(fresh)[: cfg.n_explore]]

    def _explore_order(self, fresh: list[Arch]) -> np.ndarray:
        """Indices of the fresh archs, best first: by predicted score."""
        assert self._predictor is not None
        return np.argsort(-self._predictor.score(fresh), kind="stable")

    def _cover(self, history: History, taken: set[str]) -> list[Arch]:
        """``n_cover`` one-edge mutants of the ``cover_parents`` best evaluated archs, each
        putting on an edge the op the evaluated archs have tried there least (ties: the best
        predicted), one pick per (edge, op). Cell spaces only; nothing elsewhere.

        These test, next to the incumbent, exactly the choices a locked-in run never makes
        (e.g. ``skip_connect`` on an edge where every evaluated cell has a convolution).
        """
        space, predictor, cfg = self._space, self._predictor, self.config
        assert isinstance(space, CellSpace) and predictor is not None  # ask() checks
        ops = space.ops_array(history.archs())
        counts = np.stack([np.bincount(ops[:, e], minlength=space.n_ops) for e in range(N_EDGES)])
        cands: list[tuple[int, int, int, Arch]] = []
        keys = set(taken)
        for parent in history.top(cfg.cover_parents):
            for edge in range(N_EDGES):
                for op in range(space.n_ops):
                    if op == parent.arch.ops[edge]:
                        continue
                    child_ops = list(parent.arch.ops)
                    child_ops[edge] = op
                    child = space.make(child_ops)
                    key = self._key(child)
                    if key in keys or self._seen(key, history):
                        continue
                    keys.add(key)
                    cands.append((int(counts[edge, op]), edge, op, child))
        if not cands:
            return []
        predicted = predictor.score([c[3] for c in cands])
        order = sorted(range(len(cands)), key=lambda i: (cands[i][0], -predicted[i], i))
        picks: list[Arch] = []
        pairs: set[tuple[int, int]] = set()
        for i in order:
            count, edge, op, child = cands[i]
            if (edge, op) in pairs:
                continue
            pairs.add((edge, op))
            taken.add(self._key(child))
            picks.append(child)
            if len(picks) == cfg.n_cover:
                break
        return picks

    # --- variation ----------------------------------------------------------------------------
    def _tournament(self, fitness: np.ndarray) -> int:
        assert self._rng is not None
        k = min(self.config.tournament, len(fitness))
        picks = self._rng.choice(len(fitness), size=k, replace=False)
        return int(picks[int(np.argmax(fitness[picks]))])

    def _offspring(
        self, population: list[Arch], fitness: np.ndarray, history: History
    ) -> list[Arch]:
        """Up to ``offspring`` children new to the population, each other and the history."""
        space, rng, cfg, key_of = self._space, self._rng, self.config, self._key
        assert space is not None and rng is not None
        taken = {key_of(a) for a in population}
        children: list[Arch] = []
        for _ in range(cfg.offspring * 20):
            if len(children) >= cfg.offspring:
                break
            a = population[self._tournament(fitness)]
            b = population[self._tournament(fitness)]
            child = space.crossover(a, b, rng) if rng.random() < cfg.p_crossover else a
            key = key_of(child)
            if key in (key_of(a), key_of(b)) or rng.random() < cfg.p_mutation:
                child = space.mutate(child, rng)
                key = key_of(child)
            if key in taken or self._seen(key, history):
                continue
            taken.add(key)
            children.append(child)
        return children
