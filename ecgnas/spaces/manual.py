"""The manual baseline: a hand-designed 1-D CNN from the literature, with a small grid of
hyperparameters that random search tunes under the same budget as the NAS search.

The network is the heartbeat CNN of Acharya et al. (2017), "A deep convolutional neural
network model to classify heartbeats", Computers in Biology and Medicine 89:389-396
(doi:10.1016/j.compbiomed.2017.08.022): three convolution + max-pool blocks with 5, 10 and 20
filters (kernels 3, 4, 4), then fully connected layers of 30 and 20 units and the output
layer, leaky-ReLU activations. Two changes so the comparison with the NAS model is fair:
the RR features are concatenated before the first fully connected layer (as in the NAS
skeleton), and the beat window is ecgnas' (256 samples at 360 Hz rather than 260).

The grid (``Arch.ops`` holds one choice index per dimension, in this order):

=================  ===========================  =========================================
dimension          choices                      meaning
=================  ===========================  =========================================
filters            x1, x2, x4, x8               filters per block: (5, 10, 20) x factor
kernel_scale       x1, x2, x3                   kernels (3, 4, 4) x scale (odd-rounded up)
dense              (30, 20), (64, 32), (128,64) units of the two hidden dense layers
dropout            0.0, 0.2, 0.4                before each hidden dense layer
batchnorm          off, on                      BatchNorm after each convolution
activation         leaky_relu, relu
=================  ===========================  =========================================

4 x 3 x 3 x 3 x 2 x 2 = 432 configurations; ``(0, 0, 0, 0, 0, 0)`` is the published network.
The grid machinery (sampling, mutation, crossover, the chain graph and the path encoding, so
that any strategy can run on this space) is ``ecgnas.spaces.grid.GridSpace``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ecgnas.spaces.base import Arch
from ecgnas.spaces.grid import GridSpace

if TYPE_CHECKING:
    from torch import nn

DIMENSIONS: tuple[tuple[str, tuple[object, ...]], ...] = (
    ("filters", (1, 2, 4, 8)),
    ("kernel_scale", (1, 2, 3)),
    ("dense", ((30, 20), (64, 32), (128, 64))),
    ("dropout", (0.0, 0.2, 0.4)),
    ("batchnorm", (False, True)),
    ("activation", ("leaky_relu", "relu")),
)
PUBLISHED = (0, 0, 0, 0, 0, 0)


@dataclass(frozen=True)
class ManualHyper:
    """The decoded hyperparameters of one manual-baseline arch."""

    filters: tuple[int, int, int]
    kernels: tuple[int, int, int]
    dense: tuple[int, int]
    dropout: float
    batchnorm: bool
    activation: str


class ManualSpace(GridSpace):
    """The hyperparameter grid of the manual baseline (see the module docstring)."""

    name = "manual"
    dimensions = DIMENSIONS
    published_ops = PUBLISHED
    label = "manual-baseline"

    def decode(self, arch: Arch) -> ManualHyper:
        """The hyperparameters an arch stands for (``ConfigError`` if invalid)."""
        v = self.values(arch)
        # the values are typed ``object``: DIMENSIONS mixes int, float and tuple choices
        factor = int(v["filters"])  # type: ignore[call-overload]  # an int choice
        scale = int(v["kernel_scale"])  # type: ignore[call-overload]  # an int choice
        kernels = tuple(k * scale + (1 - (k * scale) % 2) for k in (3, 4, 4))
        return ManualHyper(
            filters=(5 * factor, 10 * factor, 20 * factor),
            kernels=kernels,
            dense=v["dense"],  # type: ignore[arg-type]  # a tuple choice
            dropout=float(v["dropout"]),  # type: ignore[arg-type]  # a float choice
            batchnorm=bool(v["batchnorm"]),
            activation=str(v["activation"]),
        )


def build_manual_model(
    arch: Arch,
    n_classes: int = 4,
    n_rr: int = 6,
    in_channels: int = 1,
    *,
    seed: int | None = None,
) -> nn.Module:
    """The baseline CNN for ``arch``: ``forward(beats [B, in_channels, W], rr [B, n_rr]) ->
    [B, n_classes]``.

    Works for any window ``W >= 8`` (global max pooling after the last block; the published
    network flattens a fixed-length map, which would tie it to one window).
    """
    import torch
    from torch import nn

    hp = ManualSpace().decode(arch)

    class AcharyaCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            act: type[nn.Module] = nn.LeakyReLU if hp.activation == "leaky_relu" else nn.ReLU
            layers: list[nn.Module] = []
            c_in = in_channels
            for c_out, k in zip(hp.filters, hp.kernels):
                layers.append(nn.Conv1d(c_in, c_out, k, padding=k // 2))
                if hp.batchnorm:
                    layers.append(nn.BatchNorm1d(c_out))
                layers += [act(), nn.MaxPool1d(2)]
                c_in = c_out
            self.features = nn.Sequential(*layers)
            self.rr_norm = nn.BatchNorm1d(n_rr) if n_rr > 0 else nn.Identity()
            self.head = nn.Sequential(
                nn.Dropout(hp.dropout),
                nn.Linear(c_in * 2 + n_rr, hp.dense[0]),
                act(),
                nn.Dropout(hp.dropout),
                nn.Linear(hp.dense[0], hp.dense[1]),
                act(),
                nn.Linear(hp.dense[1], n_classes),
            )

        def forward(self, beats: torch.Tensor, rr: torch.Tensor) -> torch.Tensor:
            h = self.features(beats)
            pooled = torch.cat([h.amax(dim=2), h.mean(dim=2)], dim=1)
            logits: torch.Tensor = self.head(torch.cat([pooled, self.rr_norm(rr)], dim=1))
            return logits

    if seed is None:
        return AcharyaCNN()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AcharyaCNN()
