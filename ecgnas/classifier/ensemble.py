"""An ensemble of calibrated members as one model: one bundle, one ONNX graph.

``EnsembleNet(members, temperatures)`` takes the same inputs as each member
(``forward(beats [B, C, W], rr [B, k])``) and returns ``log(mean_i softmax(z_i / T_i))``: the
log of the average of the members' calibrated probabilities. Its "logits" are therefore
log-probabilities, so ``softmax`` of them is the averaged probability and the bundle's own
temperature is 1. The members' inverse temperatures are a buffer of the module, saved with
the weights (``members.<i>.<param>`` and ``inv_temperature``).

The shipped ensemble's members are the fold models of DS1 cross-validation
(``ecgnas.classifier.cv``), each calibrated on the DS1 records it did not see.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch

if TYPE_CHECKING:
    from torch import nn

PROB_FLOOR = 1e-12
"""Probabilities are clamped here before the log, so a certain ensemble gives finite output."""


def ensemble_net(members: Sequence[nn.Module], temperatures: Sequence[float]) -> nn.Module:
    """The ``EnsembleNet`` of ``members`` with their temperatures (all > 0)."""
    import torch
    from torch import nn

    if not members or len(members) != len(temperatures):
        raise ConfigError("an ensemble needs one temperature per member and at least one member")
    if any(not t > 0 for t in temperatures):
        raise ConfigError(f"temperatures must be > 0, got {list(temperatures)}")

    class EnsembleNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.members = nn.ModuleList(members)
            inv = torch.tensor([1.0 / float(t) for t in temperatures], dtype=torch.float32)
            self.register_buffer("inv_temperature", inv)

        def forward(self, beats: torch.Tensor, rr: torch.Tensor) -> torch.Tensor:
            inv = self.get_buffer("inv_temperature")
            probs = torch.stack(
                [
                    torch.softmax(m(beats, rr).float() * inv[i], dim=1)
                    for i, m in enumerate(self.members)
                ]
            ).mean(dim=0)
            return torch.log(probs.clamp_min(PROB_FLOOR))

    return EnsembleNet()


def build_ensemble(
    arch: Arch, settings: dict[str, Any], temperatures: Sequence[float]
) -> nn.Module:
    """An untrained ensemble of ``len(temperatures)`` models of ``arch`` (for loading weights)."""
    from ecgnas.train.models import build_ecg_model

    return ensemble_net([build_ecg_model(arch, settings) for _ in temperatures], temperatures)


def ensemble_state(
    member_states: Sequence[dict[str, Any]], temperatures: Sequence[float]
) -> dict[str, Any]:
    """The ``EnsembleNet`` state dict made of member state dicts and temperatures."""
    import torch

    state: dict[str, Any] = {}
    for i, member in enumerate(member_states):
        for key, value in member.items():
            state[f"members.{i}.{key}"] = value
    state["inv_temperature"] = torch.tensor([1.0 / float(t) for t in temperatures])
    return state
