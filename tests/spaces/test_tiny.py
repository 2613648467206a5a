"""The tiny matched-filter CNN (after Farag 2023) and its grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch, SearchSpace
from ecgnas.spaces.tiny import TinySpace, build_tiny_model
from ecgnas.train.models import build_ecg_model, default_settings, parse_arch


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_grid_protocol() -> None:
    space = TinySpace()
    assert isinstance(space, SearchSpace) and space.name == "tiny"
    assert space.sizes == (3, 3, 3, 2)
    assert space.size() == 54 == len(space.enumerate()) == len(set(space.enumerate()))
    assert space.path_length == 11 and space.n_node_types == 13
    rng = np.random.default_rng(0)
    for _ in range(300):
        a = space.sample(rng)
        m = space.mutate(a, rng)
        assert space.is_valid(a) and space.is_valid(m)
        assert sum(x != y for x, y in zip(a.ops, m.ops)) == 1
        c = space.crossover(a, m, rng)
        assert space.is_valid(c) and all(z in (x, y) for x, y, z in zip(a.ops, m.ops, c.ops))
    enc = space.path_encoding(space.enumerate())
    assert enc.shape == (54, 11) and (enc.sum(axis=1) == 4).all()
    assert len({row.tobytes() for row in enc}) == 54
    g = space.to_graph(space.published())
    assert g.x.shape == (6, 13) and g.edge_index.shape == (2, 5)
    with pytest.raises(ConfigError, match="not a tiny-CNN configuration"):
        space.make((3, 0, 0, 0))
    with pytest.raises(ConfigError, match="not a tiny-CNN configuration"):
        space.decode(Arch("manual", (1, 1, 1, 0)))


def test_published_point() -> None:
    space = TinySpace()
    published = space.published()
    assert published == space.make((1, 1, 1, 0)) == parse_arch("tiny")
    hp = space.decode(published)
    assert (hp.filters, hp.mf_kernel, hp.dense, hp.dropout) == (8, 21, 16, 0.0)
    n = _params(build_tiny_model(published, n_classes=4, n_rr=8, in_channels=1))
    assert 1_100 <= n <= 1_500
    assert n == 1_276  # the count stated in the module docstring
    assert _params(build_tiny_model(published)) == 1_240  # default: 6 RR features


def test_grid_orders_sizes() -> None:
    space = TinySpace()
    counts = {a.ops: _params(build_tiny_model(a, n_rr=8)) for a in space.enumerate()}
    assert counts[(2, 1, 1, 0)] > counts[(1, 1, 1, 0)] > counts[(0, 1, 1, 0)]
    assert counts[(1, 2, 1, 0)] > counts[(1, 1, 1, 0)] > counts[(1, 0, 1, 0)]
    assert counts[(1, 1, 2, 0)] > counts[(1, 1, 1, 0)] > counts[(1, 1, 0, 0)]
    assert counts[(1, 1, 1, 1)] == counts[(1, 1, 1, 0)]  # dropout adds no parameter


@pytest.mark.parametrize("window", [32, 96, 256])
@pytest.mark.parametrize("in_channels", [1, 2])
@pytest.mark.parametrize("n_rr", [0, 8])
def test_forward_shapes(window: int, in_channels: int, n_rr: int, one_torch_thread: None) -> None:
    arch = TinySpace().make((2, 2, 0, 1))  # the widest filters and the longest kernel
    model = build_tiny_model(arch, n_classes=5, n_rr=n_rr, in_channels=in_channels, seed=0)
    beats, rr = torch.randn(3, in_channels, window), torch.randn(3, n_rr)
    model.train()(beats, rr).sum().backward()  # trains (batch statistics, gradients)
    out = model.eval()(beats, rr)
    assert out.shape == (3, 5) and torch.isfinite(out).all()


def test_seeded_init_is_deterministic(one_torch_thread: None) -> None:
    arch = TinySpace().published()
    torch.manual_seed(123)
    m1 = build_tiny_model(arch, seed=7)
    after_first = torch.rand(1)
    torch.manual_seed(123)
    m2 = build_tiny_model(arch, seed=7)
    assert torch.equal(torch.rand(1), after_first)  # the global RNG is left alone
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(v1, v2), k
    m3 = build_tiny_model(arch, seed=8)
    assert not torch.equal(m1.state_dict()["matched.0.weight"], m3.state_dict()["matched.0.weight"])


def test_through_the_ecg_model_door(one_torch_thread: None) -> None:
    arch = parse_arch("tiny")
    settings = default_settings(arch, n_classes=4, n_rr=8, input_len=96, in_channels=2)
    assert settings == {"n_classes": 4, "n_rr": 8, "in_channels": 2}
    assert default_settings(arch) == {"n_classes": 4, "n_rr": 6}
    model = build_ecg_model(arch, settings, seed=3)
    direct = build_tiny_model(arch, n_classes=4, n_rr=8, in_channels=2, seed=3)
    for v1, v2 in zip(model.state_dict().values(), direct.state_dict().values()):
        assert torch.equal(v1, v2)
    assert model.eval()(torch.randn(2, 2, 96), torch.randn(2, 8)).shape == (2, 4)
    assert parse_arch("tiny:0,2,1,1") == TinySpace().make((0, 2, 1, 1))
    for bad in ("tiny:3,0,0,0", "tiny:1,1,1"):
        with pytest.raises(ConfigError):
            parse_arch(bad)
    with pytest.raises(ConfigError, match="tiny baseline: unknown settings"):
        build_ecg_model(arch, {"n_classes": 4, "width": 8})
