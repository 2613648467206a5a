"""A second manual baseline: a tiny matched-filter CNN, with a small grid around it.

The network is the team's own reading of the published description of Farag, M. M. (2023),
"A Tiny Matched Filter-Based CNN for Inter-Patient ECG Classification and Arrhythmia
Detection at the Edge", Sensors 23(3):1365 (doi:10.3390/s23031365): a 1-D CNN of about
1,267 parameters on one beat of the first derivative of MLII at 128 Hz, whose first
convolution acts as a bank of matched filters. It is written from that description, not
from the authors' code, and it is not claimed to reproduce their network layer for layer.

What we build (``forward(beats [B, in_channels, W], rr [B, n_rr]) -> logits [B, n_classes]``,
any window ``W >= 32``)::

    matched filters  Conv1d(in_channels, F, K, 'same') -> BatchNorm -> ReLU -> MaxPool(2)
    conv stage       Conv1d(F, F, 9, 'same')          -> BatchNorm -> ReLU -> MaxPool(2)
    global pooling   max and mean over time           -> 2F features
    RR features      BatchNorm(n_rr), concatenated    -> 2F + n_rr features
    head             Dropout -> Linear(., D) -> ReLU -> Dropout -> Linear(D, n_classes)

Assumed where the description is not specific: the exact layer sizes (``F = 8`` matched
filters of ``K = 21`` samples, 164 ms at 128 Hz, roughly a QRS complex plus its
flanks; one further convolution of kernel 9; a hidden dense layer of ``D = 16`` units), the
batch normalisation after each convolution, ReLU activations, global max + mean pooling
(so the network takes any window, as the manual baseline does), the RR features joining
at the head (batch-normalised, as in the manual baseline), and no dropout. The filters are
learned from a random initialisation, like any convolution; nothing initialises them from
beat templates. What the beat channel holds (the first derivative of MLII at 128 Hz in the
paper) is the ECG recipe's input choice, not this module's.

Parameter count of the published point (``published_ops = (1, 1, 1, 0)``) with 4 classes
and one input channel: **1,276** with 8 RR features (1,240 with ecgnas' default 6).

The grid (``Arch.ops`` holds one choice index per dimension, in this order):

=============  ================  ==============================================
dimension      choices           meaning
=============  ================  ==============================================
filters        4, 8, 16          matched filters F (also the conv-stage width)
mf_kernel      15, 21, 31        matched-filter kernel K, samples (117-242 ms)
dense          8, 16, 32         hidden dense units D
dropout        0.0, 0.2          before each dense layer
=============  ================  ==============================================

3 x 3 x 3 x 2 = 54 configurations. The grid machinery is ``ecgnas.spaces.grid.GridSpace``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ecgnas.spaces.base import Arch
from ecgnas.spaces.grid import GridSpace

if TYPE_CHECKING:
    from torch import nn

DIMENSIONS: tuple[tuple[str, tuple[object, ...]], ...] = (
    ("filters", (4, 8, 16)),
    ("mf_kernel", (15, 21, 31)),
    ("dense", (8, 16, 32)),
    ("dropout", (0.0, 0.2)),
)
PUBLISHED = (1, 1, 1, 0)
#: kernel of the convolution after the matched filters
CONV_KERNEL = 9


@dataclass(frozen=True)
class TinyHyper:
    """The decoded hyperparameters of one tiny-CNN arch."""

    filters: int
    mf_kernel: int
    dense: int
    dropout: float


class TinySpace(GridSpace):
    """The hyperparameter grid of the tiny matched-filter CNN (see the module docstring)."""

    name = "tiny"
    dimensions = DIMENSIONS
    published_ops = PUBLISHED
    label = "tiny-CNN"

    def decode(self, arch: Arch) -> TinyHyper:
        """The hyperparameters an arch stands for (``ConfigError`` if invalid)."""
        v = self.values(arch)
        # the values are typed ``object``: DIMENSIONS is declared for mixed choice types
        return TinyHyper(
            filters=int(v["filters"]),  # type: ignore[call-overload]  # an int choice
            mf_kernel=int(v["mf_kernel"]),  # type: ignore[call-overload]  # an int choice
            dense=int(v["dense"]),  # type: ignore[call-overload]  # an int choice
            dropout=float(v["dropout"]),  # type: ignore[arg-type]  # a float choice
        )


def build_tiny_model(
    arch: Arch,
    n_classes: int = 4,
    n_rr: int = 6,
    in_channels: int = 1,
    *,
    seed: int | None = None,
) -> nn.Module:
    """The tiny matched-filter CNN for ``arch``: ``forward(beats [B, in_channels, W],
    rr [B, n_rr]) -> [B, n_classes]`` for any window ``W >= 32`` (``n_rr`` may be 0).

    With ``seed`` the initial weights depend on it alone (the global torch RNG is left as
    it was); without, they come from the global RNG.
    """
    import torch
    from torch import nn

    hp = TinySpace().decode(arch)

    class TinyMatchedFilterCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            f, k = hp.filters, hp.mf_kernel
            self.matched = nn.Sequential(
                nn.Conv1d(in_channels, f, k, padding=k // 2),
                nn.BatchNorm1d(f),
                nn.ReLU(),
                nn.MaxPool1d(2),
            )
            self.conv = nn.Sequential(
                nn.Conv1d(f, f, CONV_KERNEL, padding=CONV_KERNEL // 2),
                nn.BatchNorm1d(f),
                nn.ReLU(),
                nn.MaxPool1d(2),
            )
            self.rr_norm = nn.BatchNorm1d(n_rr) if n_rr > 0 else nn.Identity()
            self.head = nn.Sequential(
                nn.Dropout(hp.dropout),
                nn.Linear(2 * f + n_rr, hp.dense),
                nn.ReLU(),
                nn.Dropout(hp.dropout),
                nn.Linear(hp.dense, n_classes),
            )

        def forward(self, beats: torch.Tensor, rr: torch.Tensor) -> torch.Tensor:
            h = self.conv(self.matched(beats))
            pooled = torch.cat([h.amax(dim=2), h.mean(dim=2)], dim=1)
            logits: torch.Tensor = self.head(torch.cat([pooled, self.rr_norm(rr)], dim=1))
            return logits

    if seed is None:
        return TinyMatchedFilterCNN()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TinyMatchedFilterCNN()
