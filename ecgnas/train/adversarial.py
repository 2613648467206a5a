"""Subject-invariant training: a record discriminator behind gradient reversal.

``RecordAdversary`` reads the input of the model's last ``nn.Linear`` (the representation
the classifier head sees) through a forward pre-hook, and trains a small discriminator
(``Linear -> ReLU -> Linear``, 64 hidden units) to tell which training record a beat comes
from. Its gradient reaches the model reversed and scaled by ``lambda``, so the model is
pushed towards features that do not identify the patient (domain-adversarial training,
Ganin & Lempitsky 2015, written here from the idea). ``lambda`` ramps from 0 to ``weight``
over training as ``weight * (2 / (1 + exp(-10 p)) - 1)``, ``p`` the fraction of steps done.

Only DS1 training records are discriminated; held-out records never enter the loss.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgnas.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

HIDDEN = 64


def _reverse(x: torch.Tensor, lam: float) -> torch.Tensor:
    import torch

    class _GradReverse(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, t: torch.Tensor) -> torch.Tensor:
            return t.view_as(t)

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
            return -lam * grad

    out: torch.Tensor = _GradReverse.apply(x)
    return out


class RecordAdversary:
    """The discriminator, its hook on ``model`` and the record index of each training beat."""

    def __init__(
        self,
        model: nn.Module,
        records: np.ndarray,
        weight: float,
        total_steps: int,
        device: torch.device,
    ) -> None:
        import torch
        from torch import nn

        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ConfigError("adversarial training needs a model with a final nn.Linear")
        head = linears[-1]
        names, index = np.unique(np.asarray(records), return_inverse=True)
        if names.size < 2:
            raise ConfigError("adversarial training needs at least two training records")
        self.features: torch.Tensor | None = None
        self._handle = head.register_forward_pre_hook(self._keep)
        self.discriminator = nn.Sequential(
            nn.Linear(head.in_features, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, int(names.size))
        ).to(device)
        self.record_index = torch.from_numpy(index.astype(np.int64)).to(device)
        self.weight = float(weight)
        self.total_steps = max(1, int(total_steps))
        self.step = 0

    def _keep(self, module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        self.features = inputs[0]

    def parameters(self) -> list[torch.nn.Parameter]:
        return list(self.discriminator.parameters())

    def lam(self) -> float:
        p = min(1.0, self.step / self.total_steps)
        return self.weight * (2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0)

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        """The discriminator's cross-entropy on the last forward pass (batch ``batch``)."""
        import torch.nn.functional as F

        if self.features is None:
            raise RuntimeError("no forward pass seen before the adversarial loss")
        lam = self.lam()
        self.step += 1
        logits = self.discriminator(_reverse(self.features.float(), lam))
        return F.cross_entropy(logits, self.record_index[batch])

    def close(self) -> None:
        """Remove the hook (the trained model carries nothing of the adversary)."""
        self._handle.remove()
        self.features = None
