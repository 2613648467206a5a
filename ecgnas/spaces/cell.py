"""A cell space with ops on edges: 4 nodes, 6 edges (the NAS-Bench-201 cell shape).

Both ``nb201`` and ``ecg1d`` are such spaces; they differ only in their op lists. Node 0 is
the cell input, node 3 the cell output, and every node sums the ops on its incoming edges.

Edge order (the order of ``Arch.ops``, as in NB201 strings and in ``nb201.csv.gz``):
``(1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2)``.

Encodings
---------
* Graph (``to_graph``): every edge whose op is not ``none`` becomes a node whose one-hot
  feature is its op; an input node and an output node are added. An op node on edge
  ``i -> j`` receives from the input node when ``i == 0`` and otherwise from every op node on
  an edge ending in ``i``; it sends to the output node when ``j == 3`` and otherwise to every
  op node on an edge starting at ``j``. Node types: ``[input, op_1, ..., op_{k}, output]``
  where ``op_1..op_k`` are the ops other than ``none``.
* Path (``path_encoding``): the four input-to-output routes through the cell are
  ``0->3``, ``0->1->3``, ``0->2->3`` and ``0->1->2->3``. A route whose edges are all non-``none``
  is a *path*, identified by its op sequence. The global template lists every op sequence of
  length 1, 2 and 3 over the ``k`` non-``none`` ops (``k + k^2 + k^3`` entries, in
  lexicographic order by length); the encoding sets the bit of each path present.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Self

import numpy as np

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch, ArchGraph

#: (source, target) node of each edge, in ``Arch.ops`` order
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
N_NODES = 4
N_EDGES = len(EDGES)
#: the input-to-output routes, as edge indices in order along the route
ROUTES: tuple[tuple[int, ...], ...] = ((3,), (0, 4), (1, 5), (0, 2, 5))


def live_edges(ops: Sequence[int], none_index: int = 0) -> list[int]:
    """The edges that can change a cell's output, in edge order.

    An edge is dead when its op is ``none``, when its source node receives nothing from the
    input, or when its target node does not reach the output (node 3) through live edges.
    """
    live = [e for e in range(N_EDGES) if ops[e] != none_index]
    active = {0}
    for node in range(1, N_NODES):
        if any(EDGES[e][1] == node and EDGES[e][0] in active for e in live):
            active.add(node)
    fed = [e for e in live if EDGES[e][0] in active]
    useful = {N_NODES - 1}
    for node in range(N_NODES - 2, 0, -1):
        if any(EDGES[e][0] == node and EDGES[e][1] in useful for e in fed):
            useful.add(node)
    return [e for e in fed if EDGES[e][1] in useful]


def effective_ops(ops: Sequence[int], none_index: int = 0) -> tuple[int, ...]:
    """``ops`` with every dead edge (see ``live_edges``) set to ``none``: cells with equal
    effective ops compute the same function."""
    keep = set(live_edges(ops, none_index))
    return tuple(int(op) if e in keep else none_index for e, op in enumerate(ops))


class CellSpace:
    """An edge-op cell space (see the module docstring). Subclasses set the op list.

    Parameters
    ----------
    name:
        The space name recorded in every ``Arch``.
    op_names:
        The ops, indexed by the values of ``Arch.ops``; must contain ``"none"``.
    """

    #: no macro genes: every entry of ``Arch.ops`` is an edge's op
    macro_sizes: tuple[int, ...] = ()

    @property
    def clp_space(self) -> Self:
        """Itself: pre-trained encoders of this space are trained on this space."""
        return self

    def __init__(self, name: str, op_names: Sequence[str]) -> None:
        if "none" not in op_names:
            raise ConfigError(f"space {name!r}: the op list must contain 'none'")
        self.name = name
        self.op_names: tuple[str, ...] = tuple(op_names)
        self.none_index = self.op_names.index("none")
        n_ops = len(self.op_names)
        # rank of each op among the non-none ops (-1 for none)
        rank = np.full(n_ops, -1, dtype=np.int64)
        rank[[i for i in range(n_ops) if i != self.none_index]] = np.arange(n_ops - 1)
        self._op_rank = rank
        self._k = n_ops - 1
        self._graph_cache: dict[Arch, ArchGraph] = {}

    # --- basic properties -------------------------------------------------------------
    @property
    def n_ops(self) -> int:
        return len(self.op_names)

    @property
    def n_node_types(self) -> int:
        """input + the non-none ops + output."""
        return self._k + 2

    @property
    def path_length(self) -> int:
        k = self._k
        return k + k**2 + k**3

    def size(self) -> int:
        return int(self.n_ops**N_EDGES)

    # --- construction and validity --------------------------------------------------------
    def make(self, ops: Sequence[int]) -> Arch:
        """An ``Arch`` from op indices (``ConfigError`` if not a valid cell of this space)."""
        arch = Arch(self.name, tuple(int(o) for o in ops))
        if not self.is_valid(arch):
            raise ConfigError(f"not a {self.name} cell: ops {list(ops)}")
        return arch

    def is_valid(self, arch: Arch) -> bool:
        return (
            arch.space == self.name
            and not arch.matrix
            and len(arch.ops) == N_EDGES
            and all(0 <= o < self.n_ops for o in arch.ops)
        )

    def canonical(self, arch: Arch) -> str:
        """One hash per cell: every one of the ``n_ops**6`` cells is its own architecture.

        This matches the benchmark tables (NB201 has one row per cell, and cells that compute
        the same function still have separately trained rows), so a search never skips a cell
        the table would charge separately.
        """
        return arch.key()

    def enumerate(self) -> list[Arch]:
        """All cells, edge 0 varying slowest (op-code order, not a benchmark's index order)."""
        return [Arch(self.name, ops) for ops in itertools.product(range(self.n_ops), repeat=6)]

    def ops_array(self, archs: Sequence[Arch]) -> np.ndarray:
        """int64 ``[len(archs), 6]`` op indices."""
        return np.array([a.ops for a in archs], dtype=np.int64).reshape(len(archs), N_EDGES)

    # --- variation ------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Arch:
        return Arch(self.name, tuple(int(o) for o in rng.integers(0, self.n_ops, N_EDGES)))

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change the op of one random edge to a different op.

        In a function-aware space (``ecg1d``) the child may compute the same function as the
        parent (a change on a dead edge); the search driver never evaluates a canonical hash
        twice, and contrastive pre-training uses exactly such children as function-preserving
        views, so the operator stays this plain one-edge change.
        """
        ops = list(arch.ops)
        edge = int(rng.integers(N_EDGES))
        choice = int(rng.integers(self.n_ops - 1))
        ops[edge] = choice if choice < ops[edge] else choice + 1
        return Arch(self.name, tuple(ops))

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        """Uniform crossover: each edge's op from ``a`` or ``b`` with probability 1/2."""
        take_a = rng.random(N_EDGES) < 0.5
        return Arch(self.name, tuple(x if t else y for x, y, t in zip(a.ops, b.ops, take_a)))

    # --- encodings ------------------------------------------------------------------------
    def to_graph(self, arch: Arch) -> ArchGraph:
        cached = self._graph_cache.get(arch)
        if cached is not None:
            return cached
        graph = self._build_graph(arch)
        self._graph_cache[arch] = graph
        return graph

    def _build_graph(self, arch: Arch) -> ArchGraph:
        live = [e for e in range(N_EDGES) if arch.ops[e] != self.none_index]
        n = len(live) + 2
        out_node = n - 1
        node_of = {e: i + 1 for i, e in enumerate(live)}
        x = np.zeros((n, self.n_node_types), dtype=np.float32)
        x[0, 0] = 1.0
        x[out_node, -1] = 1.0
        for e in live:
            x[node_of[e], 1 + self._op_rank[arch.ops[e]]] = 1.0
        src: list[int] = []
        dst: list[int] = []
        for e in live:
            i, j = EDGES[e]
            if i == 0:
                src.append(0)
                dst.append(node_of[e])
            if j == N_NODES - 1:
                src.append(node_of[e])
                dst.append(out_node)
            else:
                for f in live:
                    if EDGES[f][0] == j:
                        src.append(node_of[e])
                        dst.append(node_of[f])
        edge_index = np.array([src, dst], dtype=np.int64).reshape(2, len(src))
        return ArchGraph(x=x, edge_index=edge_index)

    def path_encoding(self, archs: Sequence[Arch]) -> np.ndarray:
        """uint8 ``[len(archs), path_length]``, vectorised over archs."""
        ops = self.ops_array(archs)
        rank = self._op_rank[ops]  # [n, 6], -1 for none
        k = self._k
        out = np.zeros((len(archs), self.path_length), dtype=np.uint8)
        offsets = {1: 0, 2: k, 3: k + k**2}
        rows = np.arange(len(archs))
        for route in ROUTES:
            r = rank[:, route]  # [n, L]
            alive = (r >= 0).all(axis=1)
            index = np.zeros(len(archs), dtype=np.int64)
            for col in range(len(route)):
                index = index * k + np.maximum(r[:, col], 0)
            index += offsets[len(route)]
            out[rows[alive], index[alive]] = 1
        return out

    def path_template(self) -> list[tuple[str, ...]]:
        """The op sequences behind each bit of ``path_encoding``, in bit order."""
        live = [self.op_names[i] for i in range(self.n_ops) if i != self.none_index]
        return [seq for n in (1, 2, 3) for seq in itertools.product(live, repeat=n)]
