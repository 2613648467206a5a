"""The flow encoder: operation-aware message passing along the data flow of a cell.

An alternative soft encoder to the GIN (``EncoderSettings(kind="flow")``), written for this
package from the idea of FlowerFormer (Hwang et al., CVPR 2024): a network computes its
nodes in data-flow order, so an encoder can update them in that order too.

* **Levels.** Each node's *forward level* is the length of the longest route reaching it
  from a node without predecessors (the input node: 0), its *backward level* the length of
  the longest route from it to a node without successors (the output node: 0).
  ``flow_levels`` computes both from the dense receive matrix.
* **Asynchronous sweeps.** One flow layer runs a forward sweep, then a backward one. The
  forward sweep updates the nodes level by level (1, 2, ...): a node is updated once, after
  all of its predecessors, from their *already updated* states, so one sweep carries the
  input's information to the output through the whole cell (a synchronous GIN needs as many
  layers as the longest route). The backward sweep does the same against the flow (each
  node hears from its successors), so every node also learns what its output feeds.
* **Operation-aware messages.** What a node sends depends on its operation:
  ``m_j = h_j * (1 + x_j G) + x_j B``, with ``x_j`` the one-hot node type and ``G``, ``B``
  learned per-type scale and shift vectors (one per sweep). A node's update is
  ``h_i <- MLP([h_i, sum_{j -> i} m_j])`` (Linear-ReLU-Linear-ReLU), one MLP per sweep.
* **Readout.** As the GIN's: after every layer, the masked node mean (or sum, see
  ``EncoderSettings.readout``) and the output node's state, all concatenated and mapped to
  ``emb_dim``.

Nodes no route reaches (an op on an edge whose source receives nothing) keep level 0 and
are never updated by the forward sweep: they carry no data, which is what they compute.
Input ``ArchTensors`` of ``B`` archs, output float32 ``[B, emb_dim]``.
"""

from __future__ import annotations

import torch
from torch import nn

from ecgnas.predictor.encoder import ArchTensors, EncoderSettings, layer_readout


def flow_levels(adj: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward and backward levels, int64 ``[B, n]`` each (0 on padding; see the module).

    adj:
        ``[B, n, n]``, ``adj[b, i, j] = 1`` when node ``i`` receives from ``j``; acyclic.
    mask:
        bool ``[B, n]``, true on real nodes.
    """
    n = adj.shape[1]
    edges = adj > 0.5
    fwd = torch.zeros(adj.shape[:2], dtype=torch.int64)
    bwd = torch.zeros_like(fwd)
    for _ in range(max(n - 1, 0)):
        # a node's level is one more than the deepest predecessor's (successor's, backward)
        fwd = torch.where(edges, fwd.unsqueeze(1) + 1, 0).amax(dim=2)
        bwd = torch.where(edges.transpose(1, 2), bwd.unsqueeze(1) + 1, 0).amax(dim=2)
    return fwd * mask, bwd * mask


class _Sweep(nn.Module):
    """One asynchronous pass over the levels (forward or, on the transposed graph, backward)."""

    def __init__(self, n_node_types: int, hidden: int) -> None:
        super().__init__()
        self.scale = nn.Linear(n_node_types, hidden, bias=False)
        self.shift = nn.Linear(n_node_types, hidden, bias=False)
        nn.init.zeros_(self.scale.weight)
        self.update = nn.Sequential(
            nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )

    def forward(
        self, h: torch.Tensor, x: torch.Tensor, adj: torch.Tensor, levels: torch.Tensor
    ) -> torch.Tensor:
        b, n, d = h.shape
        scale = 1.0 + self.scale(x)
        shift = self.shift(x)
        flat_levels = levels.reshape(-1)
        top = int(flat_levels.max().item()) if flat_levels.numel() else 0
        for level in range(1, top + 1):
            rows = torch.nonzero(flat_levels == level).squeeze(1)
            if rows.numel() == 0:
                continue
            msg = (adj @ (h * scale + shift)).reshape(b * n, d)[rows]
            flat = h.reshape(b * n, d)
            new = self.update(torch.cat([flat[rows], msg], dim=1))
            h = flat.index_copy(0, rows, new).reshape(b, n, d)
        return h


class FlowEncoder(nn.Module):
    """The flow encoder (see the module docstring): ``layers`` forward+backward sweeps."""

    def __init__(self, n_node_types: int, settings: EncoderSettings) -> None:
        super().__init__()
        self.settings = settings
        self.embed = nn.Sequential(nn.Linear(n_node_types, settings.hidden), nn.ReLU())
        self.forward_sweeps = nn.ModuleList(
            _Sweep(n_node_types, settings.hidden) for _ in range(settings.layers)
        )
        self.backward_sweeps = nn.ModuleList(
            _Sweep(n_node_types, settings.hidden) for _ in range(settings.layers)
        )
        per_layer = 3 if settings.readout == "mean_sum" else 2
        self.readout = nn.Linear(per_layer * settings.hidden * settings.layers, settings.emb_dim)

    def forward(self, t: ArchTensors) -> torch.Tensor:
        fwd_levels, bwd_levels = flow_levels(t.adj, t.mask)
        adj_back = t.adj.transpose(1, 2)
        maskf = t.mask.to(t.x.dtype).unsqueeze(-1)
        count = maskf.sum(dim=1).clamp(min=1.0)
        h = self.embed(t.x) * maskf
        parts: list[torch.Tensor] = []
        readout = self.settings.readout
        for fwd, bwd in zip(self.forward_sweeps, self.backward_sweeps):
            h = fwd(h, t.x, t.adj, fwd_levels)
            h = bwd(h, t.x, adj_back, bwd_levels) * maskf
            parts += layer_readout(h, count, t.out_index, readout)
        out: torch.Tensor = self.readout(torch.cat(parts, dim=1))
        return out
