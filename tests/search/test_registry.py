"""The strategy registry: the table, building strategies by name, settings errors, ECG defaults."""

from __future__ import annotations

import pytest

from ecgnas.errors import ConfigError
from ecgnas.predictor.registry import PREDICTOR_NAMES
from ecgnas.search import registry
from ecgnas.search.registry import (
    ALL_STRATEGY_NAMES,
    BENCHMARK_DEFAULT_STRATEGIES,
    PARETO_STRATEGY_NAMES,
    PREDICTOR_STRATEGIES,
    STRATEGY_NAMES,
    make_strategy,
    strategy_entry,
)


def test_make_strategy_rejects_unknown_names_and_settings() -> None:
    with pytest.raises(ConfigError, match="unknown strategy"):
        make_strategy("bogus")
    with pytest.raises(ConfigError, match="bad settings"):
        make_strategy("rea", popsize=3)
    with pytest.raises(ConfigError):
        make_strategy("rea", population=3, sample=5)
    with pytest.raises(ConfigError):
        make_strategy("dcl_enas", p_crossover=1.5)


def test_strategy_table() -> None:
    assert STRATEGY_NAMES == ("dcl_enas", "random", "rea", "npenas", "bananas")
    assert PREDICTOR_STRATEGIES == {"dcl_enas", "npenas", "bananas", "dcl_mo"}
    assert BENCHMARK_DEFAULT_STRATEGIES == ("dcl_enas", "random", "rea", "npenas")
    assert [strategy_entry(n).label for n in STRATEGY_NAMES] == [
        "DCL-ENAS", "Random search", "REA", "NPENAS", "BANANAS",
    ]  # fmt: skip
    # the multi-objective ones need a cost, so they are not single-objective choices
    assert PARETO_STRATEGY_NAMES == ("dcl_mo", "nsga2", "random")
    assert ALL_STRATEGY_NAMES == STRATEGY_NAMES + ("dcl_mo", "nsga2")
    assert [strategy_entry(n).needs_cost for n in PARETO_STRATEGY_NAMES] == [True, True, False]


@pytest.mark.parametrize("name", ["dcl_mo", "nsga2"])
def test_multi_objective_strategies_need_a_cost(name: str) -> None:
    import numpy as np

    with pytest.raises(ConfigError, match="needs a cost objective"):
        make_strategy(name)
    strategy = make_strategy(name, cost=lambda archs: np.zeros(len(archs)))
    assert strategy.name == name
    assert type(strategy) is registry.strategy_class(name)


def test_package_names_are_the_registry() -> None:
    import ecgnas.search

    assert ecgnas.search.STRATEGY_NAMES is STRATEGY_NAMES


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_make_strategy_builds_the_named_class(name: str) -> None:
    import ecgnas.search

    strategy = make_strategy(name)
    assert strategy.name == name
    assert type(strategy) is registry.strategy_class(name)
    assert type(strategy) is type(ecgnas.search.make_strategy(name))
    assert strategy.settings() == ecgnas.search.make_strategy(name).settings()
    settings_cls = registry.settings_class(name)
    assert (settings_cls is None) == (name in ("random", "rea"))
    # a predictor-guided strategy names a registered predictor
    if name in PREDICTOR_STRATEGIES:
        assert strategy.settings()["predictor"] in PREDICTOR_NAMES


def test_make_strategy_errors() -> None:
    with pytest.raises(ConfigError, match="unknown strategy 'nope'; known: dcl_enas, random"):
        make_strategy("nope")
    with pytest.raises(ConfigError, match="bad settings for strategy 'rea'"):
        make_strategy("rea", no_such_setting=1)


def test_ecg_defaults_are_fresh_copies() -> None:
    defaults = registry.ecg_defaults("dcl_enas")
    assert defaults == {"population": 10, "n_init": 10, "offspring": 60, "t_gap": 4, "n_infill": 5}
    defaults["population"] = 1
    assert registry.ecg_defaults("dcl_enas")["population"] == 10
    assert registry.ecg_defaults("bananas") == {}
    make_strategy("dcl_enas", **registry.ecg_defaults("dcl_enas"))  # valid settings
