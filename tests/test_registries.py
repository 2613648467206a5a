"""The name tables: strategies (``ecgnas.search.registry``), predictors, spaces.

Strategy tests live here rather than in ``tests/search/`` while that folder is being
reorganised; move them to ``tests/search/test_registry.py`` at merge.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from ecgnas.errors import ConfigError
from ecgnas.predictor.registry import ENCODERS, PREDICTOR_NAMES, predictor_entry
from ecgnas.search import registry
from ecgnas.search.registry import (
    BENCHMARK_DEFAULT_STRATEGIES,
    PREDICTOR_STRATEGIES,
    STRATEGY_NAMES,
    make_strategy,
    strategy_entry,
)


def test_strategy_table() -> None:
    assert STRATEGY_NAMES == ("dcl_enas", "random", "rea", "npenas", "bananas")
    assert PREDICTOR_STRATEGIES == {"dcl_enas", "npenas", "bananas"}
    assert BENCHMARK_DEFAULT_STRATEGIES == ("dcl_enas", "random", "rea", "npenas")
    assert [strategy_entry(n).label for n in STRATEGY_NAMES] == [
        "DCL-ENAS", "Random search", "REA", "NPENAS", "BANANAS",
    ]  # fmt: skip


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


def test_registries_import_nothing_heavy() -> None:
    code = (
        "import sys; import ecgnas.search.registry, ecgnas.predictor.registry, "
        "ecgnas.spaces.registry; "
        "print(sorted(m for m in ('torch', 'optuna', "
        "'ecgnas.predictor.variants', 'ecgnas.spaces.nb101') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_predictor_table_matches_the_variants() -> None:
    from ecgnas.predictor.finetune import CLFSettings
    from ecgnas.predictor.variants import VARIANTS

    assert tuple(VARIANTS) == PREDICTOR_NAMES
    assert PREDICTOR_NAMES[0] == "dcl"
    for name in PREDICTOR_NAMES:
        entry = predictor_entry(name)
        assert entry.encoder in ENCODERS
        assert VARIANTS[name].clf == CLFSettings(**entry.clf)
        assert VARIANTS[name].pretrained == entry.pretrained
    assert VARIANTS["dcl"].clf == CLFSettings(
        loss="rank", steps=300, lr=3e-3, encoder_lr_scale=0.0, members=1
    )
    with pytest.raises(ConfigError, match="unknown predictor 'x'; known: dcl, clf_only"):
        predictor_entry("x")


@pytest.mark.parametrize(
    "package", ["ecgnas.predictor", "ecgnas.benchmarks", "ecgnas.spaces", "ecgnas.cli"]
)
def test_package_contract_names_resolve(package: str) -> None:
    import importlib

    module = importlib.import_module(package)
    assert module.__all__
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"


def test_light_packages_stay_light() -> None:
    code = (
        "import sys, ecgnas.predictor, ecgnas.benchmarks; "
        "print([m for m in ('torch', 'ecgnas.search', 'ecgnas.benchmarks.harness') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
