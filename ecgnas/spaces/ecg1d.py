"""The ECG 1-D cell space: an NB201-shaped cell (4 nodes, 6 edges) with 7 one-dimensional ops.

``7**6 = 117,649`` cells, small enough to enumerate. The ops were chosen for single heart
beats sampled at 360 Hz (MIT-BIH), 256 samples per beat window (~0.71 s):

* ``none``: zero (the edge is absent)
* ``skip_connect``: identity
* ``conv_k3``: ReLU, Conv1d k=3, BN; receptive field 3 samples (8 ms)
* ``conv_k9``: ReLU, Conv1d k=9, BN; 9 samples (25 ms)
* ``dil_conv_k5_d4``: ReLU, Conv1d k=5 dilation 4, BN; 17 samples (47 ms) for 5 weights
* ``sep_conv_k15``: ReLU, depthwise Conv1d k=15, pointwise 1x1, BN; 15 samples (42 ms)
* ``avg_pool_k3``: AvgPool1d k=3, stride 1 (padding not counted); 3 samples

So the cell chooses among four convolutional receptive fields (3, 9, 15, 17 samples), of
three costs (dense, dilated, depthwise-separable), plus smoothing, identity and absence.
Receptive fields are those of the op at the cell's own resolution; stages 2 and 3 run at
1/2 and 1/4 of the input rate, so the same op sees 2x and 4x as much time there (a QRS
complex lasts ~80-100 ms, i.e. 30-36 samples at stage 1). Ops are ReLU-Conv-BN as in NB201,
because a cell node *sums* its incoming edges: the node sum stays a pre-activation.

Op indices are the positions in ``ECG1D_OPS``; the edge order and both encodings are those
of ``ecgnas.spaces.cell``. The torch model is built by ``ecgnas.spaces.ecg1d_model``; this
module imports only numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecgnas.spaces.base import Arch
from ecgnas.spaces.cell import CellSpace, effective_ops

ECG1D_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "conv_k3",
    "conv_k9",
    "dil_conv_k5_d4",
    "sep_conv_k15",
    "avg_pool_k3",
)

REDUCTIONS: tuple[str, ...] = ("resblock", "maxpool")
"""How the cell network goes down between stages (``ECGModelConfig.reduction``): NB201's
ResNet block with stride 2, or the manual CNN's convolution then max pooling."""


@dataclass(frozen=True)
class OpSpec:
    """How one op is built.

    kind:
        ``"none"``, ``"skip"``, ``"conv"`` (ReLU-Conv-BN), ``"sep_conv"`` (ReLU, depthwise,
        pointwise, BN) or ``"avg_pool"``.
    kernel, dilation:
        Kernel size and dilation (1 for ``none`` and ``skip``); lengths are kept ('same'
        padding, ``dilation * (kernel - 1) / 2`` on each side, so kernels are odd).
    """

    kind: str
    kernel: int = 1
    dilation: int = 1

    @property
    def receptive_field(self) -> int:
        """Input samples that one output sample depends on (0 for ``none``)."""
        if self.kind == "none":
            return 0
        return self.dilation * (self.kernel - 1) + 1


OP_SPECS: dict[str, OpSpec] = {
    "none": OpSpec("none"),
    "skip_connect": OpSpec("skip"),
    "conv_k3": OpSpec("conv", kernel=3),
    "conv_k9": OpSpec("conv", kernel=9),
    "dil_conv_k5_d4": OpSpec("conv", kernel=5, dilation=4),
    "sep_conv_k15": OpSpec("sep_conv", kernel=15),
    "avg_pool_k3": OpSpec("avg_pool", kernel=3),
}


class ECG1DSpace(CellSpace):
    """The ``ecg1d`` space: ``CellSpace`` with the ops of ``ECG1D_OPS`` (see module docstring).

    ``ECG1DSpace().op_specs[i]`` describes op ``i``; build a network with
    ``ecgnas.spaces.ecg1d_model.build_model(arch, config)``.
    """

    def __init__(self) -> None:
        super().__init__("ecg1d", ECG1D_OPS)
        self.op_specs: tuple[OpSpec, ...] = tuple(OP_SPECS[name] for name in ECG1D_OPS)

    def canonical(self, arch: Arch) -> str:
        """Function-aware hash: the key of the cell with its dead edges set to ``none``
        (``ecgnas.spaces.cell.effective_ops``). Cells that differ only on dead edges build the
        same network, so a search trains only one of them. ``enumerate()`` and ``size()``
        still count all ``7**6`` cells."""
        return Arch(self.name, effective_ops(arch.ops, self.none_index)).key()
