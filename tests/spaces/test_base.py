"""``Arch``: JSON round trip, key, hashing; every registered space meets the protocol."""

from __future__ import annotations

import json

import pytest

from ecgnas.spaces import get_space
from ecgnas.spaces.base import Arch, SearchSpace
from ecgnas.spaces.registry import SPACE_NAMES


def test_edge_arch_json_and_key() -> None:
    a = Arch("nb201", (3, 1, 0, 2, 4, 1))
    assert a.to_json() == {"space": "nb201", "ops": [3, 1, 0, 2, 4, 1]}
    assert Arch.from_json(json.loads(json.dumps(a.to_json()))) == a
    assert a.key() == "nb201:3,1,0,2,4,1"
    assert len({a, Arch("nb201", (3, 1, 0, 2, 4, 1))}) == 1


def test_vertex_arch_keeps_its_matrix() -> None:
    a = Arch("nb101", (0, 1, 4), ((0, 1, 1), (0, 0, 1), (0, 0, 0)))
    obj = a.to_json()
    assert obj["matrix"] == [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    assert Arch.from_json(obj) == a
    assert a.key() == "nb101:0,1,4:011001000"
    assert a != Arch("nb101", (0, 1, 4))


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_spaces_meet_the_protocol(name: str) -> None:
    space = get_space(name)
    assert isinstance(space, SearchSpace)
