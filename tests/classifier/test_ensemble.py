"""``EnsembleNet``: the log of the members' averaged calibrated probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ecgnas.classifier.ensemble import PROB_FLOOR, ensemble_net, ensemble_state
from ecgnas.errors import ConfigError


class _Linear(nn.Module):
    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.fc = nn.Linear(8 + 2, 3)

    def forward(self, beats: torch.Tensor, rr: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.cat([beats.flatten(1), rr], dim=1))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_output_is_the_log_of_the_mean_calibrated_probability(one_torch_thread: None) -> None:
    members = [_Linear(0), _Linear(1)]
    temps = [0.5, 2.0]
    net = ensemble_net(members, temps).eval()
    beats, rr = torch.randn(4, 1, 8), torch.randn(4, 2)
    with torch.no_grad():
        got = net(beats, rr).numpy()
        logits = [m(beats, rr).numpy() for m in members]
    want = np.log(np.mean([_softmax(z / t) for z, t in zip(logits, temps)], axis=0))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.exp(got).sum(axis=1), 1.0, rtol=1e-5)


def test_a_certain_ensemble_stays_finite(one_torch_thread: None) -> None:
    member = _Linear(0)
    with torch.no_grad():
        member.fc.weight.zero_()
        member.fc.bias.copy_(torch.tensor([1e4, 0.0, 0.0]))
    out = ensemble_net([member], [1.0])(torch.zeros(1, 1, 8), torch.zeros(1, 2))
    assert torch.isfinite(out).all() and out.min().item() == pytest.approx(np.log(PROB_FLOOR))


@pytest.mark.parametrize("temps", [[], [1.0], [1.0, 0.0], [1.0, -2.0], [1.0, float("nan")]])
def test_bad_temperatures_are_config_errors(temps: list[float]) -> None:
    members = [] if temps == [] else [_Linear(0), _Linear(1)]
    with pytest.raises(ConfigError):
        ensemble_net(members, temps)


def test_ensemble_state_loads_into_the_net(one_torch_thread: None) -> None:
    members = [_Linear(0), _Linear(1)]
    state = ensemble_state([m.state_dict() for m in members], [0.5, 4.0])
    assert sorted(state) == [
        "inv_temperature",
        "members.0.fc.bias",
        "members.0.fc.weight",
        "members.1.fc.bias",
        "members.1.fc.weight",
    ]
    assert state["inv_temperature"].tolist() == [2.0, 0.25]
    fresh = ensemble_net([_Linear(5), _Linear(6)], [1.0, 1.0])
    fresh.load_state_dict(state)
    assert torch.equal(fresh.members[1].fc.weight, members[1].fc.weight)
    assert fresh.get_buffer("inv_temperature").tolist() == [2.0, 0.25]
