"""Build a ``torch.nn.Module`` from an ``ecg1d`` arch: the macro skeleton around the cell.

Inputs: ``beats`` float32 ``[B, 1, W]`` (one lead, W samples, W divisible by 4; default 256
samples at 360 Hz) and ``rr`` float32 ``[B, n_rr]`` (RR-interval features, default 6).
Output: logits float32 ``[B, n_classes]``.

Macro skeleton (NB201's, in 1-D; ``C = config.width``, ``N = config.cells_per_stage``)::

    stem: Conv1d(1, C, stem_kernel) + BN                          [B, C,  W]
    stage 1: N cells, C channels                                  [B, C,  W]
    reduction: ResNet basic block, stride 2, C -> 2C              [B, 2C, W/2]
    stage 2: N cells, 2C channels                                 [B, 2C, W/2]
    reduction: ResNet basic block, stride 2, 2C -> 4C             [B, 4C, W/4]
    stage 3: N cells, 4C channels                                 [B, 4C, W/4]
    BN -> ReLU -> mean over time (P = pool_bins time bins)        [B, 4C * P]
    concat RR branch (BN -> Linear(n_rr, rr_hidden) -> ReLU)      [B, 4C * P + rr_hidden]
    dropout -> Linear                                             [B, n_classes]

With ``head_hidden`` D > 0 the head is instead the two manual baselines' (``ecgnas.spaces.
manual``, ``ecgnas.spaces.tiny``): max and mean over time, the batch-normalised RR features
concatenated, then a hidden layer over both, so that the classifier can combine a beat's
shape with its timing::

    BN -> ReLU -> max and mean over time                          [B, 2 * 4C * P]
    concat BN(rr)                                                 [B, 2 * 4C * P + n_rr]
    dropout -> Linear(., D) -> ReLU -> dropout -> Linear(D, n_classes)

With ``reduction="maxpool"`` each reduction is instead the manual CNN's way down: ReLU ->
Conv1d(k=3, C -> 2C) -> BN -> max pooling over 2 samples.

The cell: node 0 is the cell input, node 3 its output, every node sums the ops on its
incoming edges (NB201 semantics). The wiring is fixed when the model is built, so ``forward``
has no data-dependent control flow (TorchScript and ONNX export work). Edges that cannot
change the output are left out when building:

* edges whose op is ``none``;
* edges leaving a node that receives nothing (a "zero" node);
* edges into a node that does not reach the cell output (dead ends).

The last two are the only departure from NB201's reference code, which still applies those
ops (to an all-zero input, whose result is a learned constant from the BatchNorm shift, or to
a node nobody reads). Leaving them out makes parameter and FLOP counts describe the real
computation. A cell whose output receives nothing returns zeros of its input's shape; the
network still runs (the reduction blocks and RR features carry on).

Importing this module imports torch; ``ecgnas.spaces`` itself does not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ecgnas.errors import ConfigError, check_fields
from ecgnas.spaces.base import Arch
from ecgnas.spaces.cell import EDGES, N_NODES, live_edges
from ecgnas.spaces.ecg1d import ECG1D_OPS, OP_SPECS, REDUCTIONS, ECG1DSpace, OpSpec


@dataclass(frozen=True)
class ECGModelConfig:
    """Macro settings of the ECG network (the cell comes from the arch).

    width:
        Channels of stage 1 (stem output); stages 2 and 3 have ``2 * width`` and ``4 * width``.
    cells_per_stage:
        Cells in each of the three stages (depth).
    n_classes:
        Output classes (4 for the AAMI classes N, S, V, F; 5 with Q).
    n_rr:
        RR features per beat (0: the model ignores ``rr``, which must then be ``[B, 0]``).
    rr_hidden:
        Width of the RR branch's linear layer; 0 feeds the batch-normalised RR features
        straight into the classifier.
    dropout:
        Dropout probability before the classifier, in ``[0, 1)``.
    stem_kernel:
        Kernel of the stem convolution in samples (odd).
    input_len:
        Beat window length ``W`` in samples (a multiple of 4); used to count FLOPs. The
        network runs on any length that is a multiple of 4.
    in_channels:
        Signal channels of ``beats`` (1: the window; more with a derivative channel or
        neighbouring beats, see ``ecgnas.data.inputs``).
    pool_bins:
        Time bins of the final pooling: 1 averages over the whole window (NB201's global
        pooling); ``P > 1`` averages over ``P`` equal stretches of it and keeps them apart,
        so the classifier sees *where* in the beat window a feature occurs (a P wave before
        the R peak, say), as the flattening of the manual CNN does.
    head_hidden:
        0: the linear classifier above. ``D > 0``: the manual baselines' head (max and mean
        pooling, the RR features joined before a hidden layer of ``D`` units; ``rr_hidden``
        is then unused).
    reduction:
        How a stage halves the length and doubles the channels: ``"resblock"`` (NB201's
        ResNet basic block with stride 2) or ``"maxpool"`` (the manual CNN's way: a 3-sample
        ReLU-Conv-BN to the new width, then max pooling over 2 samples).

    ``ConfigError`` on any value out of range.
    """

    width: int = 16
    cells_per_stage: int = 1
    n_classes: int = 4
    n_rr: int = 6
    rr_hidden: int = 16
    dropout: float = 0.1
    stem_kernel: int = 7
    input_len: int = 256
    in_channels: int = 1
    pool_bins: int = 1
    head_hidden: int = 0
    reduction: str = "resblock"

    def __post_init__(self) -> None:
        checks = [
            (self.width >= 1, "width must be >= 1"),
            (self.cells_per_stage >= 1, "cells_per_stage must be >= 1"),
            (self.n_classes >= 2, "n_classes must be >= 2"),
            (self.n_rr >= 0, "n_rr must be >= 0"),
            (self.in_channels >= 1, "in_channels must be >= 1"),
            (self.pool_bins >= 1, "pool_bins must be >= 1"),
            (self.head_hidden >= 0, "head_hidden must be >= 0"),
            (self.rr_hidden >= 0, "rr_hidden must be >= 0"),
            (self.reduction in REDUCTIONS, f"reduction must be one of {', '.join(REDUCTIONS)}"),
            (0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)"),
            (self.stem_kernel >= 1 and self.stem_kernel % 2 == 1, "stem_kernel must be odd"),
            (
                self.input_len >= 4 and self.input_len % 4 == 0,
                "input_len must be a positive multiple of 4",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"ECGModelConfig: {message} (got {self})")

    def to_json(self) -> dict[str, Any]:
        """Every field, keys sorted, plain JSON types; ``from_json`` inverts it."""
        return dict(sorted(asdict(self).items()))

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ECGModelConfig:
        """Inverse of ``to_json``; unknown keys raise ``ConfigError`` (missing keys take defaults)."""
        return cls(**check_fields(cls, obj, "ECGModelConfig key(s)"))


# --- the cell's wiring (pure Python, no torch) ------------------------------------------------


def cell_plan(ops: tuple[int, ...], none_index: int = 0) -> list[tuple[int, list[tuple[int, int]]]]:
    """The edges a cell computes, by node: ``[(node, [(edge, source_node), ...]), ...]``.

    Nodes come in topological order and the last entry, when any, is node 3 (the output). An
    empty list means the cell's output receives nothing (the cell returns zeros). Edges are
    dropped when their op is ``none``, their source receives nothing, or their target does
    not reach node 3 (see the module docstring).
    """
    kept = live_edges(ops, none_index)
    plan: list[tuple[int, list[tuple[int, int]]]] = []
    for node in range(1, N_NODES):
        incoming = [(e, EDGES[e][0]) for e in kept if EDGES[e][1] == node]
        if incoming:
            plan.append((node, incoming))
    return plan


# --- modules ------------------------------------------------------------------------------


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv1d (no bias, 'same' padding at stride 1) -> BatchNorm1d."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int = 1, dilation: int = 1
    ) -> None:
        pad = dilation * (kernel - 1) // 2
        super().__init__(
            nn.ReLU(),
            nn.Conv1d(c_in, c_out, kernel, stride, pad, dilation=dilation, bias=False),
            nn.BatchNorm1d(c_out),
        )


class SepConv(nn.Sequential):
    """ReLU -> depthwise Conv1d -> pointwise Conv1d -> BatchNorm1d."""

    def __init__(self, channels: int, kernel: int, dilation: int = 1) -> None:
        pad = dilation * (kernel - 1) // 2
        super().__init__(
            nn.ReLU(),
            nn.Conv1d(
                channels,
                channels,
                kernel,
                padding=pad,
                dilation=dilation,
                groups=channels,
                bias=False,
            ),
            nn.Conv1d(channels, channels, 1, bias=False),
            nn.BatchNorm1d(channels),
        )


class Node(nn.Module):
    """Sums ``ops[i](states[sources[i]])`` (``sources`` index the cell's computed states)."""

    def __init__(self, ops: list[nn.Module], sources: list[int]) -> None:
        super().__init__()
        self.ops = nn.ModuleList(ops)
        self.sources: list[int] = list(sources)

    def forward(self, states: list[Tensor]) -> Tensor:
        outs: list[Tensor] = []
        for i, op in enumerate(self.ops):
            outs.append(op(states[self.sources[i]]))
        total = outs[0]
        for k in range(1, len(outs)):
            total = total + outs[k]
        return total


class Cell(nn.Module):
    """A cell with at least one route to its output (see ``cell_plan``)."""

    def __init__(self, nodes: list[Node]) -> None:
        super().__init__()
        self.nodes = nn.ModuleList(nodes)

    def forward(self, x: Tensor) -> Tensor:
        states: list[Tensor] = [x]
        for node in self.nodes:
            states.append(node(states))
        return states[-1]


class ZeroCell(nn.Module):
    """A cell whose output receives nothing: zeros of the input's shape."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.zeros_like(x)


class ResBlock(nn.Module):
    """NB201's reduction: ResNet basic block, stride 2, with an avg-pool + 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool1d(2, 2), nn.Conv1d(c_in, c_out, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.conv_b(self.conv_a(x)) + self.shortcut(x)
        return out


class PoolReduction(nn.Sequential):
    """The manual CNN's reduction: ReLU-Conv-BN (3 samples) to ``c_out``, max pool over 2."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(ReLUConvBN(c_in, c_out, 3), nn.MaxPool1d(2, 2))


class ECGCellNet(nn.Module):
    """The ECG network; ``forward(beats [B,in_channels,W], rr [B,n_rr]) -> logits [B,n_classes]``."""

    def __init__(self, arch: Arch, config: ECGModelConfig) -> None:
        super().__init__()
        self.arch = arch
        self.config = config
        c = config.width
        self.stem = nn.Sequential(
            nn.Conv1d(
                config.in_channels,
                c,
                config.stem_kernel,
                padding=config.stem_kernel // 2,
                bias=False,
            ),
            nn.BatchNorm1d(c),
        )
        layers: list[nn.Module] = []
        channels = c
        reduce = ResBlock if config.reduction == "resblock" else PoolReduction
        for stage in range(3):
            if stage > 0:
                layers.append(reduce(channels, 2 * channels))
                channels *= 2
            layers.extend(make_cell(arch, channels) for _ in range(config.cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.last_act = nn.Sequential(nn.BatchNorm1d(channels), nn.ReLU())
        bins = config.pool_bins
        self.pool = nn.AdaptiveAvgPool1d(bins) if bins > 1 else None
        dense = config.head_hidden > 0
        self.max_pool = nn.AdaptiveMaxPool1d(bins) if dense else None
        rr_layers: list[nn.Module] = []
        rr_width = config.n_rr
        if config.n_rr > 0:
            rr_layers.append(nn.BatchNorm1d(config.n_rr))
            if config.rr_hidden > 0 and not dense:
                rr_layers += [nn.Linear(config.n_rr, config.rr_hidden), nn.ReLU()]
                rr_width = config.rr_hidden
        self.rr_branch = nn.Sequential(*rr_layers)
        self.dropout = nn.Dropout(config.dropout)
        n_features = channels * bins * (2 if dense else 1) + rr_width
        self.classifier: nn.Module
        if dense:
            self.classifier = nn.Sequential(
                nn.Linear(n_features, config.head_hidden),
                nn.ReLU(),
                nn.Dropout(config.dropout),
                nn.Linear(config.head_hidden, config.n_classes),
            )
        else:
            self.classifier = nn.Linear(n_features, config.n_classes)

    def forward(self, beats: Tensor, rr: Tensor) -> Tensor:
        x = self.last_act(self.cells(self.stem(beats)))
        pooled = x.mean(dim=-1) if self.pool is None else self.pool(x).flatten(1)
        if self.max_pool is not None:
            pooled = torch.cat([self.max_pool(x).flatten(1), pooled], dim=1)
        features = torch.cat([pooled, self.rr_branch(rr)], dim=1)
        logits: Tensor = self.classifier(self.dropout(features))
        return logits


def make_op(spec: OpSpec, channels: int) -> nn.Module:
    """The module of one (non-``none``) op at ``channels`` channels; keeps shape ``[B, C, L]``."""
    if spec.kind == "skip":
        return nn.Identity()
    if spec.kind == "conv":
        return ReLUConvBN(channels, channels, spec.kernel, dilation=spec.dilation)
    if spec.kind == "sep_conv":
        return SepConv(channels, spec.kernel, spec.dilation)
    if spec.kind == "avg_pool":
        return nn.AvgPool1d(spec.kernel, 1, spec.kernel // 2, count_include_pad=False)
    raise ConfigError(f"no module for op kind {spec.kind!r}")


def make_cell(arch: Arch, channels: int) -> nn.Module:
    """One cell of ``arch`` at ``channels`` channels (``Cell``, or ``ZeroCell`` if no route)."""
    plan = cell_plan(arch.ops, ECG1D_OPS.index("none"))
    if not plan:
        return ZeroCell()
    position = {0: 0}  # node -> index in the cell's list of computed states
    nodes = []
    for node, incoming in plan:
        ops = [make_op(OP_SPECS[ECG1D_OPS[arch.ops[e]]], channels) for e, _ in incoming]
        nodes.append(Node(ops, [position[src] for _, src in incoming]))
        position[node] = len(position)
    return Cell(nodes)


# --- public API -----------------------------------------------------------------------------


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Seed torch's CPU generator inside the block and restore its state afterwards."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def build_model(
    arch: Arch, config: ECGModelConfig | None = None, *, seed: int | None = None
) -> nn.Module:
    """The network for ``arch`` (an ``ecg1d`` cell) under ``config`` (default settings if None).

    ``seed``: when given, the initial weights depend only on ``(arch, config, seed)`` and the
    global torch generator is left untouched; when None, the global generator is used. The
    model is returned in training mode. ``ConfigError`` if ``arch`` is not an ``ecg1d`` cell.
    """
    if not ECG1DSpace().is_valid(arch):
        raise ConfigError(f"not an ecg1d arch: {arch.to_json()}")
    config = config or ECGModelConfig()
    with _seeded(seed):
        return ECGCellNet(arch, config)


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters (``requires_grad``); BatchNorm running stats excluded."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: nn.Module, input_len: int | None = None) -> int:
    """Multiply-accumulates of one beat through ``model`` (an ``ECGCellNet``).

    Convention (NB201's): each ``Conv1d`` counts ``out_channels * out_len * in_channels /
    groups * kernel`` MACs and each ``Linear`` ``in_features * out_features``; a bias adds one
    per output element. BatchNorm, ReLU, pooling, additions and dropout are not counted. Only
    the edges the model computes are counted (see ``cell_plan``). ``input_len`` defaults to
    ``model.config.input_len``. Shapes come from forward hooks during one forward pass of an
    all-zero beat in eval mode without gradients; hooks and training mode are restored
    afterwards, so ``model`` is left as it was.
    """
    config: ECGModelConfig = model.config  # type: ignore[assignment]
    length = config.input_len if input_len is None else input_len
    total = 0

    def conv_hook(module: nn.Conv1d, inputs: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal total
        per_output = (module.in_channels // module.groups) * module.kernel_size[0]
        n_out = out.numel() // out.shape[0]
        total += n_out * per_output + (n_out if module.bias is not None else 0)

    def linear_hook(module: nn.Linear, inputs: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal total
        n_out = out.numel() // out.shape[0]
        total += n_out * module.in_features + (n_out if module.bias is not None else 0)

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv1d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, config.in_channels, length), torch.zeros(1, config.n_rr))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return total
