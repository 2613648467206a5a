"""Baseline strategies in the same ask/tell framework: random search, REA, NPENAS, BANANAS.

Every method that starts from random archs draws them from the paired initial-sample stream
(``ecgnas.search.base.InitialSample``), so for one seed random search's first archs, REA's
initial population and NPENAS's (and DCL-ENAS's) initial sample are the same archs.

* ``RandomSearch``: the initial-sample stream, one new arch per round.
* ``RegularizedEvolution`` (REA, Real et al., AAAI 2019): the population is the ``population``
  most recently evaluated archs (the first ``population`` are the initial random sample);
  each round draws ``sample`` members at random, mutates the best of them once, and the
  child is evaluated, which ages out the oldest member. Defaults P = 20, S = 10: the best
  of five (P, S) pairs on NB201 at budget 100 (``reports/search_tuning.md``). A child already evaluated is
  re-drawn (up to 100 times, then a random arch), so no query is spent twice.
* ``NPENAS`` (Wei et al., IEEE TNNLS 2022, the NPENAS-NP variant): a GIN regression
  predictor trained with MSE on every evaluated arch (``make_predictor("gin_mse", ...)``);
  candidates are mutations of the ``n_parents`` best evaluated archs (``n_candidates`` new
  archs in all, round-robin over the parents); the ``batch`` best-predicted candidates are
  evaluated, then the predictor is retrained.
* ``BANANAS`` (White, Neiswanger, Savani, AAAI 2021): an ensemble of ``members`` MLPs on the
  path encoding trained with MSE (``make_predictor("path_mlp", ...)``, one seed each); the
  same mutation candidates as NPENAS; the ``batch`` candidates are chosen by independent
  Thompson sampling (each candidate's value drawn from a normal with the ensemble's mean and
  standard deviation), the paper's default acquisition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ecgnas.errors import ConfigError
from ecgnas.predictor.base import Predictor
from ecgnas.search.base import (
    History,
    InitialSample,
    Observation,
    draw_new,
    seed_streams,
)
from ecgnas.spaces.base import Arch, SearchSpace

#: builds the predictor of a run: ``factory(space, seed) -> Predictor``
PredictorFactory = Callable[[SearchSpace, int], Predictor]


def named_predictor(name: str, **settings: Any) -> PredictorFactory:
    """A factory calling ``ecgnas.predictor.variants.make_predictor(name, space, seed, **settings)``
    (imported when first called, so this module stays light)."""

    def factory(space: SearchSpace, seed: int) -> Predictor:
        from ecgnas.predictor.variants import make_predictor

        return make_predictor(name, space, seed, **settings)

    return factory


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")


class RandomSearch:
    """Uniform random search (the paired initial-sample stream), ``batch`` archs per round."""

    name = "random"

    def __init__(self, batch: int = 10) -> None:
        _positive("batch", batch)
        self.batch = batch
        self._stream: InitialSample | None = None

    def settings(self) -> dict[str, Any]:
        return {"batch": self.batch}

    def start(self, space: SearchSpace, seed: int) -> None:
        self._stream = InitialSample(space, seed)

    def ask(self, history: History) -> list[Arch]:
        assert self._stream is not None, "start() first"
        return self._stream.take(self.batch, history)

    def tell(self, history: History, new: Sequence[Observation]) -> None:
        pass


class RegularizedEvolution:
    """REA (aging evolution): population ``population``, tournament sample ``sample``."""

    name = "rea"

    def __init__(self, population: int = 20, sample: int = 10) -> None:
        _positive("population", population)
        _positive("sample", sample)
        if sample > population:
            raise ConfigError(f"sample ({sample}) cannot exceed population ({population})")
        self.population = population
        self.sample = sample
        self._space: SearchSpace | None = None
        self._stream: InitialSample | None = None
        self._rng: np.random.Generator | None = None

    def settings(self) -> dict[str, Any]:
        return {"population": self.population, "sample": self.sample}

    def start(self, space: SearchSpace, seed: int) -> None:
        self._space = space
        self._stream = InitialSample(space, seed)
        self._rng = seed_streams(seed, 2)[1]

    def ask(self, history: History) -> list[Arch]:
        assert self._space is not None and self._stream is not None and self._rng is not None
        if len(history) < self.population:
            return self._stream.take(self.population - len(history), history)
        members = [history[i] for i in range(len(history) - self.population, len(history))]
        for _ in range(100):
            picks = self._rng.choice(len(members), size=self.sample, replace=False)
            parent = max((members[int(i)] for i in picks), key=lambda o: o.score)
            child = self._space.mutate(parent.arch, self._rng)
            if not history.seen(self._space.canonical(child)):
                return [child]
        fallback = draw_new(self._space, self._rng, history)
        return [] if fallback is None else [fallback]

    def tell(self, history: History, new: Sequence[Observation]) -> None:
        pass


@dataclass(frozen=True)
class NPENASSettings:
    """NPENAS settings (see the module docstring)."""

    n_init: int = 20
    batch: int = 10
    n_parents: int = 10
    n_candidates: int = 100
    predictor: str = "gin_mse"
    predictor_settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("n_init", "batch", "n_parents", "n_candidates"):
            _positive(name, getattr(self, name))


class PredictorGuided:
    """What the predictor-guided strategies (NPENAS, DCL-ENAS) share: settings, a predictor
    made by a factory for the space and seed, the paired initial sample, and a variation
    generator drawn from the run seed's stream ``_rng_stream`` of ``_n_streams``."""

    name = ""
    settings_class: type = object
    _n_streams = 2
    _rng_stream = 1

    def __init__(
        self, settings: Any | None = None, predictor_factory: PredictorFactory | None = None
    ) -> None:
        self.config = settings or self.settings_class()
        self._factory = predictor_factory or named_predictor(
            self.config.predictor, **self.config.predictor_settings
        )
        self._space: SearchSpace | None = None
        self._stream: InitialSample | None = None
        self._rng: np.random.Generator | None = None
        self._predictor: Predictor | None = None

    def settings(self) -> dict[str, Any]:
        return asdict(self.config)

    def start(self, space: SearchSpace, seed: int) -> None:
        self._space = space
        self._stream = InitialSample(space, seed)
        self._rng = seed_streams(seed, self._n_streams)[self._rng_stream]
        self._predictor = self._factory(space, seed)

    def _fallback(self, history: History) -> list[Arch]:
        """One fresh random arch (when variation found nothing new), or none left."""
        assert self._space is not None and self._rng is not None
        arch = draw_new(self._space, self._rng, history)
        return [] if arch is None else [arch]

    def tell(self, history: History, new: Sequence[Observation]) -> None:
        pass  # the predictor is refitted at the next ask, on the whole history


class NPENAS(PredictorGuided):
    """NPENAS-NP: predictor-guided mutation of the best evaluated archs."""

    name = "npenas"
    settings_class = NPENASSettings

    def ask(self, history: History) -> list[Arch]:
        space, rng, predictor = self._space, self._rng, self._predictor
        assert space is not None and rng is not None and predictor is not None
        assert self._stream is not None
        if len(history) < self.config.n_init:
            return self._stream.take(self.config.n_init - len(history), history)
        predictor.fit(history.archs(), history.scores())
        parents = history.top(self.config.n_parents)
        candidates = mutants(
            space, [p.arch for p in parents], self.config.n_candidates, rng, history
        )
        if not candidates:
            return self._fallback(history)
        predicted = predictor.score(candidates)
        order = np.argsort(-predicted, kind="stable")[: self.config.batch]
        return [candidates[int(i)] for i in order]


@dataclass(frozen=True)
class BANANASSettings(NPENASSettings):
    """BANANAS settings: NPENAS's candidates and batch, an ensemble of ``members`` MLPs."""

    members: int = 5
    predictor: str = "path_mlp"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.members < 2:
            raise ConfigError(f"BANANAS members must be at least 2, got {self.members}")


class BANANAS(PredictorGuided):
    """BANANAS: a path-encoding MLP ensemble, mutation candidates, Thompson sampling."""

    name = "bananas"
    settings_class = BANANASSettings

    def start(self, space: SearchSpace, seed: int) -> None:
        super().start(space, seed)
        base = self._predictor
        assert base is not None  # made by PredictorGuided.start
        # the ensemble: the base predictor and members - 1 more, each with its own seed
        self._members: list[Predictor] = [base] + [
            self._factory(space, seed * 1009 + k) for k in range(1, self.config.members)
        ]

    def ask(self, history: History) -> list[Arch]:
        space, rng = self._space, self._rng
        assert space is not None and rng is not None and self._stream is not None
        cfg = self.config
        if len(history) < cfg.n_init:
            return self._stream.take(cfg.n_init - len(history), history)
        parents = [p.arch for p in history.top(cfg.n_parents)]
        candidates = mutants(space, parents, cfg.n_candidates, rng, history)
        if not candidates:
            return self._fallback(history)
        preds = []
        for member in self._members:
            member.fit(history.archs(), history.scores())
            preds.append(member.score(candidates))
        stack = np.stack(preds)
        draw = rng.normal(stack.mean(axis=0), stack.std(axis=0))
        order = np.argsort(-draw, kind="stable")[: cfg.batch]
        return [candidates[int(i)] for i in order]


def mutants(
    space: SearchSpace,
    parents: Sequence[Arch],
    n: int,
    rng: np.random.Generator,
    history: History,
    max_tries_factor: int = 20,
) -> list[Arch]:
    """Up to ``n`` distinct, not-yet-evaluated mutants of ``parents`` (round-robin)."""
    out: list[Arch] = []
    keys: set[str] = set()
    tries = 0
    while len(out) < n and tries < n * max_tries_factor:
        parent = parents[tries % len(parents)]
        tries += 1
        child = space.mutate(parent, rng)
        key = space.canonical(child)
        if key in keys or history.seen(key):
            continue
        keys.add(key)
        out.append(child)
    return out
