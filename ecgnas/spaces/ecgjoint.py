"""The joint ECG space: the ``ecg1d`` cell plus the macro choices that matter for beats.

An arch's ``ops`` hold the cell's 6 edge ops (``ecg1d`` op indices, in ``ecgnas.spaces.cell``
edge order) followed by one choice index per macro dimension, in this order:

==============  =============================  ===============================================
dimension       choices                        meaning
==============  =============================  ===============================================
width           4, 8, 12                       stage-1 channels (stages 2, 3: 2x and 4x)
cells           1, 2                           cells per stage (depth)
stem_kernel     3, 7, 15                       stem convolution kernel, samples
context         beat, neighbours, wide         the window around the R peak: 0.25 s before
                                               and 0.5 s after (``beat``); the same with the
                                               previous and next beats as extra channels
                                               (``neighbours``); 0.5 s + 0.75 s (``wide``)
channels        raw, derivative, raw+deriv     the signal channels of the window
rr              basic, rhythm, both            the RR feature set (``ecgnas.data.inputs``)
fs              96, 128                        sampling rate of the prepared signal, Hz
==============  =============================  ===============================================

``7**6 * 972 = 114,354,828`` genotypes. The choices span what one CPU thread can train with
the full recipe in minutes (a 4-channel, one-cell network on 72 samples to a 12-channel,
two-cell one on 160 samples: about 2.5 to 16 minutes for the recipe's 5-fold DS1
cross-validation); wider networks and higher rates (16 channels, 180 Hz) made the costliest
archs 10 times the cheapest and were dropped after the first measurements. The network is the ``ecg1d`` cell network
(``ecgnas.spaces.ecg1d_model``) at the arch's width, depth and stem kernel; the data choices
(context, channels, RR set, sampling rate) change what the recipe feeds it, through
``data_choices``. Everything else (band-pass, morphology features, lead polarity, classes)
is the recipe's.

Encodings, so that the predictors and baselines see the whole arch:

* graph: the ``ecg1d`` cell graph (input, one node per live op edge, output) plus one node
  per macro dimension, its one-hot choice as features, chained
  ``input -> width -> cells -> ... -> fs -> output``; node types are the cell's then the
  macro choices';
* path: the cell's path encoding (every input-to-output path of ops, indexed by the global
  path template) followed by the one-hot macro choices;
* canonical: the cell's function-aware hash (dead edges set to ``none``) plus the macro
  choices.

Sampling is uniform over cells and over each macro dimension; mutation changes one of the 13
genes (an edge op or a macro choice) to another of its values; crossover takes each gene
from either parent. Imports only numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch, ArchGraph
from ecgnas.spaces.cell import N_EDGES, effective_ops
from ecgnas.spaces.ecg1d import ECG1D_OPS, ECG1DSpace
from ecgnas.spaces.grid import GeneVariation

MACRO: Final[tuple[tuple[str, tuple[object, ...]], ...]] = (
    ("width", (4, 8, 12)),
    ("cells", (1, 2)),
    ("stem_kernel", (3, 7, 15)),
    ("context", ("beat", "neighbours", "wide")),
    ("channels", ("raw", "derivative", "raw+derivative")),
    ("rr", ("basic", "rhythm", "both")),
    ("fs", (96, 128)),
)
"""The macro dimensions, ``(name, choices)`` in ``Arch.ops`` order after the 6 cell ops."""

CONTEXT_WINDOWS: Final[dict[str, tuple[float, float, int]]] = {
    "beat": (0.25, 0.5, 0),
    "neighbours": (0.25, 0.5, 1),
    "wide": (0.5, 0.75, 0),
}
"""Context choice -> (seconds before the R peak, seconds after, neighbouring beats)."""


@dataclass(frozen=True)
class DataChoices:
    """What a joint arch asks of the data: sampling rate, window (samples, a multiple of 4
    in all), neighbouring beats, channels and RR set (``InputConfig`` values)."""

    fs: float
    window_before: int
    window_after: int
    context_beats: int
    raw: bool
    derivative: bool
    rr_features: str


@dataclass(frozen=True)
class NetChoices:
    """What a joint arch asks of the network: the cell and the ``ECGModelConfig`` macro
    settings (width, cells per stage, stem kernel)."""

    cell: Arch
    width: int
    cells_per_stage: int
    stem_kernel: int


def _samples(seconds: float, fs: float) -> int:
    """``seconds`` at ``fs`` rounded to the nearest multiple of 4 samples, ties to even
    (Python's ``round``), at least 4."""
    return max(4, int(round(seconds * fs / 4.0)) * 4)


class ECGJointSpace(GeneVariation):
    """The ``ecgjoint`` space (see the module docstring); sampling and variation are
    ``GeneVariation``'s over its 13 genes."""

    name = "ecgjoint"

    def __init__(self) -> None:
        self.cell_space = ECG1DSpace()
        self.macro_sizes: tuple[int, ...] = tuple(len(c) for _, c in MACRO)
        self.sizes: tuple[int, ...] = (len(ECG1D_OPS),) * N_EDGES + self.macro_sizes
        macro_names = tuple(f"{dim}={choice}" for dim, choices in MACRO for choice in choices)
        self.op_names: tuple[str, ...] = tuple(ECG1D_OPS) + macro_names
        self._macro_offsets = np.concatenate([[0], np.cumsum(self.macro_sizes)[:-1]]).astype(
            np.int64
        )
        self._n_macro_values = int(sum(self.macro_sizes))
        self._graph_cache: dict[Arch, ArchGraph] = {}

    # --- size and validity ------------------------------------------------------------------
    @property
    def n_node_types(self) -> int:
        return int(self.cell_space.n_node_types) + self._n_macro_values

    @property
    def path_length(self) -> int:
        return int(self.cell_space.path_length) + self._n_macro_values

    def size(self) -> int:
        return int(np.prod(self.sizes, dtype=np.int64))

    def is_valid(self, arch: Arch) -> bool:
        return (
            arch.space == self.name
            and not arch.matrix
            and len(arch.ops) == len(self.sizes)
            and all(0 <= o < n for o, n in zip(arch.ops, self.sizes))
        )

    def make(self, cell_ops: Sequence[int], **macro: object) -> Arch:
        """The arch of a cell and macro values by name (missing ones take their first
        choice); ``ConfigError`` for an unknown dimension or value."""
        unknown = sorted(set(macro) - {dim for dim, _ in MACRO})
        if unknown:
            raise ConfigError(f"ecgjoint: unknown macro dimension(s) {unknown}")
        genes = [int(o) for o in cell_ops]
        for dim, choices in MACRO:
            value = macro.get(dim, choices[0])
            if value not in choices:
                raise ConfigError(f"ecgjoint: {dim} must be one of {list(choices)}, got {value!r}")
            genes.append(choices.index(value))
        arch = Arch(self.name, tuple(genes))
        if not self.is_valid(arch):
            raise ConfigError(f"not an ecgjoint arch: {arch.to_json()}")
        return arch

    def _check(self, arch: Arch) -> None:
        if not self.is_valid(arch):
            raise ConfigError(f"not an ecgjoint arch: {arch.to_json()}")

    def cell(self, arch: Arch) -> Arch:
        """The arch's cell as an ``ecg1d`` arch."""
        self._check(arch)
        return Arch(self.cell_space.name, arch.ops[:N_EDGES])

    def values(self, arch: Arch) -> dict[str, object]:
        """The chosen value of each macro dimension."""
        self._check(arch)
        return {dim: choices[i] for (dim, choices), i in zip(MACRO, arch.ops[N_EDGES:])}

    def net_choices(self, arch: Arch) -> NetChoices:
        v = self.values(arch)
        return NetChoices(
            cell=self.cell(arch),
            width=int(v["width"]),  # type: ignore[call-overload]
            cells_per_stage=int(v["cells"]),  # type: ignore[call-overload]
            stem_kernel=int(v["stem_kernel"]),  # type: ignore[call-overload]
        )

    def data_choices(self, arch: Arch, fs: float | None = None) -> DataChoices:
        """The data side of ``arch``; ``fs`` overrides the arch's sampling rate (a cheaper
        proxy may train every candidate at one rate)."""
        v = self.values(arch)
        rate = float(fs if fs is not None else v["fs"])  # type: ignore[arg-type]
        before_s, after_s, context = CONTEXT_WINDOWS[str(v["context"])]
        channels = str(v["channels"])
        return DataChoices(
            fs=rate,
            window_before=_samples(before_s, rate),
            window_after=_samples(after_s, rate),
            context_beats=context,
            raw=channels != "derivative",
            derivative=channels != "raw",
            rr_features=str(v["rr"]),
        )

    def canonical(self, arch: Arch) -> str:
        """The cell's function-aware hash plus the macro choices."""
        self._check(arch)
        cell = effective_ops(arch.ops[:N_EDGES], self.cell_space.none_index)
        return Arch(self.name, cell + arch.ops[N_EDGES:]).key()

    def enumerate(self) -> list[Arch]:
        raise ConfigError(
            f"the ecgjoint space has {self.size():,} archs, too many to enumerate; sample it"
        )

    # --- encodings ----------------------------------------------------------------------------
    def to_graph(self, arch: Arch) -> ArchGraph:
        cached = self._graph_cache.get(arch)
        if cached is None:
            cached = self._build_graph(arch)
            self._graph_cache[arch] = cached
        return cached

    def _build_graph(self, arch: Arch) -> ArchGraph:
        cell = self.cell_space.to_graph(self.cell(arch))
        n_cell, k_cell = cell.x.shape
        n_macro = len(MACRO)
        n = n_cell + n_macro
        x = np.zeros((n, self.n_node_types), dtype=np.float32)
        # cell nodes except the output keep their places; macro nodes follow; output last
        x[: n_cell - 1, :k_cell] = cell.x[:-1]
        x[n - 1, :k_cell] = cell.x[-1]
        for i, choice in enumerate(arch.ops[N_EDGES:]):
            x[n_cell - 1 + i, k_cell + self._macro_offsets[i] + choice] = 1.0
        src, dst = cell.edge_index
        dst = np.where(dst == n_cell - 1, n - 1, dst)
        chain = [0, *range(n_cell - 1, n_cell - 1 + n_macro), n - 1]
        edge_index = np.concatenate(
            [np.stack([src, dst]), np.array([chain[:-1], chain[1:]], dtype=np.int64)], axis=1
        ).astype(np.int64)
        return ArchGraph(x=x, edge_index=edge_index)

    def path_encoding(self, archs: Sequence[Arch]) -> np.ndarray:
        cells = self.cell_space.path_encoding([Arch("ecg1d", a.ops[:N_EDGES]) for a in archs])
        macro = np.array([a.ops[N_EDGES:] for a in archs], dtype=np.int64).reshape(
            len(archs), len(MACRO)
        )
        onehot = np.zeros((len(archs), self._n_macro_values), dtype=np.uint8)
        onehot[np.arange(len(archs))[:, None], macro + self._macro_offsets[None, :]] = 1
        return np.concatenate([cells, onehot], axis=1)
