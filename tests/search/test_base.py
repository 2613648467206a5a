"""Search basics: ``History`` order and de-duplication, the paired ``InitialSample``."""

from __future__ import annotations

import pytest

from ecgnas.search import (
    History,
    Observation,
)
from ecgnas.search.base import InitialSample
from ecgnas.testing import toy_space


def test_history_orders_and_deduplicates() -> None:
    from ecgnas.spaces.base import Arch

    h = History()
    for i, s in enumerate([3.0, 5.0, 5.0, 1.0]):
        h.add(Observation(Arch("toy", (i,) * 6), f"k{i}", s, 2.0))
    with pytest.raises(ValueError):
        h.add(Observation(Arch("toy", (0,) * 6), "k0", 9.0, 1.0))
    h.charge(1.5)
    assert h.best().canonical == "k1"  # earliest of the tied best
    assert [o.canonical for o in h.top(3)] == ["k1", "k2", "k0"]
    assert h.seconds == pytest.approx(9.5) and len(h) == 4 and h.seen("k3")


def test_initial_sample_take_skips_evaluated_and_is_stable() -> None:
    from ecgnas.search import History, Observation

    space = toy_space(3)
    stream = InitialSample(space, 0)
    h = History()
    first = stream.take(5, h)
    h.add(Observation(first[2], space.canonical(first[2]), 1.0, 0.0))
    again = InitialSample(space, 0).take(5, h)
    assert again[:2] == first[:2] and again[2:4] == first[3:5] and len(again) == 5
