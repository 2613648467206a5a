"""Export a classifier bundle to ONNX, a ``torch.export`` program, or TorchScript.

The exported graph takes ``beats`` float32 ``[B, C, W]`` and ``rr`` float32 ``[B, k]``
(``B`` dynamic; ``C``, ``k``, ``W`` and the preprocessing as in the bundle's contract: one
channel and the six RR columns unless ``preprocessing.inputs`` says otherwise; an ensemble
bundle is one graph whose ``logits`` are the log of its members' averaged calibrated
probabilities) and returns two
outputs: ``logits`` ``[B, C]`` and ``probabilities`` ``[B, C]`` = ``softmax(logits / T)``
with the bundle's temperature. Preprocessing (filters, normalisation, windows, RR features)
is *not* part of the graph: reproduce it from ``contract.json`` or use ``ecgnas predict``.

ONNX goes through ``torch.onnx.export``: the dynamo exporter (needs ``onnxscript``), else
the TorchScript-based exporter at opset 17. Both ONNX and ``onnxruntime`` are optional
(``pip install ecgnas[export]``). ``torch_export`` saves a ``torch.export`` program
(``.pt2``; load it with ``torch.export.load(path).module()``), the maintained successor of
TorchScript; ``torchscript`` stays while torch still supports ``torch.jit`` (deprecated in
torch 2.13). ``onnx-int8`` (static QDQ quantization calibrated on DS1 beats) and
``onnx-fp16`` are ``ecgnas.classifier.quantize``'s. ONNX files carry no exporter metadata
or intermediate shapes (``compact``: most of a small model's file). Files are written
atomically.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ecgnas.errors import ConfigError
from ecgnas.io import atomic_path

if TYPE_CHECKING:
    from torch import nn

    from ecgnas.classifier.predict import Classifier

log = logging.getLogger(__name__)

FORMATS: Final = ("onnx", "onnx-int8", "onnx-fp16", "torch_export", "torchscript")
ONNX_OPSET: Final = 17
INPUT_NAMES: Final = ("beats", "rr")
OUTPUT_NAMES: Final = ("logits", "probabilities")


def calibrated_module(classifier: Classifier) -> nn.Module:
    """``forward(beats, rr) -> (logits, softmax(logits / T))`` around the bundle's model."""
    import torch
    from torch import nn

    class Calibrated(nn.Module):
        def __init__(self, model: nn.Module, temperature: float) -> None:
            super().__init__()
            self.model = model
            self.register_buffer("temperature", torch.tensor(float(temperature)))

        def forward(
            self, beats: torch.Tensor, rr: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            logits = self.model(beats, rr)
            return logits, torch.softmax(logits / self.temperature, dim=1)

    return Calibrated(classifier.model, classifier.temperature).eval()


def _example(classifier: Classifier, batch: int = 4) -> tuple:
    import torch

    gen = torch.Generator().manual_seed(0)
    w = classifier.preprocess.window
    c, k = classifier.inputs.n_channels, classifier.inputs.n_rr
    return (torch.randn(batch, c, w, generator=gen), torch.rand(batch, k, generator=gen) + 0.5)


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's chatter (missing torchvision ops, deprecations) for one export."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch._dynamo", "torch.export")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def compact(model: Any) -> None:
    """Drop, in place, what an ``onnx.ModelProto`` carries only for debugging: every node's
    and the graph's ``metadata_props`` (the exporter's source locations, module names and
    program signature) and the graph's ``value_info`` (intermediate shapes, which ONNX
    Runtime infers again). For a tiny model they are most of the file."""
    for node in model.graph.node:
        del node.metadata_props[:]
    del model.graph.metadata_props[:]
    del model.graph.value_info[:]


def export_onnx(
    classifier: Classifier, path: str | os.PathLike[str], *, dynamo: bool = True
) -> Path:
    """Write the classifier as one ONNX file (weights embedded) with a dynamic batch axis.

    ``dynamo=True`` tries the dynamo exporter first and falls back to the TorchScript-based
    one (opset 17) if it fails. Raises ``ConfigError`` when ``onnx`` is not installed.
    """
    import torch

    try:
        import onnx
    except ImportError as exc:
        raise ConfigError(
            "ONNX export needs the onnx package: pip install 'ecgnas[export]'"
        ) from exc
    module = calibrated_module(classifier)
    example = _example(classifier)
    target = Path(path)
    errors = []
    for use_dynamo in (True, False) if dynamo else (False,):
        try:
            with _quiet_exporter(), atomic_path(target) as tmp:
                if use_dynamo:
                    batch = torch.export.Dim("batch", min=1)
                    program = torch.onnx.export(
                        module,
                        example,
                        dynamo=True,
                        input_names=list(INPUT_NAMES),
                        output_names=list(OUTPUT_NAMES),
                        dynamic_shapes=({0: batch}, {0: batch}),
                        optimize=True,
                        verbose=False,
                    )
                    assert program is not None
                    program.save(str(tmp), external_data=False)
                else:
                    torch.onnx.export(
                        module,
                        example,
                        str(tmp),
                        dynamo=False,
                        input_names=list(INPUT_NAMES),
                        output_names=list(OUTPUT_NAMES),
                        dynamic_axes={n: {0: "batch"} for n in INPUT_NAMES + OUTPUT_NAMES},
                        opset_version=ONNX_OPSET,
                    )
                model = onnx.load(str(tmp))
                compact(model)
                onnx.checker.check_model(model)
                onnx.save(model, str(tmp))
            log.info(
                "exported ONNX (%s exporter) to %s", "dynamo" if use_dynamo else "legacy", target
            )
            return target
        except Exception as exc:  # exporter failures are varied; fall back, then report
            errors.append(f"{'dynamo' if use_dynamo else 'legacy'}: {exc}")
            log.warning(
                "ONNX export with the %s exporter failed: %s",
                "dynamo" if use_dynamo else "legacy",
                exc,
            )
    raise ConfigError("ONNX export failed (" + "; ".join(e.splitlines()[0] for e in errors) + ")")


def export_torchscript(classifier: Classifier, path: str | os.PathLike[str]) -> Path:
    """Write the classifier as a TorchScript archive (``torch.jit.trace``; no control flow
    depends on data in ecgnas models, so tracing is exact for any batch size)."""
    import torch

    module = calibrated_module(classifier)
    example = _example(classifier)
    target = Path(path)
    with warnings.catch_warnings():
        # TorchScript is deprecated in recent torch (ONNX is the maintained route); still works
        warnings.simplefilter("ignore", category=DeprecationWarning)
        with torch.no_grad():
            traced = torch.jit.trace(module, example, check_trace=True)
        with atomic_path(target) as tmp:
            torch.jit.save(traced, str(tmp))
    return target


def export_program(classifier: Classifier, path: str | os.PathLike[str]) -> Path:
    """Write the classifier as a ``torch.export`` program (``torch.export.save``) with a
    dynamic batch axis."""
    import torch

    module = calibrated_module(classifier)
    example = _example(classifier)
    target = Path(path)
    batch = torch.export.Dim("batch", min=1)
    with _quiet_exporter(), torch.no_grad():
        program = torch.export.export(module, example, dynamic_shapes=({0: batch}, {0: batch}))
    with atomic_path(target) as tmp:
        torch.export.save(program, str(tmp))
    return target


def export(
    classifier: Classifier,
    fmt: str,
    path: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Export in ``fmt`` (``FORMATS``); ``ConfigError`` for another format. ``onnx-int8``
    reads DS1 beats for its calibration (``data_dir``, ``cache_dir``)."""
    from ecgnas.classifier import quantize

    if fmt == "onnx":
        return export_onnx(classifier, path)
    if fmt == "onnx-int8":
        calibration = quantize.calibration_inputs(
            classifier, data_dir=data_dir, cache_dir=cache_dir
        )
        return quantize.export_int8(classifier, path, calibration)
    if fmt == "onnx-fp16":
        return quantize.export_fp16(classifier, path)
    if fmt == "torch_export":
        return export_program(classifier, path)
    if fmt == "torchscript":
        return export_torchscript(classifier, path)
    raise ConfigError(f"unknown export format {fmt!r} (choose {', '.join(FORMATS)})")
