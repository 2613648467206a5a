"""Smaller ONNX files of a classifier bundle: int8 (static quantization) and float16.

Both start from the float ONNX graph of ``ecgnas.classifier.export.export_onnx`` (inputs
``beats [B, C, W]`` and ``rr [B, k]``, outputs ``logits`` and ``probabilities``) and keep its
inputs, outputs and dynamic batch axis.

* ``export_int8``: ONNX Runtime static quantization in QDQ format
  (``onnxruntime.quantization.quantize_static``) after ``quant_pre_process`` (shape
  inference, graph optimisation: batch norms folded into the convolutions). Weights are
  int8 per output channel (symmetric); activations are uint8 with MinMax ranges measured on
  calibration inputs, by default ``CALIBRATION_BEATS`` DS1 beats drawn with a fixed seed
  (``calibration_inputs``; DS1 only, never DS2). Only ``QUANTIZED_OPS`` are quantized: the
  convolutions, the dense layers and the pooling between them. The RR batch norm, the
  concatenation, and the softmax / log of the calibrated outputs stay in float32 (their
  cost is negligible and an 8-bit softmax would coarsen the probabilities).
* ``export_fp16``: every float initializer and operation in float16
  (``onnxruntime.transformers.float16.convert_float_to_float16``) with float32 inputs and
  outputs (``keep_io_types``), so callers feed the same arrays.

Files are written atomically. Both need ``onnx`` and ``onnxruntime``
(``pip install 'ecgnas[export]'``; ``ConfigError`` otherwise).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ecgnas.errors import ConfigError
from ecgnas.io import atomic_path

if TYPE_CHECKING:
    from ecgnas.classifier.predict import Classifier
    from ecgnas.data.dataset import BeatSet

CALIBRATION_BEATS: Final = 2048
CALIBRATION_SEED: Final = 0
CALIBRATION_BATCH: Final = 256
QUANTIZED_OPS: Final = ("Conv", "Gemm", "MatMul", "MaxPool", "GlobalMaxPool", "GlobalAveragePool")

Inputs = tuple[np.ndarray, np.ndarray]
"""Model inputs ``(beats float32 [n, C, W], rr float32 [n, k])``."""


def _need_onnxruntime() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "int8/float16 export needs onnx and onnxruntime: pip install 'ecgnas[export]'"
        ) from exc


def bundle_inputs(
    classifier: Classifier,
    records: Sequence[str],
    classes: Sequence[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[BeatSet, Inputs]:
    """The beats of ``classes`` in whole ``records`` (``allowed`` to be read: nothing else)
    and the bundle's model inputs for them: its preprocessing and ``InputConfig`` (rhythm
    features need the record's beat sequence)."""
    from ecgnas.data.dataset import load_beats
    from ecgnas.data.inputs import build_inputs

    beats = load_beats(
        list(records),
        classifier.preprocess,
        classes=tuple(classes),
        data_dir=data_dir,
        cache_dir=cache_dir,
        allowed=list(records),
    )
    x, rr = build_inputs(
        beats.x,
        beats.rr,
        beats.record,
        fs=classifier.preprocess.fs,
        r_index=classifier.preprocess.window_before,
        config=classifier.inputs,
    )
    return beats, (x, rr)


def calibration_inputs(
    classifier: Classifier,
    n: int = CALIBRATION_BEATS,
    *,
    seed: int = CALIBRATION_SEED,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Inputs:
    """``n`` DS1 beats (uniformly drawn, fixed ``seed``, kept in record and time order) as the
    bundle's model inputs (``bundle_inputs`` over whole DS1 records). Reads DS1 only."""
    from ecgnas.data.splits import DS1

    _, (x, rr) = bundle_inputs(
        classifier, DS1, classifier.classes, data_dir=data_dir, cache_dir=cache_dir
    )
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(x), size=min(n, len(x)), replace=False))
    return np.ascontiguousarray(x[pick]), np.ascontiguousarray(rr[pick])


def _reader(inputs: Inputs, batch: int) -> Any:
    """A ``CalibrationDataReader`` yielding ``{"beats", "rr"}`` batches of ``inputs`` once."""
    from onnxruntime.quantization import CalibrationDataReader

    from ecgnas.classifier.export import INPUT_NAMES

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            x, rr = inputs
            self._batches = iter(
                [
                    {INPUT_NAMES[0]: x[i : i + batch], INPUT_NAMES[1]: rr[i : i + batch]}
                    for i in range(0, len(x), batch)
                ]
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    return Reader()


def export_int8(
    classifier: Classifier,
    path: str | os.PathLike[str],
    calibration: Inputs,
    *,
    batch: int = CALIBRATION_BATCH,
) -> Path:
    """Write the int8 (QDQ, static) ONNX file of ``classifier`` calibrated on ``calibration``
    (model inputs, e.g. ``calibration_inputs``; at least one beat)."""
    _need_onnxruntime()
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ecgnas.classifier.export import export_onnx

    if len(calibration[0]) == 0:
        raise ConfigError("int8 calibration needs at least one beat")
    target = Path(path)
    with tempfile.TemporaryDirectory(prefix="ecgnas-int8-") as tmp_dir:
        tmp = Path(tmp_dir)
        export_onnx(classifier, tmp / "float.onnx")
        # symbolic shape inference (for transformers) fails on the concat of pooled features
        quant_pre_process(str(tmp / "float.onnx"), str(tmp / "pre.onnx"), skip_symbolic_shape=True)
        quantize_static(
            str(tmp / "pre.onnx"),
            str(tmp / "int8.onnx"),
            _reader(calibration, batch),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(QUANTIZED_OPS),
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        _save_compact(onnx.load(str(tmp / "int8.onnx")), target)
    return target


def _save_compact(model: Any, target: Path) -> None:
    """Check ``model`` and write it to ``target`` atomically, without debugging metadata."""
    import onnx

    from ecgnas.classifier.export import compact

    compact(model)
    onnx.checker.check_model(model)
    with atomic_path(target) as out:
        onnx.save(model, str(out))


def export_fp16(classifier: Classifier, path: str | os.PathLike[str]) -> Path:
    """Write the float16 ONNX file of ``classifier`` (float32 inputs and outputs)."""
    _need_onnxruntime()
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from ecgnas.classifier.export import export_onnx

    target = Path(path)
    with tempfile.TemporaryDirectory(prefix="ecgnas-fp16-") as tmp_dir:
        source = export_onnx(classifier, Path(tmp_dir) / "float.onnx")
        model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
        _sort_nodes(model.graph)  # the converter appends its input casts at the end
        _save_compact(model, target)
    return target


def _sort_nodes(graph: Any) -> None:
    """Put ``graph``'s nodes in topological order, in place (stable: a node keeps its place
    unless an input it needs comes later)."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        rest = []
        for node in pending:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ConfigError("float16 conversion left a graph with a cycle or a missing input")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)


def onnx_session(path: str | os.PathLike[str], threads: int = 1) -> Any:
    """An ONNX Runtime CPU session of ``path`` with ``threads`` intra-op threads (one
    inter-op thread, sequential execution)."""
    _need_onnxruntime()
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_logits(session: Any, x: np.ndarray, rr: np.ndarray, batch: int = 1024) -> np.ndarray:
    """The ``logits`` output float32 ``[n, C]`` of an exported classifier's session."""
    from ecgnas.classifier.export import INPUT_NAMES, OUTPUT_NAMES

    parts = [
        session.run(
            [OUTPUT_NAMES[0]],
            {INPUT_NAMES[0]: x[i : i + batch], INPUT_NAMES[1]: rr[i : i + batch]},
        )[0]
        for i in range(0, len(x), batch)
    ]
    if not parts:
        return np.zeros((0, int(session.get_outputs()[0].shape[1])), dtype=np.float32)
    return np.concatenate(parts).astype(np.float32)
