"""Architecture encoders: the GIN *soft* encoder and the path-encoding *hard* encoder.

Both work for any ``SearchSpace`` through ``to_graph``, ``n_node_types``, ``path_encoding``
and ``path_length``; nothing here knows which space it encodes.

The graphs of the built-in spaces are tiny (at most 8 nodes), so the GIN runs on *dense*
batches: node features ``[B, n_max, n_node_types]`` and a receive matrix ``[B, n_max, n_max]``
(``adj[b, i, j] = 1`` when node ``i`` receives from node ``j``). One batched matmul per layer is
several times faster on CPU than scatter-based message passing on graphs this small.
``ArchTensors`` holds these tensors for a fixed list of archs, built once and sliced by row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import DenseGINConv
from torch_geometric.utils import to_dense_adj, to_dense_batch

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch, SearchSpace
from ecgnas.spaces.encodings import stack_graphs


@dataclass(frozen=True)
class ArchTensors:
    """Dense encodings of ``n`` archs (row ``i`` is arch ``i`` of the list they came from).

    x:
        float32 ``[n, n_max, n_node_types]`` one-hot node types, zero rows for padding.
    adj:
        float32 ``[n, n_max, n_max]``; ``adj[b, i, j] = 1`` when node ``i`` receives from ``j``
        (the transpose of ``to_dense_adj``), so ``adj @ h`` sums each node's predecessors.
    mask:
        bool ``[n, n_max]``, true on real nodes.
    out_index:
        int64 ``[n]``, the output node of each graph (its last node).
    path:
        uint8 ``[n, path_length]`` path encodings (kept compact; ``path_float`` converts).
    """

    x: torch.Tensor
    adj: torch.Tensor
    mask: torch.Tensor
    out_index: torch.Tensor
    path: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @classmethod
    def build(cls, space: SearchSpace, archs: Sequence[Arch]) -> ArchTensors:
        """Encode ``archs`` of ``space`` (``ValueError`` when ``archs`` is empty)."""
        if len(archs) == 0:
            raise ValueError("ArchTensors.build needs at least one arch")
        x_np, edge_index_np, batch_np = stack_graphs([space.to_graph(a) for a in archs])
        x = torch.from_numpy(x_np)
        edge_index = torch.from_numpy(edge_index_np)
        batch = torch.from_numpy(batch_np)
        n = len(archs)
        sizes = np.bincount(batch_np, minlength=n)
        n_max = int(sizes.max())
        dense_x, mask = to_dense_batch(x, batch, max_num_nodes=n_max, batch_size=n)
        if edge_index.shape[1] > 0:
            adj = to_dense_adj(edge_index, batch, max_num_nodes=n_max, batch_size=n)
        else:
            adj = torch.zeros(n, n_max, n_max)
        adj = adj.transpose(1, 2).contiguous()
        out_index = torch.from_numpy(sizes.astype(np.int64) - 1)
        path = torch.from_numpy(np.ascontiguousarray(space.path_encoding(archs), dtype=np.uint8))
        return cls(dense_x.contiguous(), adj, mask, out_index, path)

    def rows(self, index: torch.Tensor | np.ndarray | Sequence[int]) -> ArchTensors:
        """The archs at ``index`` (int64 row numbers), in that order."""
        idx = torch.as_tensor(np.asarray(index, dtype=np.int64))
        return ArchTensors(
            self.x[idx], self.adj[idx], self.mask[idx], self.out_index[idx], self.path[idx]
        )

    def path_float(self) -> torch.Tensor:
        """float32 ``[n, path_length]``."""
        return self.path.to(torch.float32)


#: node poolings of the readout: the mean, the sum or both, with the output node's state
READOUTS: tuple[str, ...] = ("mean", "sum", "mean_sum")
#: soft encoders: the GIN (synchronous message passing) or the flow encoder
#: (``ecgnas.predictor.flow``: asynchronous, operation-aware passes in data-flow order)
ENCODER_KINDS: tuple[str, ...] = ("gin", "flow")


@dataclass(frozen=True)
class EncoderSettings:
    """Shape of the GIN soft encoder.

    hidden:
        Width of every GIN layer.
    layers:
        Number of GIN layers. Messages flow along edges (input towards output), so the
        output node sees the whole cell when ``layers`` is at least the longest route length
        in edges (4 for the 4-node cells: input, three ops, output).
    emb_dim:
        Width of the embedding (the readout).
    readout:
        Node pooling per layer, next to the output node's state: ``"mean"`` (default; ranks
        NB201 best after CLP), ``"sum"`` (can count ops, e.g. on dead edges) or ``"mean_sum"``.
    kind:
        ``"gin"`` (default, ``GINEncoder``) or ``"flow"`` (``ecgnas.predictor.flow``; there
        ``layers`` counts forward+backward sweep pairs). ``to_json`` leaves the default out,
        so the keys of the encoders made before the field existed stay valid.
    """

    hidden: int = 64
    layers: int = 4
    emb_dim: int = 64
    readout: str = "mean"
    kind: str = "gin"

    def __post_init__(self) -> None:
        if self.readout not in READOUTS:
            raise ConfigError(f"readout must be one of {READOUTS}, not {self.readout!r}")
        if self.kind not in ENCODER_KINDS:
            raise ConfigError(f"encoder kind must be one of {ENCODER_KINDS}, not {self.kind!r}")
        if min(self.hidden, self.layers, self.emb_dim) < 1:
            raise ConfigError("encoder hidden, layers and emb_dim must be at least 1")


class GINEncoder(nn.Module):
    """GIN over the directed arch graph; the embedding reads out every layer.

    Layer ``l``: ``h_l = MLP_l((1 + eps_l) h_{l-1} + sum of predecessors' h_{l-1})``
    (``torch_geometric.nn.DenseGINConv``, learned ``eps``), ``MLP = Linear-ReLU-Linear-ReLU``.
    Readout: for every layer the masked mean (or sum, see ``EncoderSettings.readout``) over
    nodes and the output node's state, concatenated and mapped by a linear layer to
    ``emb_dim``. Input ``ArchTensors`` of ``B``
    archs, output float32 ``[B, emb_dim]``.
    """

    def __init__(self, n_node_types: int, settings: EncoderSettings) -> None:
        super().__init__()
        self.settings = settings
        self.convs = nn.ModuleList()
        width = n_node_types
        for _ in range(settings.layers):
            mlp = nn.Sequential(
                nn.Linear(width, settings.hidden),
                nn.ReLU(),
                nn.Linear(settings.hidden, settings.hidden),
                nn.ReLU(),
            )
            self.convs.append(DenseGINConv(mlp, train_eps=True))
            width = settings.hidden
        per_layer = 3 if settings.readout == "mean_sum" else 2
        self.readout = nn.Linear(per_layer * settings.hidden * settings.layers, settings.emb_dim)

    def forward(self, t: ArchTensors) -> torch.Tensor:
        h = t.x
        maskf = t.mask.to(h.dtype)
        count = maskf.sum(dim=1, keepdim=True).clamp(min=1.0)
        parts: list[torch.Tensor] = []
        for conv in self.convs:
            h = conv(h, t.adj, t.mask)
            parts += layer_readout(
                h * maskf.unsqueeze(-1), count, t.out_index, self.settings.readout
            )
        out: torch.Tensor = self.readout(torch.cat(parts, dim=1))
        return out


def layer_readout(
    h: torch.Tensor, count: torch.Tensor, out_index: torch.Tensor, readout: str
) -> list[torch.Tensor]:
    """One layer's graph readout of masked node states ``h`` ``[B, N, H]`` (padding rows
    zero; ``count`` ``[B, 1]`` real nodes): the mean and/or sum over nodes (``readout``:
    mean, sum or mean_sum), then the output node's state."""
    total = h.sum(dim=1)
    parts = []
    if readout != "sum":
        parts.append(total / count)
    if readout != "mean":
        parts.append(total)
    parts.append(h[torch.arange(h.shape[0]), out_index])
    return parts


def build_encoder(n_node_types: int, settings: EncoderSettings) -> nn.Module:
    """A fresh soft encoder of ``settings.kind`` (``GINEncoder`` or ``FlowEncoder``)."""
    if settings.kind == "flow":
        from ecgnas.predictor.flow import FlowEncoder

        return FlowEncoder(n_node_types, settings)
    return GINEncoder(n_node_types, settings)


class DualViewEncoder(nn.Module):
    """A soft encoder's embedding concatenated with the hard view (the path encoding):
    ``ArchTensors -> [B, emb_dim + path_length]``. The soft encoder is ``self.soft``."""

    def __init__(self, soft: nn.Module) -> None:
        super().__init__()
        self.soft = soft

    def forward(self, t: ArchTensors) -> torch.Tensor:
        return torch.cat([self.soft(t), t.path_float()], dim=1)


class PathEncoder(nn.Module):
    """MLP on the path encoding (the *hard* view): float ``[B, path_length]`` -> ``[B, out]``."""

    def __init__(self, path_length: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(path_length, hidden),
            nn.ReLU(),
            nn.Linear(hidden, out_dim),
        )

    def forward(self, path: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(path)
        return out


def projection_head(in_dim: int, out_dim: int) -> nn.Module:
    """The contrastive projection head (discarded after pre-training): Linear-ReLU-Linear."""
    return nn.Sequential(nn.Linear(in_dim, in_dim), nn.ReLU(), nn.Linear(in_dim, out_dim))


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous number.

    The predictor's models are tiny, so one thread is the fastest on a shared CPU (CLP on
    NB201 took 100 s with 1 thread and 803 s with 2 on the 2 shared cores, see
    ``reports/predictor_cost.md``), and float reductions, hence the trained weights, depend
    on the thread count. The setting is process-wide while the block runs.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
