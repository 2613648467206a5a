"""The joint ECG space: the ecg1d cell plus macro and input choices."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch, SearchSpace
from ecgnas.spaces.ecg1d import ECG1DSpace
from ecgnas.spaces.ecgjoint import MACRO, ECGJointSpace
from ecgnas.spaces.registry import ECG_SPACE_NAMES, get_space

CELL = (5, 0, 0, 4, 6, 3)


def test_protocol_and_sizes() -> None:
    space = get_space("ecgjoint")
    assert isinstance(space, SearchSpace) and "ecgjoint" in ECG_SPACE_NAMES
    assert space.size() == 7**6 * 3 * 2 * 3 * 3 * 3 * 3 * 2 == 114_354_828
    assert space.n_node_types == 8 + 19 and space.path_length == 258 + 19
    with pytest.raises(ConfigError, match="too many to enumerate"):
        space.enumerate()


def test_variation_stays_in_the_space() -> None:
    space = ECGJointSpace()
    rng = np.random.default_rng(0)
    seen_genes = set()
    for _ in range(400):
        a = space.sample(rng)
        m = space.mutate(a, rng)
        assert space.is_valid(a) and space.is_valid(m)
        diff = [i for i, (x, y) in enumerate(zip(a.ops, m.ops)) if x != y]
        assert len(diff) == 1
        seen_genes.add(diff[0])
        c = space.crossover(a, m, rng)
        assert space.is_valid(c) and all(z in (x, y) for x, y, z in zip(a.ops, m.ops, c.ops))
    assert seen_genes == set(range(13))  # edge ops and macro choices both mutate


def test_make_values_and_choices() -> None:
    space = ECGJointSpace()
    arch = space.make(CELL, width=8, cells=2, context="wide", channels="derivative", fs=96)
    assert arch.ops == (*CELL, 1, 1, 0, 2, 1, 0, 0)
    values = space.values(arch)
    assert values == {
        "width": 8,
        "cells": 2,
        "stem_kernel": 3,
        "context": "wide",
        "channels": "derivative",
        "rr": "basic",
        "fs": 96,
    }
    net = space.net_choices(arch)
    assert net.cell == Arch("ecg1d", CELL) and (net.width, net.cells_per_stage) == (8, 2)
    data = space.data_choices(arch)
    # 0.5 s and 0.75 s at 96 Hz
    assert (data.fs, data.window_before, data.window_after) == (96.0, 48, 72)
    assert (data.raw, data.derivative, data.context_beats) == (False, True, 0)
    low = space.data_choices(arch, fs=128)
    assert (low.window_before, low.window_after) == (64, 96)
    both = space.data_choices(
        space.make(CELL, context="neighbours", channels="raw+derivative", fs=128)
    )
    assert (both.raw, both.derivative, both.context_beats) == (True, True, 1)
    assert (both.window_before, both.window_after) == (32, 64)  # the recipe's 128 Hz window
    with pytest.raises(ConfigError, match="unknown macro dimension"):
        space.make(CELL, depth=3)
    with pytest.raises(ConfigError, match="width must be one of"):
        space.make(CELL, width=5)
    with pytest.raises(ConfigError, match="not an ecgjoint arch"):
        space.values(Arch("ecgjoint", CELL))


def test_canonical_is_function_aware_on_the_cell_only() -> None:
    space = ECGJointSpace()
    cell = ECG1DSpace()
    # edge 2 (2<-1) is dead when node 1 receives nothing: changing it keeps the function
    dead_a = space.make((0, 2, 3, 2, 0, 2), width=12)
    dead_b = space.make((0, 2, 5, 2, 0, 2), width=12)
    assert cell.canonical(Arch("ecg1d", dead_a.ops[:6])) == cell.canonical(
        Arch("ecg1d", dead_b.ops[:6])
    )
    assert space.canonical(dead_a) == space.canonical(dead_b)
    assert space.canonical(dead_a) != space.canonical(space.make((0, 2, 3, 2, 0, 2), width=8))


def test_encodings_carry_cell_and_macro() -> None:
    space = ECGJointSpace()
    a = space.make(CELL, width=4, fs=128)
    b = space.make(CELL, width=12, fs=128)
    ga, gb = space.to_graph(a), space.to_graph(b)
    cell_graph = ECG1DSpace().to_graph(Arch("ecg1d", CELL))
    n_cell = cell_graph.x.shape[0]
    assert ga.x.shape == (n_cell + len(MACRO), space.n_node_types)
    assert (ga.x.sum(axis=1) == 1).all()
    assert ga.x[0, 0] == 1 and ga.x[-1, 7] == 1  # input first, output last
    assert not np.array_equal(ga.x, gb.x)
    src, dst = ga.edge_index
    assert (src < dst).all()  # sources before targets
    assert ga.edge_index.shape[1] == cell_graph.edge_index.shape[1] + len(MACRO) + 1
    # every macro node lies on the chain input -> macro nodes -> output
    macro_nodes = set(range(n_cell - 1, n_cell - 1 + len(MACRO)))
    assert macro_nodes <= set(dst.tolist()) and macro_nodes <= set(src.tolist())
    paths = space.path_encoding([a, b])
    assert paths.shape == (2, space.path_length)
    cell_bits = ECG1DSpace().path_encoding([Arch("ecg1d", CELL)])[0]
    assert np.array_equal(paths[0, :258], cell_bits) and np.array_equal(paths[1, :258], cell_bits)
    assert paths[:, 258:].sum(axis=1).tolist() == [len(MACRO), len(MACRO)]
    assert not np.array_equal(paths[0], paths[1])


def test_model_follows_the_macro_choices() -> None:
    import torch

    from ecgnas.spaces.ecg1d_model import count_params
    from ecgnas.train.models import build_ecg_model, default_settings

    space = ECGJointSpace()
    small = space.make(CELL, width=4, cells=1, stem_kernel=3)
    big = space.make(CELL, width=8, cells=2, stem_kernel=15)
    s_small = default_settings(small, n_rr=8, input_len=96, in_channels=2)
    s_big = default_settings(big, n_rr=8, input_len=96, in_channels=2)
    assert (s_small["width"], s_small["cells_per_stage"], s_small["stem_kernel"]) == (4, 1, 3)
    assert (s_big["width"], s_big["cells_per_stage"], s_big["stem_kernel"]) == (8, 2, 15)
    m_small, m_big = build_ecg_model(small, s_small, seed=0), build_ecg_model(big, s_big, seed=0)
    assert count_params(m_big) > count_params(m_small)
    out = m_big(torch.zeros(3, 2, 96), torch.zeros(3, 8))
    assert out.shape == (3, 4)
