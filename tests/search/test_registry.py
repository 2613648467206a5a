"""The strategy registry: unknown names and bad settings are ``ConfigError``."""

from __future__ import annotations

import pytest

from ecgnas.errors import ConfigError
from ecgnas.search import (
    make_strategy,
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
