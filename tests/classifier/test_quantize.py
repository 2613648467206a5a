"""int8 and float16 ONNX files of the shipped tiny bundle, on synthetic inputs (no data).

Tolerances, on the calibrated probabilities (in [0, 1]) against torch's:

* float16: 2e-3. A float16 value carries 11 significant bits (relative rounding 2^-11, about
  5e-4) in every weight and activation; measured 2e-4 on these inputs, so 10 x margin.
* int8: 0.08. Static QDQ rounds every quantized activation to 1/255 of its calibrated range
  (about 0.4 %) through two convolutions and two dense layers per member; measured 0.022 on
  these inputs (drawn like the calibration ones), so about 3.5 x margin. The labels must
  agree on at least 90 % of the beats (all 64 agreed when measured).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgnas import load_classifier
from ecgnas.classifier.quantize import (
    _sort_nodes,
    export_fp16,
    export_int8,
    onnx_logits,
    onnx_session,
)
from ecgnas.errors import ConfigError

FP16_TOL = 2e-3
INT8_TOL = 0.08


@pytest.fixture(scope="module")
def tiny():
    return load_classifier("tiny")


def _synthetic(classifier, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (n, classifier.inputs.n_channels, classifier.preprocess.window)
    x = rng.normal(size=shape).astype(np.float32)
    rr = (rng.random((n, classifier.inputs.n_rr)) + 0.5).astype(np.float32)
    return x, rr


def _check(classifier, path: Path, tol: float, min_agree: float) -> None:
    x, rr = _synthetic(classifier, 64, seed=1)
    session = onnx_session(path)
    assert [i.name for i in session.get_inputs()] == ["beats", "rr"]
    assert [o.name for o in session.get_outputs()] == ["logits", "probabilities"]
    want = classifier.probabilities(classifier.logits(x, rr))
    got = classifier.probabilities(onnx_logits(session, x, rr, batch=17))  # batches of 17
    assert np.abs(got - want).max() < tol
    assert (got.argmax(1) == want.argmax(1)).mean() >= min_agree
    logits, probs = session.run(None, {"beats": x[:1], "rr": rr[:1]})  # one beat, float32 out
    assert probs.shape == (1, 4) and probs.dtype == np.float32
    assert probs.sum() == pytest.approx(1.0, abs=1e-3)


def test_float16_round_trip_stays_close_to_float(tiny, tmp_path: Path) -> None:
    import onnx

    path = export_fp16(tiny, tmp_path / "m.fp16.onnx")
    model = onnx.load(str(path))
    halves = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16]
    assert len(halves) >= 3 * 8  # every member's weights
    _check(tiny, path, FP16_TOL, min_agree=1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.fp16.onnx"]


def test_int8_round_trip_stays_close_to_float(tiny, tmp_path: Path) -> None:
    import onnx

    calibration = _synthetic(tiny, 256, seed=0)
    path = export_int8(tiny, tmp_path / "m.int8.onnx", calibration)
    model = onnx.load(str(path))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv", "Softmax"} <= ops  # QDQ format
    int8 = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert sum(int(np.prod(t.dims)) for t in int8) >= 3 * 1000  # the weights are int8
    assert not any(n.metadata_props for n in model.graph.node)  # no exporter metadata
    _check(tiny, path, INT8_TOL, min_agree=0.9)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.int8.onnx"]


def test_int8_needs_calibration_beats(tiny, tmp_path: Path) -> None:
    x, rr = _synthetic(tiny, 0, seed=0)
    with pytest.raises(ConfigError, match="at least one beat"):
        export_int8(tiny, tmp_path / "m.onnx", (x, rr))
    assert not (tmp_path / "m.onnx").exists()


def test_nodes_are_sorted_topologically_and_a_cycle_is_refused() -> None:
    from onnx import helper

    a = helper.make_node("Relu", ["x"], ["a"], name="a")
    b = helper.make_node("Relu", ["a"], ["b"], name="b")
    c = helper.make_node("Add", ["a", "b"], ["c"], name="c")
    x = helper.make_tensor_value_info("x", 1, [1])
    graph = helper.make_graph([c, b, a], "g", [x], [])
    _sort_nodes(graph)
    assert [n.name for n in graph.node] == ["a", "b", "c"]
    loop = helper.make_graph([helper.make_node("Relu", ["y"], ["y"], name="y")], "g", [x], [])
    with pytest.raises(ConfigError, match="cycle"):
        _sort_nodes(loop)


@pytest.mark.realdata
def test_calibration_beats_are_a_seeded_draw_of_ds1(
    tiny, real_data_dir: Path, shared_cache_dir: Path
) -> None:
    from ecgnas.classifier.quantize import calibration_inputs

    kw = {"data_dir": real_data_dir, "cache_dir": shared_cache_dir}
    x, rr = calibration_inputs(tiny, 64, **kw)
    assert x.shape == (64, 3, 96) and rr.shape == (64, 11) and x.dtype == np.float32
    x2, _ = calibration_inputs(tiny, 64, **kw)
    x3, _ = calibration_inputs(tiny, 64, seed=1, **kw)
    assert np.array_equal(x, x2) and not np.array_equal(x, x3)
