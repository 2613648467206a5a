"""AAMI EC57 beat classes and the one map from MIT-BIH annotation symbols to them.

Class order is fixed: ``N, S, V, F, Q`` with indices ``0..4`` (``AAMI_CLASSES``). A symbol
that is not a key of ``AAMI_MAP`` (rhythm changes ``+``, noise ``~``, comments ``"``, flutter
waves ``!``, ...) is not a beat: it is never windowed, labelled or used for RR intervals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import MappingProxyType
from typing import Final

import numpy as np

from ecgnas.errors import ConfigError

AAMI_CLASSES: Final[tuple[str, ...]] = ("N", "S", "V", "F", "Q")
"""The five AAMI classes in index order (``y == 0`` is ``N``)."""

AAMI_MAP: Final = MappingProxyType(
    {
        # N: normal and bundle-branch-block beats, atrial and nodal escape beats
        "N": "N",
        "L": "N",
        "R": "N",
        "e": "N",
        "j": "N",
        # S: supraventricular ectopic beats
        "A": "S",
        "a": "S",
        "J": "S",
        "S": "S",
        # V: ventricular ectopic beats
        "V": "V",
        "E": "V",
        # F: fusion of ventricular and normal beats
        "F": "F",
        # Q: paced, fusion of paced and normal, unclassifiable
        "/": "Q",
        "f": "Q",
        "Q": "Q",
    }
)
"""MIT-BIH beat symbol -> AAMI class letter (AAMI EC57). Every other symbol is not a beat."""

FOUR_CLASSES: Final[tuple[str, ...]] = ("N", "S", "V", "F")
"""The class set most papers report (``Q`` dropped)."""


def resolve_classes(classes: Iterable[str]) -> tuple[str, ...]:
    """Validate a class set: a non-empty subset of ``AAMI_CLASSES``, returned in AAMI order.

    Raises ``ConfigError`` for an unknown class letter, a duplicate or an empty set.
    """
    wanted = [str(c).upper() for c in classes]
    unknown = sorted(set(wanted) - set(AAMI_CLASSES))
    if unknown:
        raise ConfigError(
            f"unknown AAMI class(es) {', '.join(unknown)} (known: {', '.join(AAMI_CLASSES)})"
        )
    if len(set(wanted)) != len(wanted):
        raise ConfigError(f"duplicate AAMI class in {', '.join(wanted)}")
    if not wanted:
        raise ConfigError("the class set is empty")
    return tuple(c for c in AAMI_CLASSES if c in wanted)


def aami_indices(symbols: Sequence[str]) -> np.ndarray:
    """AAMI class index (0..4) of each annotation symbol, ``-1`` for non-beat symbols.

    Returns an ``int8`` array of the same length as ``symbols``.
    """
    index = {sym: AAMI_CLASSES.index(cls) for sym, cls in AAMI_MAP.items()}
    return np.fromiter((index.get(s, -1) for s in symbols), dtype=np.int8, count=len(symbols))
