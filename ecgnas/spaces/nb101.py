"""The NAS-Bench-101 cell space (Ying et al., ICML 2019): 423,624 distinct cells.

A cell is a DAG of at most 7 vertices and at most 9 edges. Vertex 0 is the input, the last
vertex the output, and every interior vertex carries one op. ``Arch.ops`` holds one code per
vertex and ``Arch.matrix`` the upper-triangular 0/1 adjacency matrix (``matrix[i][j] == 1``
means an edge ``i -> j``). Op codes (the codes of ``nb101.npz``):

=====  ==================
code   op
=====  ==================
0      input
1      conv1x1-bn-relu
2      conv3x3-bn-relu
3      maxpool3x3
4      output
=====  ==================

Archs produced by this space always hold the *pruned* spec: vertices that are not on an
input-to-output path are removed, as the benchmark's ``ModelSpec`` does. Validity follows the
benchmark's ``is_valid``: after pruning, at most 7 vertices and at most 9 edges, and the
input still reaches the output.

``relabel`` renumbers a cell's vertices (an isomorphic copy, for augmentation and tests).
``canonical`` is the benchmark's own module hash (an MD5-based iterative graph hash in the
style of Weisfeiler-Lehman; see ``module_hash``), so isomorphic cells share one hash and any
NB101 table (``nb101.npz``, the official ``nasbench_only108.tfrecord``) joins on it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from types import MappingProxyType
from typing import Self

import numpy as np

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch, ArchGraph

log = logging.getLogger(__name__)

INPUT, CONV1X1, CONV3X3, MAXPOOL3X3, OUTPUT = 0, 1, 2, 3, 4
NB101_OPS: tuple[str, ...] = (
    "input",
    "conv1x1-bn-relu",
    "conv3x3-bn-relu",
    "maxpool3x3",
    "output",
)
#: op codes allowed on interior vertices
INTERIOR_OPS: tuple[int, ...] = (CONV1X1, CONV3X3, MAXPOOL3X3)
MAX_VERTICES = 7
MAX_EDGES = 9
#: number of distinct cells (module hashes) in the benchmark
NB101_SIZE = 423_624

#: The label each op code gets in the module hash. The benchmark labels the input -1, the
#: output -2 and an interior op by its index in the benchmark's op list
#: ``["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"]`` (note: conv3x3 first). Verified
#: against all 423,624 hashes of ``nb101.npz`` (``scripts/verify_nb101.py``).
HASH_LABELS: MappingProxyType[int, int] = MappingProxyType(
    {INPUT: -1, CONV3X3: 0, CONV1X1: 1, MAXPOOL3X3: 2, OUTPUT: -2}
)

#: ``(i, j)`` of bit ``b`` of the ``adj_bits`` encoding, i.e. ``numpy.triu_indices(7, 1)`` order
TRIU_PAIRS: tuple[tuple[int, int], ...] = tuple(
    (i, j) for i in range(MAX_VERTICES) for j in range(i + 1, MAX_VERTICES)
)
#: path template: every interior-op sequence of length 0..5 -> 1 + 3 + 9 + 27 + 81 + 243
MAX_PATH_OPS = MAX_VERTICES - 2
_PATH_OFFSETS: tuple[int, ...] = tuple(sum(3**k for k in range(n)) for n in range(7))
PATH_LENGTH = _PATH_OFFSETS[MAX_PATH_OPS + 1]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


#: the first-round vertex hash of every (out-degree, in-degree, label) that can occur
_INITIAL_HASH: MappingProxyType[tuple[int, int, int], str] = MappingProxyType(
    {
        (out_deg, in_deg, label): _md5(str((out_deg, in_deg, label)))
        for out_deg in range(MAX_VERTICES)
        for in_deg in range(MAX_VERTICES)
        for label in (-2, -1, 0, 1, 2)
    }
)


# --- the module hash ---------------------------------------------------------------------


def _hash_graph(
    preds: Sequence[Sequence[int]], succs: Sequence[Sequence[int]], labels: Sequence[int]
) -> str:
    """The NB101 module hash of a DAG given by predecessor/successor lists and hash labels.

    Round 0 hashes each vertex's ``(out-degree, in-degree, label)``. Each of ``n`` further
    rounds replaces a vertex's hash by the MD5 of its sorted in-neighbour hashes, ``|``, its
    sorted out-neighbour hashes, ``|``, and its own hash. The fingerprint is the MD5 of the
    sorted final hashes (as the text of a Python list of strings).
    """
    n = len(labels)
    hashes = [_INITIAL_HASH[(len(succs[v]), len(preds[v]), labels[v])] for v in range(n)]
    md5 = hashlib.md5
    vertices = range(n)
    for _ in vertices:
        new_hashes = []
        for v in vertices:
            ins, outs = preds[v], succs[v]
            # one neighbour needs no sort (most vertices): a measurable share of the time
            a = (
                "".join(sorted([hashes[w] for w in ins]))
                if len(ins) > 1
                else (hashes[ins[0]] if ins else "")
            )
            b = (
                "".join(sorted([hashes[w] for w in outs]))
                if len(outs) > 1
                else (hashes[outs[0]] if outs else "")
            )
            new_hashes.append(md5((a + "|" + b + "|" + hashes[v]).encode("utf-8")).hexdigest())
        hashes = new_hashes
    return _md5(str(sorted(hashes)))


def module_hash(matrix: Sequence[Sequence[int]], ops: Sequence[int]) -> str:
    """The NB101 module hash (32 hex characters) of a spec, exactly as the benchmark's.

    ``matrix`` is the n x n upper-triangular 0/1 adjacency matrix and ``ops`` the n op codes
    (input 0 first, output 4 last). Pass a *pruned* spec (see ``prune``): the benchmark
    hashes pruned specs, and extra dangling vertices change the hash. Raises ``ConfigError``
    for an op code outside 0..4.
    """
    n = len(ops)
    try:
        labels = [HASH_LABELS[int(o)] for o in ops]
    except KeyError as exc:
        raise ConfigError(f"nb101: unknown op code in {list(ops)}") from exc
    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        row = matrix[i]
        for j in range(n):
            if row[j]:
                succs[i].append(j)
                preds[j].append(i)
    return _hash_graph(preds, succs, labels)


def hash_from_bits(adj_bits: int, ops: Sequence[int], n_vertices: int) -> str:
    """``module_hash`` of a table row (``adj_bits``, ``ops`` row, ``n_vertices``); fast path.

    ``adj_bits`` sets bit ``b`` for edge ``TRIU_PAIRS[b]`` of the 7 x 7 upper triangle (the
    n-vertex matrix sits in its top-left corner); ``ops`` may carry -1 padding beyond
    ``n_vertices``.
    """
    n = int(n_vertices)
    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    bits = int(adj_bits)
    b = 0
    while bits:
        if bits & 1:
            i, j = TRIU_PAIRS[b]
            succs[i].append(j)
            preds[j].append(i)
        bits >>= 1
        b += 1
    labels = [HASH_LABELS[int(o)] for o in ops[:n]]
    return _hash_graph(preds, succs, labels)


# --- specs: conversion and pruning ----------------------------------------------------------


def matrix_to_bits(matrix: Sequence[Sequence[int]]) -> int:
    """The ``adj_bits`` integer of an n x n (n <= 7) upper-triangular matrix."""
    bits = 0
    n = len(matrix)
    for b, (i, j) in enumerate(TRIU_PAIRS):
        if i < n and j < n and matrix[i][j]:
            bits |= 1 << b
    return bits


def bits_to_matrix(adj_bits: int, n_vertices: int) -> tuple[tuple[int, ...], ...]:
    """The n x n matrix (tuple of rows) of an ``adj_bits`` integer; inverse of ``matrix_to_bits``."""
    n = int(n_vertices)
    rows = [[0] * n for _ in range(n)]
    bits = int(adj_bits)
    for b, (i, j) in enumerate(TRIU_PAIRS):
        if bits >> b & 1:
            if j >= n:
                raise ConfigError(f"nb101: adj_bits {adj_bits} has an edge beyond vertex {n - 1}")
            rows[i][j] = 1
    return tuple(tuple(r) for r in rows)


def arch_from_bits(adj_bits: int, ops: Sequence[int], n_vertices: int) -> Arch:
    """The ``Arch`` of a table row (as stored in ``nb101.npz``; no validity check)."""
    n = int(n_vertices)
    return Arch(
        space="nb101",
        ops=tuple(int(o) for o in ops[:n]),
        matrix=bits_to_matrix(adj_bits, n),
    )


def prune(
    matrix: Sequence[Sequence[int]], ops: Sequence[int]
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]] | None:
    """Remove the vertices that are not on an input -> output path, as NB101's ModelSpec does.

    ``matrix`` must be upper triangular (edges ``i -> j`` with ``i < j``). Returns the pruned
    ``(matrix, ops)``, or ``None`` when the output is not reachable from the input.
    """
    n = len(ops)
    if n == 0:
        return None
    from_input = [False] * n
    from_input[0] = True
    for i in range(n):
        if from_input[i]:
            row = matrix[i]
            for j in range(i + 1, n):
                if row[j]:
                    from_input[j] = True
    if not from_input[n - 1]:
        return None
    to_output = [False] * n
    to_output[n - 1] = True
    for i in range(n - 2, -1, -1):
        row = matrix[i]
        to_output[i] = any(row[j] and to_output[j] for j in range(i + 1, n))
    keep = [v for v in range(n) if from_input[v] and to_output[v]]
    new_matrix = tuple(tuple(int(bool(matrix[i][j])) for j in keep) for i in keep)
    return new_matrix, tuple(int(ops[v]) for v in keep)


def _n_edges(matrix: Sequence[Sequence[int]]) -> int:
    return sum(int(v) for row in matrix for v in row)


def _well_formed(arch: Arch) -> bool:
    """Shape, op codes and upper-triangularity; no pruning or limits."""
    n = len(arch.ops)
    if arch.space != "nb101" or n < 2 or len(arch.matrix) != n:
        return False
    if arch.ops[0] != INPUT or arch.ops[-1] != OUTPUT:
        return False
    if any(o not in INTERIOR_OPS for o in arch.ops[1:-1]):
        return False
    for i, row in enumerate(arch.matrix):
        if len(row) != n:
            return False
        for j, v in enumerate(row):
            if v not in (0, 1) or (v and j <= i):
                return False
    return True


# --- the space ------------------------------------------------------------------------------


class NB101Space:
    """NAS-Bench-101 (see the module docstring).

    Parameters
    ----------
    mutation_rate:
        Expected number of edge flips and of op changes per mutation attempt, as in the
        NB101 regularized-evolution example: each of the 21 edge slots of the padded
        7-vertex spec flips with probability ``mutation_rate / 7`` and each of the 5
        interior ops changes with probability ``mutation_rate / 5``.
    crossover_tries:
        Draws of a uniform crossover child before falling back to a copy of a parent.
    cache_size:
        Maximum entries of the per-instance canonical-hash cache (cleared when full).
    """

    name = "nb101"
    op_names: tuple[str, ...] = NB101_OPS
    #: no macro genes: the ops are the graph's vertices
    macro_sizes: tuple[int, ...] = ()

    @property
    def clp_space(self) -> Self:
        """Itself: pre-trained encoders of this space are trained on this space."""
        return self

    def __init__(
        self, mutation_rate: float = 1.0, crossover_tries: int = 100, cache_size: int = 200_000
    ) -> None:
        if not 0.0 < mutation_rate <= float(MAX_VERTICES - 2):
            raise ConfigError(f"nb101: mutation_rate must be in (0, 5], got {mutation_rate}")
        if crossover_tries < 1:
            raise ConfigError(f"nb101: crossover_tries must be >= 1, got {crossover_tries}")
        self.mutation_rate = float(mutation_rate)
        self.crossover_tries = int(crossover_tries)
        self._cache_size = int(cache_size)
        self._hash_cache: dict[Arch, str] = {}

    def __getstate__(self) -> dict[str, object]:
        # workers get the settings, not the (possibly large) hash cache
        return {**self.__dict__, "_hash_cache": {}}

    # --- properties -------------------------------------------------------------------------
    @property
    def n_node_types(self) -> int:
        """input, conv1x1, conv3x3, maxpool, output."""
        return len(NB101_OPS)

    @property
    def path_length(self) -> int:
        """364: every interior-op sequence of length 0..5."""
        return PATH_LENGTH

    def size(self) -> int:
        return NB101_SIZE

    def enumerate(self) -> list[Arch]:
        """Not offered: 423,624 cells. Sample, or read the cells of an ``NB101Table``."""
        raise ConfigError(
            "nb101 has 423,624 cells, too many to enumerate here; sample instead "
            "(or read every cell from the NB101 table)"
        )

    # --- construction and validity ------------------------------------------------------
    def make(self, matrix: Sequence[Sequence[int]], ops: Sequence[int]) -> Arch:
        """The pruned ``Arch`` of a spec; ``ConfigError`` if the spec is not a valid NB101 cell."""
        raw = Arch(
            "nb101",
            tuple(int(o) for o in ops),
            tuple(tuple(int(v) for v in row) for row in matrix),
        )
        pruned = self._pruned_if_valid(raw)
        if pruned is None:
            raise ConfigError(f"not a valid nb101 cell: ops {list(ops)}, matrix {raw.matrix}")
        return pruned

    def is_valid(self, arch: Arch) -> bool:
        """At most 7 vertices, upper triangular, input first/output last, interior ops in
        {1, 2, 3}; after pruning the input reaches the output and at most 9 edges remain."""
        return self._pruned_if_valid(arch) is not None

    def _pruned_if_valid(self, arch: Arch) -> Arch | None:
        if len(arch.ops) > MAX_VERTICES or not _well_formed(arch):
            return None
        pruned = prune(arch.matrix, arch.ops)
        if pruned is None or _n_edges(pruned[0]) > MAX_EDGES:
            return None
        matrix, ops = pruned
        if matrix == arch.matrix and ops == arch.ops:
            return arch
        return Arch("nb101", ops, matrix)

    def pruned(self, arch: Arch) -> Arch:
        """The pruned form of a valid arch; ``ConfigError`` if invalid."""
        out = self._pruned_if_valid(arch)
        if out is None:
            raise ConfigError(f"not a valid nb101 cell: {arch.key()}")
        return out

    def canonical(self, arch: Arch) -> str:
        """The NB101 module hash of the pruned spec (32 hex characters, as in the tables).

        Cached per instance. ``ConfigError`` for an arch that is not a valid NB101 cell.
        """
        cached = self._hash_cache.get(arch)
        if cached is not None:
            return cached
        pruned = self.pruned(arch)
        digest = module_hash(pruned.matrix, pruned.ops)
        if len(self._hash_cache) >= self._cache_size:
            self._hash_cache.clear()
        self._hash_cache[arch] = digest
        return digest

    # --- variation --------------------------------------------------------------------------
    def _random_spec(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        matrix = np.triu(rng.integers(0, 2, size=(MAX_VERTICES, MAX_VERTICES)), k=1)
        ops = np.empty(MAX_VERTICES, dtype=np.int64)
        ops[0], ops[-1] = INPUT, OUTPUT
        ops[1:-1] = rng.integers(1, 4, size=MAX_VERTICES - 2)
        return matrix, ops

    def _arch_from_arrays(self, matrix: np.ndarray, ops: np.ndarray) -> Arch | None:
        raw = Arch(
            "nb101",
            tuple(int(o) for o in ops),
            tuple(tuple(int(v) for v in row) for row in matrix),
        )
        return self._pruned_if_valid(raw)

    def sample(self, rng: np.random.Generator) -> Arch:
        """The benchmark's random spec: a uniform random upper-triangular 7 x 7 0/1 matrix and
        uniform interior ops, redrawn until valid; returned pruned.

        Far from uniform over the 423,624 cells: few dense 7-vertex specs have <= 9 edges,
        so most accepted specs prune to small cells (measured: about 9 % are the 2-vertex
        cell, 85 % have 5 or fewer vertices, 0.3 % have 7, against 85 % of table cells with
        7; ``reports/nb101_hash_check.md``). ``NB101Table.random_arch`` draws uniformly.
        """
        while True:
            arch = self._arch_from_arrays(*self._random_spec(rng))
            if arch is not None:
                return arch

    def _padded(self, arch: Arch, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A 7-vertex spec with the same pruned cell: interior vertices keep their positions,
        the output moves to vertex 6, and the added vertices (no edges) get random ops."""
        n = len(arch.ops)
        matrix = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.int64)
        ops = np.empty(MAX_VERTICES, dtype=np.int64)
        ops[1:-1] = rng.integers(1, 4, size=MAX_VERTICES - 2)
        ops[0], ops[-1] = INPUT, OUTPUT
        ops[1 : n - 1] = arch.ops[1:-1]
        where = list(range(n - 1)) + [MAX_VERTICES - 1]
        small = np.asarray(arch.matrix, dtype=np.int64)
        matrix[np.ix_(where, where)] = small
        return matrix, ops

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """NB101 regularized-evolution mutation, redrawn until the child is valid and its
        module hash differs from the parent's (see ``mutation_rate``). Returned pruned.

        ``ConfigError`` if ``arch`` is not a valid NB101 cell.
        """
        parent_hash = self.canonical(arch)
        parent = self.pruned(arch)
        edge_p = self.mutation_rate / MAX_VERTICES
        op_p = self.mutation_rate / (MAX_VERTICES - 2)
        iu = np.triu_indices(MAX_VERTICES, 1)
        while True:
            matrix, ops = self._padded(parent, rng)
            flips = rng.random(len(iu[0])) < edge_p
            matrix[iu[0][flips], iu[1][flips]] ^= 1
            for v in range(1, MAX_VERTICES - 1):
                if rng.random() < op_p:
                    others = [o for o in INTERIOR_OPS if o != ops[v]]
                    ops[v] = others[int(rng.integers(len(others)))]
            child = self._arch_from_arrays(matrix, ops)
            if child is not None and self.canonical(child) != parent_hash:
                return child

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        """Uniform crossover of the padded 7-vertex specs of ``a`` and ``b``: each edge slot
        and each interior op from either parent with probability 1/2, redrawn until valid.

        After ``crossover_tries`` invalid draws, a copy of a random parent (pruned) is
        returned, so the child is always valid. ``ConfigError`` if a parent is invalid.
        """
        pa, pb = self.pruned(a), self.pruned(b)
        iu = np.triu_indices(MAX_VERTICES, 1)
        for _ in range(self.crossover_tries):
            ma, oa = self._padded(pa, rng)
            mb, ob = self._padded(pb, rng)
            take_a = rng.random(len(iu[0])) < 0.5
            matrix = np.zeros_like(ma)
            matrix[iu] = np.where(take_a, ma[iu], mb[iu])
            ops = np.where(rng.random(MAX_VERTICES) < 0.5, oa, ob)
            child = self._arch_from_arrays(matrix, ops)
            if child is not None:
                return child
        log.debug(
            "nb101 crossover: no valid child in %d tries; copying a parent", self.crossover_tries
        )
        return pa if rng.random() < 0.5 else pb

    def relabel(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """An isomorphic copy of the pruned ``arch``: its interior vertices renumbered in a
        uniformly chosen topological order (so the matrix stays upper triangular).

        Same cell, same ``canonical`` hash and path encoding; usually another ``Arch``
        (cells whose DAG has one topological order come back unchanged). Useful as a
        graph augmentation. ``ConfigError`` if ``arch`` is invalid.
        """
        pruned = self.pruned(arch)
        n = len(pruned.ops)
        m = pruned.matrix
        n_missing = [sum(m[u][v] for u in range(n)) for v in range(n)]  # unplaced preds
        order = [0]
        for w in range(1, n):
            n_missing[w] -= m[0][w]
        remaining = list(range(1, n - 1))
        while remaining:
            ready = [v for v in remaining if n_missing[v] == 0]
            v = ready[int(rng.integers(len(ready)))]
            remaining.remove(v)
            order.append(v)
            for w in range(v + 1, n):
                n_missing[w] -= m[v][w]
        order.append(n - 1)
        ops = tuple(pruned.ops[v] for v in order)
        matrix = tuple(tuple(m[i][j] for j in order) for i in order)
        return Arch("nb101", ops, matrix)

    # --- encodings ------------------------------------------------------------------------
    def to_graph(self, arch: Arch) -> ArchGraph:
        """Vertices of the pruned spec as nodes, one-hot over the 5 op codes (``x`` float32
        ``[n, 5]``); edges from its matrix (``edge_index`` int64 ``[2, n_edges]``, sorted by
        source then target). ``ConfigError`` if invalid."""
        pruned = self.pruned(arch)
        n = len(pruned.ops)
        x = np.zeros((n, self.n_node_types), dtype=np.float32)
        x[np.arange(n), list(pruned.ops)] = 1.0
        src, dst = np.nonzero(np.asarray(pruned.matrix, dtype=np.int64))
        edge_index = np.stack([src, dst]).astype(np.int64).reshape(2, -1)
        return ArchGraph(x=x, edge_index=edge_index)

    def paths(self, arch: Arch) -> list[tuple[int, ...]]:
        """Every input -> output path of the pruned spec as its sequence of interior op codes
        (the empty tuple for a direct input -> output edge), sorted."""
        pruned = self.pruned(arch)
        n = len(pruned.ops)
        succs = [[j for j in range(n) if pruned.matrix[i][j]] for i in range(n)]
        out: list[tuple[int, ...]] = []
        stack: list[tuple[int, tuple[int, ...]]] = [(0, ())]
        while stack:
            v, seq = stack.pop()
            for w in succs[v]:
                if w == n - 1:
                    out.append(seq)
                else:
                    stack.append((w, (*seq, pruned.ops[w])))
        return sorted(out)

    @staticmethod
    def path_index(seq: Sequence[int]) -> int:
        """Position of an interior-op sequence in the global path template.

        The template lists sequences by length (0..5), then lexicographically with
        conv1x1 < conv3x3 < maxpool3x3, so index 0 is the direct input -> output path,
        1..3 the single-op paths, 4..12 the two-op paths, and so on (364 in all).
        """
        index = 0
        for op in seq:
            index = index * 3 + (int(op) - 1)
        return _PATH_OFFSETS[len(seq)] + index

    def path_template(self) -> list[tuple[int, ...]]:
        """The 364 op sequences of the template, in index order."""
        out: list[tuple[int, ...]] = []
        for length in range(MAX_PATH_OPS + 1):
            for code in range(3**length):
                digits = [(code // 3**k) % 3 + 1 for k in range(length - 1, -1, -1)]
                out.append(tuple(digits))
        return out

    def path_encoding(self, archs: Sequence[Arch]) -> np.ndarray:
        """uint8 ``[len(archs), 364]``: bit ``path_index(p)`` set for every path ``p`` of each
        arch. Isomorphic archs get the same row. ``ConfigError`` for an invalid arch."""
        out = np.zeros((len(archs), PATH_LENGTH), dtype=np.uint8)
        for row, arch in enumerate(archs):
            for seq in self.paths(arch):
                out[row, self.path_index(seq)] = 1
        return out
