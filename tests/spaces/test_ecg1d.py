"""The ECG 1-D space: its ops, and canonical forms that build the same network."""

from __future__ import annotations

import pytest

from ecgnas.spaces.ecg1d import ECG1D_OPS, OP_SPECS, ECG1DSpace

SPACE = ECG1DSpace()


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # torch on one thread


def test_space_has_the_required_ops() -> None:
    assert SPACE.name == "ecg1d"
    assert SPACE.size() == 7**6 == 117_649
    assert SPACE.n_node_types == 8 and SPACE.path_length == 6 + 36 + 216
    kinds = [OP_SPECS[n].kind for n in ECG1D_OPS]
    assert {"none", "skip", "avg_pool"} <= set(kinds)
    conv_fields = {
        OP_SPECS[n].receptive_field for n in ECG1D_OPS if OP_SPECS[n].kind.endswith("conv")
    }
    assert conv_fields == {3, 9, 15, 17}
    assert OP_SPECS["dil_conv_k5_d4"].receptive_field == 17
    assert [s.kind for s in SPACE.op_specs] == kinds


def test_canonical_collapses_dead_edges_and_builds_the_same_network() -> None:
    from ecgnas.spaces.base import Arch
    from ecgnas.spaces.cell import effective_ops
    from ecgnas.spaces.ecg1d import ECG1DSpace
    from ecgnas.spaces.ecg1d_model import build_model, count_params

    space = ECG1DSpace()
    # node 1 receives nothing (edge 0 is none), so edges 2 and 4 (out of node 1) are dead
    a = Arch("ecg1d", (0, 6, 3, 6, 2, 3))
    b = Arch("ecg1d", (0, 6, 0, 6, 5, 3))
    assert effective_ops(a.ops) == effective_ops(b.ops) == (0, 6, 0, 6, 0, 3)
    assert space.canonical(a) == space.canonical(b)
    assert count_params(build_model(a, seed=0)) == count_params(build_model(b, seed=0))
    # a live edge changes the hash
    assert space.canonical(Arch("ecg1d", (0, 6, 0, 6, 0, 2))) != space.canonical(a)
    distinct = {space.canonical(x) for x in space.enumerate()}
    assert len(distinct) == 83_671
