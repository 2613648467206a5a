"""``CellSpace`` (shared by nb201 and ecg1d): variation operators and both encodings."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch
from ecgnas.spaces.cell import EDGES, ROUTES, CellSpace
from ecgnas.spaces.ecg1d import ECG1DSpace
from ecgnas.spaces.encodings import graph_batch, path_matrix, stack_graphs
from ecgnas.spaces.nb201 import NB201Space

SPACES = [NB201Space, ECG1DSpace]
N_DRAWS = 5_000


@pytest.fixture(params=SPACES, ids=lambda cls: cls.__name__)
def space(request: pytest.FixtureRequest) -> CellSpace:
    return request.param()


# --- validity and variation -------------------------------------------------------------------


def test_sample_is_valid_and_covers_every_op_on_every_edge(space: CellSpace) -> None:
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(N_DRAWS)]
    assert all(space.is_valid(a) for a in archs)
    ops = space.ops_array(archs)
    for edge in range(len(EDGES)):
        counts = np.bincount(ops[:, edge], minlength=space.n_ops)
        expected = N_DRAWS / space.n_ops
        # uniform draws: every op within 20 % of its expected count
        assert counts.min() > 0.8 * expected and counts.max() < 1.2 * expected


def test_mutate_changes_exactly_one_edge_and_stays_valid(space: CellSpace) -> None:
    rng = np.random.default_rng(1)
    changed_edges = np.zeros(len(EDGES), dtype=int)
    for _ in range(N_DRAWS):
        parent = space.sample(rng)
        child = space.mutate(parent, rng)
        assert space.is_valid(child)
        diff = [e for e in range(len(EDGES)) if parent.ops[e] != child.ops[e]]
        assert len(diff) == 1
        if space.name == "nb201":  # one hash per cell; ecg1d may collapse dead-edge changes
            assert space.canonical(child) != space.canonical(parent)
        changed_edges[diff[0]] += 1
    assert (changed_edges > 0).all()  # every edge gets mutated


def test_crossover_child_is_valid_and_inherits_each_edge(space: CellSpace) -> None:
    rng = np.random.default_rng(2)
    mixed = 0
    for _ in range(N_DRAWS):
        a, b = space.sample(rng), space.sample(rng)
        child = space.crossover(a, b, rng)
        assert space.is_valid(child)
        assert all(c in (x, y) for c, x, y in zip(child.ops, a.ops, b.ops))
        mixed += child != a and child != b
    assert mixed > N_DRAWS // 2  # uniform crossover mostly yields a new cell


def test_variation_is_deterministic_for_a_seed(space: CellSpace) -> None:
    def run(seed: int) -> list[Arch]:
        rng = np.random.default_rng(seed)
        a = space.sample(rng)
        b = space.mutate(a, rng)
        return [a, b, space.crossover(a, b, rng)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_invalid_archs_are_rejected(space: CellSpace) -> None:
    assert not space.is_valid(Arch(space.name, (0,) * 5))
    assert not space.is_valid(Arch(space.name, (0, 0, 0, 0, 0, space.n_ops)))
    assert not space.is_valid(Arch("other", (0,) * 6))
    with pytest.raises(ConfigError):
        space.make((0, 0, 0, 0, 0, -1))
    with pytest.raises(ConfigError, match="must contain 'none'"):
        CellSpace("bad", ("a", "b"))


def test_size_and_enumeration_order(space: CellSpace) -> None:
    assert space.size() == space.n_ops**6
    archs = space.enumerate()
    assert len(archs) == space.size() == len(set(archs))
    # enumeration is op-code order, edge 0 most significant
    powers = space.n_ops ** np.arange(5, -1, -1)
    assert np.array_equal(space.ops_array(archs) @ powers, np.arange(space.size()))


# --- graph encoding, hand-checked ---------------------------------------------------------------


def _op(space: CellSpace, *names: str) -> int:
    """The first op of ``space`` among ``names``."""
    return next(space.op_names.index(n) for n in names if n in space.op_names)


def test_graph_of_the_empty_cell_is_input_and_output_only(space: CellSpace) -> None:
    g = space.to_graph(space.make((space.none_index,) * 6))
    assert g.x.shape == (2, space.n_node_types)
    assert g.x[0, 0] == 1 and g.x[1, -1] == 1 and g.x.sum() == 2
    assert g.edge_index.shape == (2, 0)


def test_graph_of_a_single_input_to_output_edge(space: CellSpace) -> None:
    conv = _op(space, "nor_conv_3x3", "conv_k3")
    ops = [space.none_index] * 6
    ops[3] = conv  # edge 0 -> 3
    g = space.to_graph(space.make(ops))
    assert g.x.shape == (3, space.n_node_types)
    assert g.x[1].argmax() == 1 + space._op_rank[conv]
    assert g.edge_index.tolist() == [[0, 1], [1, 2]]


def test_graph_of_the_full_chain(space: CellSpace) -> None:
    a = _op(space, "nor_conv_1x1", "conv_k9")
    b = _op(space, "avg_pool_3x3", "avg_pool_k3")
    c = _op(space, "skip_connect")
    ops = [space.none_index] * 6
    ops[0], ops[2], ops[5] = a, b, c  # 0 -> 1 -> 2 -> 3
    g = space.to_graph(space.make(ops))
    assert g.x.shape == (5, space.n_node_types)
    assert [int(row.argmax()) for row in g.x] == [
        0,
        1 + space._op_rank[a],
        1 + space._op_rank[b],
        1 + space._op_rank[c],
        space.n_node_types - 1,
    ]
    assert sorted(map(tuple, g.edge_index.T.tolist())) == [(0, 1), (1, 2), (2, 3), (3, 4)]


def test_graph_of_the_full_cell(space: CellSpace) -> None:
    conv = _op(space, "nor_conv_3x3", "conv_k3")
    g = space.to_graph(space.make((conv,) * 6))
    # op nodes 1..6 are edges e0..e5; 7 is the output
    expected = {
        (0, 1), (0, 2), (0, 4),  # input -> edges leaving node 0
        (1, 3), (1, 5),  # e0 (0->1) -> e2 (1->2), e4 (1->3)
        (2, 6), (3, 6),  # e1 (0->2), e2 (1->2) -> e5 (2->3)
        (4, 7), (5, 7), (6, 7),  # edges into node 3 -> output
    }  # fmt: skip
    assert set(map(tuple, g.edge_index.T.tolist())) == expected
    assert g.edge_index.shape[1] == len(expected)


def test_graph_is_topological_cached_and_typed(space: CellSpace) -> None:
    rng = np.random.default_rng(3)
    for _ in range(500):
        arch = space.sample(rng)
        g = space.to_graph(arch)
        n_live = sum(o != space.none_index for o in arch.ops)
        assert g.x.dtype == np.float32 and g.edge_index.dtype == np.int64
        assert g.x.shape == (n_live + 2, space.n_node_types)
        assert (g.x.sum(axis=1) == 1).all()
        assert (g.edge_index[0] < g.edge_index[1]).all()
        assert space.to_graph(arch) is g


# --- path encoding, hand-checked and against a slow reference -----------------------------------


def _reference_paths(space: CellSpace, arch: Arch) -> np.ndarray:
    """The path encoding spelt out: look each route's op-name sequence up in the template."""
    template = {seq: i for i, seq in enumerate(space.path_template())}
    out = np.zeros(space.path_length, dtype=np.uint8)
    for route in ROUTES:
        names = tuple(space.op_names[arch.ops[e]] for e in route)
        if "none" not in names:
            out[template[names]] = 1
    return out


def test_path_template_is_all_op_sequences_up_to_three(space: CellSpace) -> None:
    k = space.n_ops - 1
    template = space.path_template()
    assert len(template) == space.path_length == k + k**2 + k**3
    assert len(set(template)) == len(template)
    assert all("none" not in seq for seq in template)


def test_path_encoding_hand_checked(space: CellSpace) -> None:
    template = space.path_template()
    conv = _op(space, "nor_conv_3x3", "conv_k3")
    name = space.op_names[conv]
    empty = space.make((space.none_index,) * 6)
    full = space.make((conv,) * 6)
    single = [space.none_index] * 6
    single[3] = conv
    enc = space.path_encoding([empty, full, space.make(single)])
    assert enc.dtype == np.uint8 and enc.shape == (3, space.path_length)
    assert enc[0].sum() == 0
    # four routes; the two length-2 routes give the same op sequence
    assert [template[i] for i in np.flatnonzero(enc[1])] == [(name,), (name,) * 2, (name,) * 3]
    assert [template[i] for i in np.flatnonzero(enc[2])] == [(name,)]


def test_path_encoding_matches_reference(space: CellSpace) -> None:
    rng = np.random.default_rng(4)
    archs = [space.sample(rng) for _ in range(2_000)]
    enc = space.path_encoding(archs)
    ref = np.stack([_reference_paths(space, a) for a in archs])
    assert np.array_equal(enc, ref)
    assert np.array_equal(space.path_encoding(archs), enc)  # deterministic
    mat = path_matrix(space, archs[:10])
    assert mat.dtype.is_floating_point and mat.shape == (10, space.path_length)


def test_path_encoding_of_no_archs(space: CellSpace) -> None:
    assert space.path_encoding([]).shape == (0, space.path_length)


# --- batching -------------------------------------------------------------------------------------


def test_graph_batch_concatenates_with_offsets(space: CellSpace) -> None:
    conv = _op(space, "nor_conv_3x3", "conv_k3")
    archs = [
        space.make((space.none_index,) * 6),
        space.make((conv,) * 6),
        space.make((conv,) * 6),
    ]
    batch = graph_batch(space, archs)
    assert batch.num_graphs == 3
    assert batch.x.shape == (2 + 8 + 8, space.n_node_types)
    assert batch.ptr.tolist() == [0, 2, 10, 18]
    assert batch.batch.tolist() == [0] * 2 + [1] * 8 + [2] * 8
    # the third graph's edges are the second's shifted by its 8 nodes
    second = batch.edge_index[:, :10]
    third = batch.edge_index[:, 10:]
    assert (third - second == 8).all() and (second >= 2).all()
    x, ei, b = stack_graphs([space.to_graph(a) for a in archs])
    assert np.array_equal(x, batch.x.numpy()) and np.array_equal(ei, batch.edge_index.numpy())


def test_all_routes_are_input_to_output() -> None:
    for route in ROUTES:
        nodes = [EDGES[route[0]][0]] + [EDGES[e][1] for e in route]
        assert nodes[0] == 0 and nodes[-1] == 3
        assert all(EDGES[e][1] == EDGES[f][0] for e, f in itertools.pairwise(route))
    assert len(ROUTES) == 4
