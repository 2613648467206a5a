"""Grid spaces: a small hyperparameter grid around a published network.

A subclass names its dimensions (``dimensions``: ``(name, choices)`` pairs, in order) and
the choice indices of the published network (``published_ops``); ``Arch.ops`` holds one
choice index per dimension. This base class supplies the whole ``SearchSpace`` protocol so
that any strategy can search such a grid:

* sampling is uniform over the grid, mutation changes one dimension to another of its
  choices, crossover takes each dimension from either parent with probability 1/2;
* the graph is a chain ``input -> one node per dimension -> output`` whose node features
  are the one-hot choice (node feature 0 is the input, the last one the output);
* the path encoding (the single input-to-output path) is the concatenated one-hot choices;
* every configuration is its own canonical form (``Arch.key()``).

The manual baseline (``ecgnas.spaces.manual``) and the tiny matched-filter CNN
(``ecgnas.spaces.tiny``) are grid spaces.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch, ArchGraph


class GeneVariation:
    """Sampling and variation over a product of choices: ``Arch.ops`` holds one choice index
    per gene, gene ``i`` having ``sizes[i]`` choices. Sampling is uniform per gene, mutation
    changes one gene (chosen uniformly) to another of its choices, crossover takes each gene
    from either parent with probability 1/2. Users set ``name`` and ``sizes``."""

    name: str
    sizes: tuple[int, ...]

    @property
    def clp_space(self) -> Self:
        """Itself: pre-trained encoders of this space are trained on this space."""
        return self

    def sample(self, rng: np.random.Generator) -> Arch:
        return Arch(self.name, tuple(int(rng.integers(n)) for n in self.sizes))

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        ops = list(arch.ops)
        dim = int(rng.integers(len(ops)))
        choice = int(rng.integers(self.sizes[dim] - 1))
        ops[dim] = choice if choice < ops[dim] else choice + 1
        return Arch(self.name, tuple(ops))

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        take_a = rng.random(len(self.sizes)) < 0.5
        return Arch(self.name, tuple(x if t else y for x, y, t in zip(a.ops, b.ops, take_a)))


class GridSpace(GeneVariation):
    """The ``SearchSpace`` protocol over the product of ``dimensions`` (see the module
    docstring). Subclasses set ``name``, ``dimensions``, ``published_ops`` and ``label``."""

    name: str = ""
    #: ``(dimension name, choices)`` in ``Arch.ops`` order
    dimensions: ClassVar[tuple[tuple[str, tuple[object, ...]], ...]] = ()
    #: the choice indices of the published network
    published_ops: ClassVar[tuple[int, ...]] = ()
    #: how error messages call a configuration of this grid
    label: ClassVar[str] = "grid"
    #: no macro genes beside a graph: every gene is one of the grid's own dimensions
    macro_sizes: tuple[int, ...] = ()

    def __init__(self) -> None:
        if not self.name or not self.dimensions:
            raise ConfigError(f"{type(self).__name__} defines no name or no dimensions")
        self.sizes: tuple[int, ...] = tuple(len(choices) for _, choices in self.dimensions)
        self.op_names: tuple[str, ...] = tuple(
            f"{dim}={choice}" for dim, choices in self.dimensions for choice in choices
        )
        self._offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)

    @property
    def n_node_types(self) -> int:
        return len(self.op_names) + 2

    @property
    def path_length(self) -> int:
        return len(self.op_names)

    def size(self) -> int:
        return int(np.prod(self.sizes))

    def is_valid(self, arch: Arch) -> bool:
        return (
            arch.space == self.name
            and not arch.matrix
            and len(arch.ops) == len(self.sizes)
            and all(0 <= o < n for o, n in zip(arch.ops, self.sizes))
        )

    def make(self, ops: Sequence[int]) -> Arch:
        """The arch of these choice indices (``ConfigError`` if one is out of range)."""
        arch = Arch(self.name, tuple(int(o) for o in ops))
        if not self.is_valid(arch):
            raise ConfigError(f"not a {self.label} configuration: {list(ops)}")
        return arch

    def published(self) -> Arch:
        """The configuration of the published network."""
        return Arch(self.name, self.published_ops)

    def values(self, arch: Arch) -> dict[str, object]:
        """The chosen value of each dimension (``ConfigError`` if ``arch`` is invalid)."""
        if not self.is_valid(arch):
            raise ConfigError(f"not a {self.label} configuration: {arch.to_json()}")
        return {dim: choices[i] for (dim, choices), i in zip(self.dimensions, arch.ops)}

    def canonical(self, arch: Arch) -> str:
        return arch.key()

    def enumerate(self) -> list[Arch]:
        return [Arch(self.name, ops) for ops in itertools.product(*(range(n) for n in self.sizes))]

    def to_graph(self, arch: Arch) -> ArchGraph:
        n = len(self.sizes) + 2
        x = np.zeros((n, self.n_node_types), dtype=np.float32)
        x[0, 0] = 1.0
        x[-1, -1] = 1.0
        for i, op in enumerate(arch.ops):
            x[i + 1, 1 + self._offsets[i] + op] = 1.0
        edge_index = np.array([np.arange(n - 1), np.arange(1, n)], dtype=np.int64)
        return ArchGraph(x=x, edge_index=edge_index)

    def path_encoding(self, archs: Sequence[Arch]) -> np.ndarray:
        ops = np.array([a.ops for a in archs], dtype=np.int64).reshape(len(archs), -1)
        out = np.zeros((len(archs), self.path_length), dtype=np.uint8)
        out[np.arange(len(archs))[:, None], ops + self._offsets[None, :]] = 1
        return out
