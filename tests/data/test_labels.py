from __future__ import annotations

import numpy as np
import pytest

from ecgnas.data.labels import AAMI_CLASSES, AAMI_MAP, FOUR_CLASSES, aami_indices, resolve_classes
from ecgnas.errors import ConfigError


def test_aami_map_is_ec57() -> None:
    groups: dict[str, set[str]] = {c: set() for c in AAMI_CLASSES}
    for symbol, cls in AAMI_MAP.items():
        groups[cls].add(symbol)
    assert groups == {
        "N": {"N", "L", "R", "e", "j"},
        "S": {"A", "a", "J", "S"},
        "V": {"V", "E"},
        "F": {"F"},
        "Q": {"/", "f", "Q"},
    }
    assert AAMI_CLASSES == ("N", "S", "V", "F", "Q")
    assert FOUR_CLASSES == ("N", "S", "V", "F")


def test_aami_map_is_read_only() -> None:
    with pytest.raises(TypeError):
        AAMI_MAP["!"] = "V"  # type: ignore[index]


def test_aami_indices_and_non_beats() -> None:
    symbols = ["N", "A", "V", "F", "/", "+", "~", "!", "|", "x", '"', "E", "j", "Q"]
    got = aami_indices(symbols)
    assert got.dtype == np.int8
    assert got.tolist() == [0, 1, 2, 3, 4, -1, -1, -1, -1, -1, -1, 2, 0, 4]
    assert aami_indices([]).shape == (0,)


def test_resolve_classes() -> None:
    assert resolve_classes(["v", "N", "S"]) == ("N", "S", "V")
    for bad in (["X"], [], ["N", "N"]):
        with pytest.raises(ConfigError):
            resolve_classes(bad)
