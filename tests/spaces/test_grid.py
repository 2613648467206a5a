"""``GridSpace``: the grid machinery shared by the manual and tiny baselines."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch, SearchSpace
from ecgnas.spaces.grid import GridSpace
from ecgnas.spaces.manual import ManualSpace

#: ``_fingerprint(ManualSpace())`` as computed by ``ManualSpace`` before it became a
#: ``GridSpace`` (commit 47ab8cd): the refactor changed no arch, hash, encoding or draw
MANUAL_FINGERPRINT = "d9545ba336d5267ed2f4548b2be31eea32770777a834cc85956a633ec98bcf99"


def _fingerprint(space: GridSpace) -> str:
    """Every canonical hash and path encoding, some graphs, and a seeded sequence of
    samples, mutations and crossovers, hashed together."""
    h = hashlib.sha256()
    archs = space.enumerate()
    h.update(",".join(space.canonical(a) for a in archs).encode())
    h.update(space.path_encoding(archs).tobytes())
    for a in archs[::37]:
        g = space.to_graph(a)
        h.update(g.x.tobytes() + g.edge_index.tobytes())
    rng = np.random.default_rng(11)
    for _ in range(200):
        a = space.sample(rng)
        b = space.mutate(a, rng)
        h.update((a.key() + b.key() + space.crossover(a, b, rng).key()).encode())
    h.update(repr((space.op_names, space.n_node_types, space.path_length)).encode())
    return h.hexdigest()


def test_manual_space_is_unchanged_by_the_refactor() -> None:
    assert _fingerprint(ManualSpace()) == MANUAL_FINGERPRINT


class _Toy(GridSpace):
    name = "toy"
    dimensions = (("a", (1, 2, 3)), ("b", ("x", "y")))
    published_ops = (2, 0)
    label = "toy"


def test_a_grid_subclass_speaks_the_protocol() -> None:
    space = _Toy()
    assert isinstance(space, SearchSpace)
    assert space.sizes == (3, 2) and space.size() == 6 == len(space.enumerate())
    assert space.op_names == ("a=1", "a=2", "a=3", "b=x", "b=y")
    assert (space.n_node_types, space.path_length) == (7, 5)
    assert space.values(space.published()) == {"a": 3, "b": "x"}
    assert space.path_encoding([space.make((1, 1))]).tolist() == [[0, 1, 0, 0, 1]]
    g = space.to_graph(space.make((0, 1)))
    assert g.x.argmax(axis=1).tolist() == [0, 1, 5, 6]
    assert g.edge_index.tolist() == [[0, 1, 2], [1, 2, 3]]
    assert len({space.canonical(a) for a in space.enumerate()}) == 6
    for bad in ((3, 0), (0,), (0, 0, 0), (-1, 0)):
        assert not space.is_valid(Arch("toy", bad))
        with pytest.raises(ConfigError, match="not a toy configuration"):
            space.make(bad)
    assert not space.is_valid(Arch("manual", (0, 0)))
    with pytest.raises(ConfigError, match="not a toy configuration"):
        space.values(Arch("toy", (5, 5)))


def test_a_grid_needs_dimensions() -> None:
    with pytest.raises(ConfigError, match="no name or no dimensions"):
        GridSpace()
