"""Cost objectives of ECG archs: the recipe's network counted, latency measured once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ecgnas.ecg_costs as ecg_costs
from ecgnas.classifier.recipe import model_settings, setup_for
from ecgnas.classifier.recipes import get_recipe
from ecgnas.ecg_costs import COST_NAMES, ECGCost, count_macs, parse_objectives, shipped_network
from ecgnas.errors import ConfigError, RunError
from ecgnas.spaces.base import Arch
from ecgnas.spaces.ecg1d_model import count_flops, count_params
from ecgnas.spaces.ecgjoint import ECGJointSpace
from ecgnas.train.models import build_ecg_model, parse_arch

CELL = "ecg1d:3,1,0,2,4,1"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _joint(width_gene: int) -> Arch:
    space = ECGJointSpace()
    arch = space.sample(np.random.default_rng(3))
    ops = list(arch.ops)
    ops[6] = width_gene  # the first macro gene: width 4 / 8 / 12
    out = Arch("ecgjoint", tuple(ops))
    assert space.is_valid(out)
    return out


def _isomorphic_pair() -> tuple[Arch, Arch]:
    """Two different ecg1d archs with one canonical hash (a dead edge changed)."""
    from ecgnas.spaces.ecg1d import ECG1DSpace

    space = ECG1DSpace()
    a = Arch("ecg1d", (1, 0, 2, 3, 0, 0))
    for edge in range(6):
        for op in range(6):
            ops = list(a.ops)
            ops[edge] = op
            b = Arch("ecg1d", tuple(ops))
            if b != a and space.is_valid(b) and space.canonical(b) == space.canonical(a):
                return a, b
    raise AssertionError("no isomorphic pair next to the chosen arch")


def _counted(arch: Arch) -> int:
    """Trainable parameters of the recipe's network, built here through the public door."""
    base, hp = get_recipe("r3")
    setup = setup_for(arch, base)
    return count_params(build_ecg_model(arch, model_settings(arch, setup, hp.dropout), seed=1))


def test_params_count_the_network_the_recipe_builds() -> None:
    archs = [parse_arch("tiny"), parse_arch("manual"), parse_arch(CELL), _joint(0), _joint(2)]
    cost = ECGCost("params")
    values = cost(archs)
    assert values.dtype == np.float64 and values.shape == (5,)
    assert values.tolist() == [float(_counted(a)) for a in archs]
    assert values[4] > values[3]  # width 12 against width 4, same cell and data choices
    assert cost.computed == 5


def test_macs_follow_count_flops_on_cell_networks_and_the_same_convention_elsewhere() -> None:
    import torch
    from torch import nn

    model, setup = shipped_network(parse_arch(CELL))
    assert count_macs(model, setup) == count_flops(model) > 0
    # the generic counter (what the grid baselines go through) agrees on a cell network
    assert ecg_costs._hooked_macs(model, setup) == count_flops(model)

    class Toy(nn.Module):  # conv 3 -> 2 channels, kernel 5, then a linear head
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(3, 2, 5, padding=2)
            self.head = nn.Linear(2 * 96 + 11, 4, bias=False)

        def forward(self, beats: torch.Tensor, rr: torch.Tensor) -> torch.Tensor:
            return self.head(torch.cat([self.conv(beats).flatten(1), rr], 1))

    _, tiny_setup = shipped_network(parse_arch("tiny"))
    assert (tiny_setup.inputs.n_channels, tiny_setup.preprocess.window) == (3, 96)
    assert tiny_setup.inputs.n_rr == 11
    expected = 2 * 96 * (3 * 5) + 2 * 96 + (2 * 96 + 11) * 4
    assert count_macs(Toy(), tiny_setup) == expected
    assert ECGCost("macs").value(parse_arch("tiny")) > 0


def test_latency_is_measured_once_per_canonical_arch_and_kept_in_the_cache_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = ecg_costs.measure_latency

    def counted(*args, **kwargs) -> float:  # noqa: ANN002, ANN003
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ecg_costs, "measure_latency", counted)
    a, b = _isomorphic_pair()
    cache = tmp_path / "costs-latency.json"
    cost = ECGCost("latency", cache_file=cache, runs=20, warmup=2)
    first = cost([a, b, parse_arch("tiny")])
    assert np.all(first > 0) and np.all(first < 1000) and first[0] == first[1]
    assert len(calls) == cost.computed == 2
    assert cost([b, parse_arch("tiny")]).tolist() == first[1:].tolist()
    assert len(calls) == 2  # the second call measured nothing
    saved = json.loads(cache.read_text())
    assert saved["cost"]["latency"]["threads"] == 1 and saved["cost"]["latency"]["batch"] == 1
    assert len(saved["values"]) == 2

    resumed = ECGCost("latency", cache_file=cache, runs=20, warmup=2)
    assert resumed([a, parse_arch("tiny")]).tolist() == [first[0], first[2]]
    assert resumed.computed == 0 and len(calls) == 2
    with pytest.raises(RunError, match="holds costs"):
        ECGCost("latency", cache_file=cache, runs=50, warmup=2)


def test_the_latency_network_is_the_recipe_network() -> None:
    import onnxruntime as ort
    import torch

    model, setup = shipped_network(_joint(1))
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(ecg_costs.onnx_bytes(model, setup), options)
    beats, rr = ecg_costs.example_inputs(setup)
    (logits,) = session.run(None, {"beats": beats.numpy(), "rr": rr.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(logits, model(beats, rr).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("f1", "exactly two objectives, got 1"),
        ("f1,params,macs", "exactly two objectives, got 3"),
        ("params,f1", "first objective must be f1"),
        ("f1,energy", "unknown cost objective 'energy'"),
        ("", "exactly two objectives, got 0"),
    ],
)
def test_objectives_are_the_signal_then_one_cost(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_objectives(text)


def test_objectives_parse() -> None:
    assert parse_objectives("f1, latency") == ("f1", "latency")
    assert COST_NAMES == ("params", "latency", "macs")
    with pytest.raises(ConfigError, match="unknown cost objective"):
        ECGCost("energy")


def test_latency_of_a_network_that_ignores_its_beats() -> None:
    """Every cell edge ``none``: the cells pass zeros on, the output depends on the RR
    features alone, and the exported graph has no ``beats`` input; latency still measures."""
    from ecgnas.ecg_costs import ECGCost
    from ecgnas.spaces.ecgjoint import ECGJointSpace

    arch = ECGJointSpace().make((0, 0, 0, 0, 0, 0), width=4)
    assert ECGCost("latency", runs=5, warmup=1).value(arch) > 0
