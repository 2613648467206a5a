"""The search-space contract: an immutable ``Arch`` and the ``SearchSpace`` protocol.

Every space (``nb201``, ``nb101``, ``ecg1d``) speaks this vocabulary, so the predictor and
the search strategies never know which space they work on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Arch:
    """One architecture (genotype). Small, immutable, hashable and JSON-serialisable.

    Attributes
    ----------
    space:
        Name of the space it belongs to (``"nb201"``, ``"nb101"``, ``"ecg1d"``).
    ops:
        Edge spaces (nb201, ecg1d): one op index per edge, in the space's edge order.
        Vertex spaces (nb101): one op index per vertex, input and output included.
    matrix:
        Vertex spaces only: the upper-triangular 0/1 adjacency matrix, as a tuple of rows.
        Empty for edge spaces.

    Two ``Arch`` objects are equal when their fields are equal; two *isomorphic* archs can
    differ here and still share ``SearchSpace.canonical``.
    """

    space: str
    ops: tuple[int, ...]
    matrix: tuple[tuple[int, ...], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A plain dict (lists and ints) that ``from_json`` turns back into an equal ``Arch``."""
        out: dict[str, Any] = {"space": self.space, "ops": list(self.ops)}
        if self.matrix:
            out["matrix"] = [list(row) for row in self.matrix]
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Arch:
        """Inverse of ``to_json``."""
        return cls(
            space=str(obj["space"]),
            ops=tuple(int(o) for o in obj["ops"]),
            matrix=tuple(tuple(int(v) for v in row) for row in obj.get("matrix", ())),
        )

    def key(self) -> str:
        """A compact, stable string form, e.g. ``"nb201:3,1,0,2,4,1"`` (not isomorphism-aware)."""
        text = f"{self.space}:" + ",".join(str(o) for o in self.ops)
        if self.matrix:
            text += ":" + "".join(str(v) for row in self.matrix for v in row)
        return text


@dataclass(frozen=True)
class ArchGraph:
    """A directed graph for a GNN.

    ``x`` is float32 ``[n_nodes, n_node_types]`` one-hot node types (input, the ops, output);
    ``edge_index`` is int64 ``[2, n_edges]`` with rows (source, target), sources before targets
    in topological order. Node 0 is the input node and the last node the output node.
    """

    x: np.ndarray
    edge_index: np.ndarray


@runtime_checkable
class SearchSpace(Protocol):
    """What every space provides. All randomness comes from the ``rng`` passed in."""

    name: str
    #: names of the ops, indexed by the values in ``Arch.ops``
    op_names: tuple[str, ...]

    def sample(self, rng: np.random.Generator) -> Arch:
        """A valid arch drawn uniformly (or as the space's benchmark draws them)."""

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """A valid arch that differs from ``arch`` by a small change (a different genotype; in a
        function-aware space it may share ``arch``'s canonical hash)."""

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        """A valid child that mixes ``a`` and ``b``."""

    def is_valid(self, arch: Arch) -> bool:
        """Whether ``arch`` belongs to this space."""

    def canonical(self, arch: Arch) -> str:
        """Isomorphism-aware hash: isomorphic archs (same function) share it."""

    def to_graph(self, arch: Arch) -> ArchGraph:
        """The graph encoding (ops as node features)."""

    @property
    def n_node_types(self) -> int:
        """Width of ``ArchGraph.x``."""

    @property
    def path_length(self) -> int:
        """Length of the path encoding (size of the global path template)."""

    @property
    def macro_sizes(self) -> tuple[int, ...]:
        """Choice counts of the macro genes that end ``Arch.ops`` after the graph's own ops
        (``ecgjoint``: width, depth, data choices...); ``()`` for a space whose ops are all
        graph ops. A predictor whose graph view blurs such genes reads them from the hard
        view as well (``predictor.variants.uses_hard_view``)."""

    @property
    def clp_space(self) -> SearchSpace:
        """The space whose CLP encoder the pre-trained predictors of this space use: the
        space itself, except for a space that is a sample of a larger one (the ECG
        benchmark table, ``ecgnas.benchmarks.ecg_table.ECGTableSpace``), which uses the
        larger space's encoder, as a real search of that space does. Its graphs must be
        this space's graphs (the same ``n_node_types``)."""

    def path_encoding(self, archs: Sequence[Arch]) -> np.ndarray:
        """Binary path encodings, uint8 ``[len(archs), path_length]``."""

    def size(self) -> int:
        """Number of distinct (canonical) archs in the space."""

    def enumerate(self) -> list[Arch]:
        """Every arch, one per canonical hash; ``ConfigError`` if the space is too large."""
