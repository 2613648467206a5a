"""Export of the shipped classifiers: ONNX Runtime and TorchScript match torch on real beats."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from ecgnas import load_classifier
from ecgnas.classifier import CARD_FILE, CONTRACT_FILE, shipped_bundle_path
from ecgnas.classifier.export import export_onnx, export_torchscript
from ecgnas.data.dataset import load_beats

pytestmark = pytest.mark.realdata

TOL = 1e-4


@pytest.fixture(scope="module", params=["default", "tiny"])
def shipped(request: pytest.FixtureRequest):
    """Each shipped bundle: ecgnas/assets/classifier, then ecgnas/assets/classifier_tiny."""
    return load_classifier(request.param)


@pytest.fixture(scope="module")
def real_beats(shipped, real_data_dir: Path, shared_cache_dir: Path):
    """The model inputs of the first 700 beats of DS2 record 100 through the shipped
    preprocessing and input options."""
    beats = load_beats(
        ["100"], shipped.preprocess, data_dir=real_data_dir, cache_dir=shared_cache_dir
    )
    x, rr = shipped.model_inputs(beats.x, beats.rr, "100")  # the bundle's input options
    return x[:700], rr[:700]


def test_onnx_runtime_matches_torch_on_real_beats(shipped, real_beats, tmp_path: Path) -> None:
    import onnxruntime as ort

    x, rr = real_beats
    path = export_onnx(shipped, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["beats", "rr"]
    assert [o.name for o in session.get_outputs()] == ["logits", "probabilities"]
    want = shipped.logits(x, rr)
    for batch in (slice(0, 700), slice(0, 1), slice(100, 433)):  # dynamic batch axis
        logits, probs = session.run(None, {"beats": x[batch], "rr": rr[batch]})
        assert np.abs(logits - want[batch]).max() < TOL
        assert np.abs(probs - shipped.probabilities(want[batch])).max() < TOL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # nothing left behind


def test_torchscript_round_trip_matches_torch(shipped, real_beats, tmp_path: Path) -> None:
    import torch

    x, rr = real_beats
    path = export_torchscript(shipped, tmp_path / "model.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated in torch
        loaded = torch.jit.load(str(path))
    want = shipped.logits(x, rr)
    with torch.no_grad():
        logits, probs = loaded(torch.from_numpy(x[:333]), torch.from_numpy(rr[:333]))
    assert np.abs(logits.numpy() - want[:333]).max() < TOL
    assert np.abs(probs.numpy() - shipped.probabilities(want[:333])).max() < TOL


def test_cli_export_writes_the_file_and_refuses_unknown_formats(
    cli, trained_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.pt"
    assert (
        cli(
            [
                "export",
                "--bundle",
                str(trained_bundle),
                "--format",
                "torchscript",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert out.is_file() and "outputs logits, probabilities" in capsys.readouterr().out
    assert (
        cli(["export", "--bundle", str(trained_bundle), "--format", "tflite", "--out", str(out)])
        == 2
    )
    assert capsys.readouterr().err.startswith("error: unknown export format 'tflite'")


def test_cli_exports_the_tiny_bundle_to_int8_and_float16(
    cli, tmp_path: Path, real_data_dir: Path, shared_cache_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import onnx

    dirs = ["--data-dir", str(real_data_dir), "--cache-dir", str(shared_cache_dir)]
    for fmt in ("onnx-int8", "onnx-fp16"):
        out = tmp_path / f"tiny.{fmt}.onnx"
        assert cli(["export", "--bundle", "tiny", "--format", fmt, "--out", str(out), *dirs]) == 0
        assert "inputs beats [batch, 3, 96], rr [batch, 11]" in capsys.readouterr().out
        onnx.checker.check_model(onnx.load(str(out)))
    assert cli(["export", "--bundle", "tiny", "--format", "int4", "--out", str(out)]) == 2
    assert "onnx-int8, onnx-fp16" in capsys.readouterr().err


def test_the_shipped_bundle_has_a_model_card_and_labelled_ds2_results() -> None:
    path = shipped_bundle_path()
    contract = json.loads((path / CONTRACT_FILE).read_text())
    ds2 = contract["metrics"]["ds2_test"]
    assert ds2["what"].startswith("DS2-test")
    assert contract["metrics"]["ds1_validation"]["what"].startswith("DS1-validation")
    assert set(ds2["four_class"]["per_class"]) == {"N", "S", "V", "F"}
    card = (path / CARD_FILE).read_text()
    for needed in ("not a medical device", "MLII", "201 and 202", "Paced", "DS2"):
        assert needed.lower() in card.lower()
