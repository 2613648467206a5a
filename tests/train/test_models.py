from __future__ import annotations

import pytest
import torch

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch
from ecgnas.spaces.manual import ManualSpace
from ecgnas.train.models import build_ecg_model, default_settings, parse_arch


def test_parse_arch_forms() -> None:
    a = parse_arch("ecg1d:3,1,0,2,4,1")
    assert a == Arch("ecg1d", (3, 1, 0, 2, 4, 1))
    assert parse_arch('{"space": "ecg1d", "ops": [3, 1, 0, 2, 4, 1]}') == a
    assert parse_arch("manual") == ManualSpace().published()
    for bad in ("ecg1d:9,9,9,9,9,9", "ecg1d:1,2", "nosuch:1", "{not json", "ecg1d:a,b"):
        with pytest.raises(ConfigError):
            parse_arch(bad)


@pytest.mark.parametrize("text", ["ecg1d:3,1,0,2,4,1", "manual"])
def test_build_is_seeded_and_runs(text: str, one_torch_thread: None) -> None:
    arch = parse_arch(text)
    settings = default_settings(arch, n_classes=4)
    m1 = build_ecg_model(arch, settings, seed=7)
    m2 = build_ecg_model(arch, settings, seed=7)
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(v1, v2), k
    out = m1.eval()(torch.randn(3, 1, 256), torch.randn(3, 6))
    assert out.shape == (3, 4) and torch.isfinite(out).all()
