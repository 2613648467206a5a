"""The ECG 1-D space, its cell wiring and the torch model builder."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch
from ecgnas.spaces.ecg1d import ECG1D_OPS, ECG1DSpace
from ecgnas.spaces.ecg1d_model import (
    ECGModelConfig,
    build_model,
    cell_plan,
    count_flops,
    count_params,
    make_cell,
)
from ecgnas.testing import one_torch_thread

SPACE = ECG1DSpace()


OP = {name: i for i, name in enumerate(ECG1D_OPS)}


NONE = OP["none"]


TINY = ECGModelConfig(width=4, input_len=64, rr_hidden=8, dropout=0.0)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny convolutions run far faster on one thread, above all on a busy shared machine
    (two threads took 45 s instead of 1.3 s for the 200-arch test on a loaded 2-core box)."""
    with one_torch_thread():
        yield


def arch(*ops: int) -> Arch:
    return SPACE.make(ops)


def test_cell_plan_hand_checked() -> None:
    c3, skip = OP["conv_k3"], OP["skip_connect"]
    assert cell_plan((NONE,) * 6) == []
    # a single 0 -> 3 edge
    assert cell_plan((NONE, NONE, NONE, skip, NONE, NONE)) == [(3, [(3, 0)])]
    # the chain 0 -> 1 -> 2 -> 3
    assert cell_plan((c3, NONE, c3, NONE, NONE, c3)) == [
        (1, [(0, 0)]),
        (2, [(2, 1)]),
        (3, [(5, 2)]),
    ]
    # dead end: node 1 is fed but reaches nothing, so its edge is dropped
    assert cell_plan((c3, NONE, NONE, skip, NONE, NONE)) == [(3, [(3, 0)])]
    # zero source: node 1 receives nothing, so edges 1->2 and 1->3 carry nothing
    assert cell_plan((NONE, NONE, c3, NONE, c3, NONE)) == []
    # the full cell keeps every edge
    full = cell_plan((c3,) * 6)
    assert [node for node, _ in full] == [1, 2, 3]
    assert sorted(e for _, inc in full for e, _ in inc) == list(range(6))


def test_cell_plan_always_ends_at_the_output() -> None:
    for a in SPACE.enumerate()[::7]:
        plan = cell_plan(a.ops)
        assert not plan or plan[-1][0] == 3
        kept = [e for _, inc in plan for e, _ in inc]
        assert all(a.ops[e] != NONE for e in kept)


def test_cell_nodes_sum_their_inputs_and_keep_the_length() -> None:
    skip, pool = OP["skip_connect"], OP["avg_pool_k3"]
    x = torch.randn(2, 4, 33)
    # two routes of identities (0->3 and 0->1->3): the output is 2x
    two_skips = make_cell(arch(skip, NONE, NONE, skip, skip, NONE), 4)
    assert torch.allclose(two_skips(x), 2 * x)
    pooled = make_cell(arch(NONE, NONE, NONE, pool, NONE, NONE), 4)
    expected = torch.nn.functional.avg_pool1d(x, 3, 1, 1, count_include_pad=False)
    assert torch.allclose(pooled(x), expected)
    assert torch.equal(make_cell(arch(*(NONE,) * 6), 4)(x), torch.zeros_like(x))
    for name in ECG1D_OPS[1:]:
        cell = make_cell(arch(NONE, NONE, NONE, OP[name], NONE, NONE), 4)
        assert cell(x).shape == x.shape, name


def test_config_json_round_trip_is_stable() -> None:
    cfg = ECGModelConfig(width=8, cells_per_stage=2, n_classes=5)
    obj = cfg.to_json()
    assert list(obj) == sorted(obj)
    assert ECGModelConfig.from_json(json.loads(json.dumps(obj))) == cfg
    assert json.dumps(ECGModelConfig().to_json()) == json.dumps(ECGModelConfig().to_json())
    with pytest.raises(ConfigError, match="unknown ECGModelConfig key"):
        ECGModelConfig.from_json({"width": 8, "depth": 3})


@pytest.mark.parametrize(
    "bad",
    [
        {"width": 0},
        {"cells_per_stage": 0},
        {"n_classes": 1},
        {"dropout": 1.0},
        {"stem_kernel": 4},
        {"input_len": 250},
        {"n_rr": -1},
        {"pool_bins": 0},
        {"head_hidden": -1},
        {"reduction": "strided"},
    ],
)
def test_bad_config_is_config_error(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="ECGModelConfig"):
        ECGModelConfig(**bad)


def test_build_rejects_archs_of_other_spaces() -> None:
    with pytest.raises(ConfigError, match="not an ecg1d arch"):
        build_model(Arch("nb201", (1,) * 6))


def test_200_random_archs_build_and_run() -> None:
    rng = np.random.default_rng(0)
    archs = [SPACE.sample(rng) for _ in range(199)] + [arch(*(NONE,) * 6)]
    beats = torch.randn(3, 1, TINY.input_len)
    rr = torch.randn(3, TINY.n_rr)
    params, flops = [], []
    with torch.no_grad():
        for a in archs:
            model = build_model(a, TINY, seed=0)
            out = model(beats, rr)
            assert out.shape == (3, TINY.n_classes) and out.dtype == torch.float32
            assert torch.isfinite(out).all()
            params.append(count_params(model))
            flops.append(count_flops(model))
    assert min(params) > 0 and min(flops) > 0
    assert len(set(params)) > 20  # the cell changes the network


def test_a_heavier_cell_has_more_params_and_flops() -> None:
    light = build_model(arch(*(OP["skip_connect"],) * 6), TINY)
    heavy = build_model(arch(*(OP["conv_k9"],) * 6), TINY)
    assert count_params(heavy) > count_params(light)
    assert count_flops(heavy) > count_flops(light)
    # counts scale with the input length and width as convolutions do
    assert count_flops(heavy, 128) > count_flops(heavy, 64)
    wide = build_model(arch(*(OP["conv_k9"],) * 6), ECGModelConfig(width=8, input_len=64))
    assert count_params(wide) > count_params(heavy)


def test_counts_of_the_empty_cell_by_hand() -> None:
    """All-``none`` cells: only stem, reductions, head and RR branch remain."""
    c, k, length, h, n_rr, n_cls = 4, 7, 64, 8, 6, 4
    model = build_model(arch(*(NONE,) * 6), TINY)
    params = (
        c * k + 2 * c  # stem conv + BN
        + (2 * c * c * 3 + 2 * 2 * c) + (2 * c * 2 * c * 3 + 2 * 2 * c) + 2 * c * c  # reduction 1
        + (4 * c * 2 * c * 3 + 2 * 4 * c) + (4 * c * 4 * c * 3 + 2 * 4 * c) + 4 * c * 2 * c  # red. 2
        + 2 * 4 * c  # last BN
        + 2 * n_rr + n_rr * h + h  # RR: BN + linear
        + (4 * c + h) * n_cls + n_cls  # classifier
    )  # fmt: skip
    assert count_params(model) == params
    macs = (
        c * length * k  # stem
        + 2 * c * (length // 2) * (c * 3 + 2 * c * 3 + c)  # reduction 1: conv_a, conv_b, shortcut
        + 4 * c * (length // 4) * (2 * c * 3 + 4 * c * 3 + 2 * c)  # reduction 2
        + n_rr * h + h  # RR linear (+ bias)
        + (4 * c + h) * n_cls + n_cls  # classifier (+ bias)
    )  # fmt: skip
    assert count_flops(model) == macs


def test_dropped_edges_cost_nothing() -> None:
    skip_only = arch(NONE, NONE, NONE, OP["skip_connect"], NONE, NONE)
    with_dead_end = arch(OP["conv_k9"], NONE, NONE, OP["skip_connect"], NONE, NONE)
    a, b = build_model(skip_only, TINY), build_model(with_dead_end, TINY)
    assert count_params(a) == count_params(b)
    assert count_flops(a) == count_flops(b)


def test_count_flops_leaves_the_model_alone() -> None:
    model = build_model(SPACE.sample(np.random.default_rng(5)), TINY)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    count_flops(model)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model.stem[0]._forward_hooks  # no hook left behind
    assert next(model.parameters()).device.type == "cpu"


def test_seeded_build_is_deterministic_and_leaves_the_global_rng() -> None:
    a = SPACE.sample(np.random.default_rng(6))
    state = torch.get_rng_state()
    m1, m2 = build_model(a, TINY, seed=3), build_model(a, TINY, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    m3 = build_model(a, TINY, seed=4)
    assert not all(torch.equal(s1[k], v) for k, v in m3.state_dict().items())
    m1.eval(), m2.eval()
    beats, rr = torch.randn(4, 1, 64), torch.randn(4, 6)
    assert torch.equal(m1(beats, rr), m2(beats, rr))


def test_rr_features_reach_the_output_even_with_an_empty_cell() -> None:
    model = build_model(arch(*(NONE,) * 6), TINY, seed=0).eval()
    beats = torch.randn(2, 1, 64)
    with torch.no_grad():
        out_a = model(beats, torch.zeros(2, 6))
        out_b = model(beats, torch.ones(2, 6))
    assert not torch.allclose(out_a, out_b)


@pytest.mark.parametrize("n_rr, rr_hidden", [(0, 16), (6, 0)])
def test_rr_branch_variants(n_rr: int, rr_hidden: int) -> None:
    cfg = ECGModelConfig(width=4, input_len=64, n_rr=n_rr, rr_hidden=rr_hidden, n_classes=5)
    model = build_model(SPACE.sample(np.random.default_rng(7)), cfg).eval()
    out = model(torch.randn(2, 1, 64), torch.randn(2, n_rr))
    assert out.shape == (2, 5)
    assert model.classifier.in_features == 16 + (n_rr if rr_hidden == 0 else 0)


@pytest.mark.parametrize(
    "head", [{}, {"pool_bins": 4, "head_hidden": 8}, {"reduction": "maxpool", "head_hidden": 8}]
)
def test_torchscript_and_onnx_export(tmp_path: Path, head: dict[str, object]) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    a = arch(OP["sep_conv_k15"], OP["dil_conv_k5_d4"], OP["conv_k9"], OP["skip_connect"], 6, 2)
    config = ECGModelConfig.from_json(TINY.to_json() | head)
    model = build_model(a, config, seed=0).eval()
    beats, rr = torch.randn(5, 1, 64), torch.randn(5, 6)
    expected = model(beats, rr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(model)
    assert torch.allclose(scripted(beats, rr), expected, atol=1e-6)

    path = tmp_path / "model.onnx"
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # exporter internals
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(
            model,
            (beats, rr),
            str(path),
            input_names=["beats", "rr"],
            output_names=["logits"],
            dynamic_shapes={"beats": {0: batch}, "rr": {0: batch}},
        )
    session = onnxruntime.InferenceSession(str(path))
    got = session.run(None, {"beats": beats[:2].numpy(), "rr": rr[:2].numpy()})[0]
    assert np.allclose(got, expected[:2].detach().numpy(), atol=1e-5)


def test_binned_pooling_tells_the_classifier_where_in_the_window_a_feature_is() -> None:
    """With ``pool_bins`` P the classifier sees 4C * P pooled features (one block of 4C per
    stretch of the window), so moving a spike within the window changes the logits; global
    pooling (P = 1) sees only their mean over time."""
    cell = arch(OP["skip_connect"], NONE, NONE, NONE, NONE, NONE)  # node 3 = node 0 (skip)
    flat = build_model(cell, TINY, seed=0).eval()
    binned = build_model(cell, ECGModelConfig.from_json(TINY.to_json() | {"pool_bins": 4}), seed=0)
    binned.eval()
    channels = 4 * TINY.width
    rr_width = TINY.rr_hidden
    assert flat.classifier.in_features == channels + rr_width
    assert binned.classifier.in_features == channels * 4 + rr_width
    assert count_params(binned) - count_params(flat) == channels * 3 * TINY.n_classes
    h = torch.zeros(2, channels, 16)  # a final feature map: one spike, early or late
    h[0, :, 1] = 1.0
    h[1, :, 14] = 1.0
    bins = binned.pool(h)  # [2, 4C, 4]: the means of 4 equal stretches of the window
    assert torch.equal(bins[0, 0], torch.tensor([0.25, 0.0, 0.0, 0.0]))
    assert torch.equal(bins[1, 0], torch.tensor([0.0, 0.0, 0.0, 0.25]))
    assert torch.equal(h.mean(dim=-1)[0], h.mean(dim=-1)[1])  # global pooling cannot tell
    x, rr = torch.randn(2, 1, TINY.input_len), torch.zeros(2, TINY.n_rr)
    assert binned(x, rr).shape == flat(x, rr).shape == (2, TINY.n_classes)


def test_the_dense_head_joins_max_and_mean_pooling_with_the_rr_features_before_a_hidden_layer() -> (
    None
):
    cell = arch(OP["conv_k3"], NONE, NONE, NONE, NONE, NONE)
    flat = build_model(cell, TINY, seed=0)
    dense = build_model(cell, ECGModelConfig.from_json(TINY.to_json() | {"head_hidden": 5}), seed=0)
    channels = 4 * TINY.width
    first, _, _, last = dense.classifier
    # max and mean of every channel, and the batch-normalised RR features themselves
    assert first.in_features == 2 * channels + TINY.n_rr and first.out_features == 5
    assert last.out_features == TINY.n_classes
    assert [type(m).__name__ for m in dense.rr_branch] == ["BatchNorm1d"]
    head_params = (2 * channels + TINY.n_rr + 1) * 5 + (5 + 1) * TINY.n_classes
    flat_head = (channels + TINY.rr_hidden + 1) * TINY.n_classes
    flat_head += (TINY.n_rr + 1) * TINY.rr_hidden  # its RR branch's linear layer
    assert count_params(dense) - count_params(flat) == head_params - flat_head
    x, rr = torch.randn(3, 1, TINY.input_len), torch.randn(3, TINY.n_rr)
    assert dense.eval()(x, rr).shape == (3, TINY.n_classes)


def test_maxpool_reductions_halve_the_length_by_max_pooling_and_double_the_channels() -> None:
    """``reduction="maxpool"``: between stages a 3-sample ReLU-Conv-BN to twice the channels
    then max pooling over 2 samples (the manual CNN's way down) replaces NB201's ResNet
    block; the stages see the same lengths and widths either way."""
    cell = arch(NONE, NONE, NONE, OP["conv_k3"], NONE, NONE)  # edge 0 -> 3 only
    res = build_model(cell, TINY, seed=0).eval()
    pool = build_model(cell, ECGModelConfig.from_json(TINY.to_json() | {"reduction": "maxpool"}))
    pool.eval()
    c = TINY.width
    kinds = [type(m).__name__ for m in pool.cells]
    assert kinds == ["Cell", "PoolReduction", "Cell", "PoolReduction", "Cell"]
    assert [type(m).__name__ for m in res.cells][1::2] == ["ResBlock", "ResBlock"]
    # each ResBlock has two 3-sample convs and a 1x1 shortcut; a PoolReduction one conv
    res_reduce = (c * 2 * c * 3 + 2 * c * 2 * c * 3 + c * 2 * c + 2 * 2 * 2 * c) + (
        2 * c * 4 * c * 3 + 4 * c * 4 * c * 3 + 2 * c * 4 * c + 2 * 2 * 4 * c
    )
    pool_reduce = (c * 2 * c * 3 + 2 * 2 * c) + (2 * c * 4 * c * 3 + 2 * 4 * c)
    assert count_params(res) - count_params(pool) == res_reduce - pool_reduce
    # the reduction keeps the maximum of each pair of samples after its conv
    down = pool.cells[1]
    x = torch.randn(2, c, TINY.input_len)
    conv_out = down[0](x)
    assert torch.equal(down(x), conv_out.view(2, 2 * c, -1, 2).amax(dim=-1))
    assert down(x).shape == (2, 2 * c, TINY.input_len // 2)
    beats, rr = torch.randn(3, 1, TINY.input_len), torch.randn(3, TINY.n_rr)
    assert pool(beats, rr).shape == res(beats, rr).shape == (3, TINY.n_classes)
