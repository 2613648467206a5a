"""Batched encodings: stacked graphs with offset node ids, path matrices."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnas.spaces.base import ArchGraph
from ecgnas.spaces.encodings import graph_batch, path_matrix, stack_graphs
from ecgnas.spaces.nb201 import NB201Space


def _graph(n: int) -> ArchGraph:
    edges = np.array([list(range(n - 1)), list(range(1, n))], dtype=np.int64)
    return ArchGraph(x=np.eye(n, 3, dtype=np.float32), edge_index=edges)


def test_stack_graphs_offsets_node_ids() -> None:
    x, edge_index, batch = stack_graphs([_graph(2), _graph(3)])
    assert x.shape == (5, 3)
    assert edge_index.tolist() == [[0, 2, 3], [1, 3, 4]]
    assert batch.tolist() == [0, 0, 1, 1, 1] and batch.dtype == np.int64
    with pytest.raises(ValueError):
        stack_graphs([])


def test_graph_batch_and_path_matrix_of_a_space() -> None:
    space = NB201Space()
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(3)]
    b = graph_batch(space, archs)
    assert b.num_graphs == 3
    sizes = [space.to_graph(a).x.shape[0] for a in archs]
    assert b.ptr.tolist() == np.concatenate([[0], np.cumsum(sizes)]).tolist()
    assert b.x.shape == (sum(sizes), space.n_node_types)
    paths = path_matrix(space, archs)
    assert tuple(paths.shape) == (3, space.path_length) and str(paths.dtype) == "torch.float32"
    np.testing.assert_array_equal(paths.numpy(), space.path_encoding(archs))
