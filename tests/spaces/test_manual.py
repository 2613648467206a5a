"""The manual (published-network) space: size, variation, encodings, the model it builds."""

from __future__ import annotations

import numpy as np

from ecgnas.spaces.manual import ManualSpace, build_manual_model


def test_manual_space_contract() -> None:
    space = ManualSpace()
    rng = np.random.default_rng(0)
    assert space.size() == 432 == len(space.enumerate())
    hp = space.decode(space.published())
    assert hp.filters == (5, 10, 20) and hp.dense == (30, 20)
    for _ in range(500):
        a = space.sample(rng)
        m = space.mutate(a, rng)
        assert space.is_valid(m) and sum(x != y for x, y in zip(a.ops, m.ops)) == 1
        c = space.crossover(a, m, rng)
        assert space.is_valid(c)
    enc = space.path_encoding([space.published()])
    assert enc.shape == (1, space.path_length) and enc.sum() == 6
    g = space.to_graph(space.published())
    assert g.x.shape == (8, space.n_node_types) and g.edge_index.shape == (2, 7)
    # the published network is the smallest: more filters mean more parameters
    small = sum(p.numel() for p in build_manual_model(space.published()).parameters())
    big = sum(p.numel() for p in build_manual_model(space.make((3, 0, 0, 0, 0, 0))).parameters())
    assert big > small
