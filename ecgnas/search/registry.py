"""Search strategies by name: the one table every list of strategies reads.

``make_strategy(name, predictor_factory=None, cost=None, **settings)`` builds one;
``STRATEGY_NAMES`` lists the single-objective ones (they need only the search signal) in the
order the CLI and the reports show them, ``PARETO_STRATEGY_NAMES`` those the multi-objective
benchmark runs (the ones that need a cost function first, then random search);
``strategy_entry(name)`` says what a name is (its class, its settings class, whether it
builds a predictor or needs a cost, its label, its help line and its settings for the ECG
search). Nothing is imported until a strategy is built, as in ``ecgnas.spaces.registry``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ecgnas.errors import ConfigError

if TYPE_CHECKING:
    from ecgnas.search.base import Strategy
    from ecgnas.search.baselines import PredictorFactory
    from ecgnas.search.pareto import CostFunction


def _frozen(values: dict[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True)
class StrategyEntry:
    """One strategy of the table.

    target:
        ``"module:Class"`` of the strategy.
    settings:
        ``"module:Class"`` of its frozen settings dataclass, built from the keyword settings
        and passed to the strategy with the predictor factory; ``None`` when the strategy
        takes its settings as keyword arguments (and no predictor).
    uses_predictor:
        Whether it builds a predictor (torch), so callers can warm or pin threads first.
    label / help:
        The name reports print, and one line for ``--help``.
    benchmark_default:
        Whether ``ecgnas benchmark nb201|nb101`` runs it without ``--methods``.
    needs_cost:
        Whether it is multi-objective and needs a cost function (``make_strategy(cost=...)``);
        such a strategy is not in ``STRATEGY_NAMES`` (single-objective searches).
    pareto:
        Whether ``ecgnas benchmark pareto`` can run it (it needs a cost, or ignores it).
    ecg_defaults:
        Settings for the ECG search, where one evaluation costs minutes of training
        (``ECGSearchSettings.strategy`` overrides them).
    """

    name: str
    target: str
    settings: str | None
    uses_predictor: bool
    label: str
    help: str
    benchmark_default: bool = True
    needs_cost: bool = False
    pareto: bool = False
    ecg_defaults: Mapping[str, Any] = field(default_factory=_frozen)


_STRATEGIES: dict[str, StrategyEntry] = {
    entry.name: entry
    for entry in (
        StrategyEntry(
            "dcl_enas",
            "ecgnas.search.dcl_enas:DCLENAS",
            "ecgnas.search.dcl_enas:DCLENASSettings",
            uses_predictor=True,
            label="DCL-ENAS",
            help="evolution guided by the dual-contrastive predictor (the method)",
            ecg_defaults=_frozen(
                {"population": 10, "n_init": 10, "offspring": 60, "t_gap": 4, "n_infill": 5}
            ),
        ),
        StrategyEntry(
            "random",
            "ecgnas.search.baselines:RandomSearch",
            None,
            uses_predictor=False,
            label="Random search",
            help="uniform random search",
            pareto=True,
        ),
        StrategyEntry(
            "rea",
            "ecgnas.search.baselines:RegularizedEvolution",
            None,
            uses_predictor=False,
            label="REA",
            help="regularized (aging) evolution",
        ),
        StrategyEntry(
            "npenas",
            "ecgnas.search.baselines:NPENAS",
            "ecgnas.search.baselines:NPENASSettings",
            uses_predictor=True,
            label="NPENAS",
            help="mutation guided by a GIN regression predictor",
        ),
        StrategyEntry(
            "bananas",
            "ecgnas.search.baselines:BANANAS",
            "ecgnas.search.baselines:BANANASSettings",
            uses_predictor=True,
            label="BANANAS",
            help="path-encoding MLP ensemble with Thompson sampling",
            # added after the benchmark tables were run with the four others
            benchmark_default=False,
        ),
        StrategyEntry(
            "dcl_mo",
            "ecgnas.search.multiobjective:DCLMO",
            "ecgnas.search.multiobjective:DCLMOSettings",
            uses_predictor=True,
            label="DCL-MO",
            help="multi-objective DCL-ENAS: predicted accuracy vs a cost, Pareto infill",
            benchmark_default=False,
            needs_cost=True,
            pareto=True,
            # dcl_enas's ECG settings (an evaluation costs minutes of training)
            ecg_defaults=_frozen(
                {"population": 10, "n_init": 10, "offspring": 60, "t_gap": 4, "n_infill": 5}
            ),
        ),
        StrategyEntry(
            "nsga2",
            "ecgnas.search.nsga2:NSGA2",
            "ecgnas.search.nsga2:NSGA2Settings",
            uses_predictor=False,
            label="NSGA-II",
            help="Optuna's NSGA-II sampler on (accuracy, cost)",
            benchmark_default=False,
            needs_cost=True,
            pareto=True,
        ),
    )
}

#: the single-objective strategy names (the search signal only), the method first
STRATEGY_NAMES: tuple[str, ...] = tuple(
    name for name, entry in _STRATEGIES.items() if not entry.needs_cost
)
#: what ``ecgnas benchmark pareto`` can run: the multi-objective ones (the method first), then
#: the single-objective ones that ignore the cost (random search)
PARETO_STRATEGY_NAMES: tuple[str, ...] = tuple(
    name for name, entry in _STRATEGIES.items() if entry.pareto and entry.needs_cost
) + tuple(name for name, entry in _STRATEGIES.items() if entry.pareto and not entry.needs_cost)
#: every strategy name, single- and multi-objective
ALL_STRATEGY_NAMES: tuple[str, ...] = tuple(_STRATEGIES)
#: the strategies that build a predictor (torch)
PREDICTOR_STRATEGIES: frozenset[str] = frozenset(
    name for name, entry in _STRATEGIES.items() if entry.uses_predictor
)
#: what ``ecgnas benchmark nb201|nb101`` runs without ``--methods``
BENCHMARK_DEFAULT_STRATEGIES: tuple[str, ...] = tuple(
    name for name, entry in _STRATEGIES.items() if entry.benchmark_default
)


def strategy_entry(name: str) -> StrategyEntry:
    """The table entry of ``name`` (``ConfigError`` listing the known names if unknown)."""
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}; known: {', '.join(ALL_STRATEGY_NAMES)}"
        ) from None


def _load(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def strategy_class(name: str) -> type:
    """The strategy class of ``name`` (imports its module)."""
    cls: type = _load(strategy_entry(name).target)
    return cls


def settings_class(name: str) -> type | None:
    """The settings dataclass of ``name``, or ``None`` for keyword-argument strategies."""
    entry = strategy_entry(name)
    if entry.settings is None:
        return None
    cls: type = _load(entry.settings)
    return cls


def ecg_defaults(name: str) -> dict[str, Any]:
    """A fresh copy of the ECG-search settings of ``name`` (``{}`` for most strategies)."""
    return dict(strategy_entry(name).ecg_defaults)


def make_strategy(
    name: str,
    predictor_factory: PredictorFactory | None = None,
    cost: CostFunction | None = None,
    **settings: Any,
) -> Strategy:
    """A strategy by name with its settings (``ConfigError`` for an unknown name or setting,
    or for a multi-objective strategy without ``cost``).

    ``predictor_factory`` replaces the named predictor of the predictor-based strategies
    (tests use a tiny one); it is ignored by the others. ``cost`` is the cost objective of
    the multi-objective strategies (``needs_cost``); the others ignore it.
    """
    entry = strategy_entry(name)
    if entry.needs_cost and cost is None:
        raise ConfigError(
            f"strategy {name!r} is multi-objective and needs a cost objective "
            "(run it with `ecgnas benchmark pareto` or `ecgnas search --objectives`)"
        )
    cls = strategy_class(name)
    try:
        if entry.settings is None:
            strategy: Strategy = cls(**settings)
        elif entry.needs_cost:
            strategy = cls(_load(entry.settings)(**settings), predictor_factory, cost)
        else:
            strategy = cls(_load(entry.settings)(**settings), predictor_factory)
    except TypeError as exc:
        raise ConfigError(f"bad settings for strategy {name!r}: {exc}") from exc
    return strategy


__all__ = [
    "ALL_STRATEGY_NAMES",
    "BENCHMARK_DEFAULT_STRATEGIES",
    "PARETO_STRATEGY_NAMES",
    "PREDICTOR_STRATEGIES",
    "STRATEGY_NAMES",
    "StrategyEntry",
    "ecg_defaults",
    "make_strategy",
    "settings_class",
    "strategy_class",
    "strategy_entry",
]
