"""Parameters, file sizes, latency per beat and the model-card section."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgnas import load_classifier
from ecgnas.classifier.export import export_onnx
from ecgnas.classifier.footprint import (
    Latency,
    file_size,
    footprint_card,
    latency_per_beat,
    parameter_count,
)
from ecgnas.errors import ConfigError


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory):
    classifier = load_classifier("tiny")
    path = export_onnx(classifier, tmp_path_factory.mktemp("fp") / "tiny.onnx")
    return classifier, path


def _beat(classifier, n: int = 1) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros((n, classifier.inputs.n_channels, classifier.preprocess.window), np.float32)
    return x, np.ones((n, classifier.inputs.n_rr), np.float32)


def test_parameters_count_every_member_and_sizes_are_bytes(tiny_onnx, tmp_path: Path) -> None:
    classifier, path = tiny_onnx
    assert parameter_count(classifier) == 3 * 1666
    assert parameter_count(load_classifier()) > parameter_count(classifier)
    (tmp_path / "f").write_bytes(b"x" * 1234)
    assert file_size(tmp_path / "f") == 1234
    # the float file holds the 4,998 float32 weights plus the BN statistics, and little else
    assert 4 * 4998 < file_size(path) < 40_000


def test_latency_is_a_median_of_timed_single_beat_calls(tiny_onnx) -> None:
    classifier, path = tiny_onnx
    lat = latency_per_beat(path, _beat(classifier), runs=7, warmup=2)
    assert (lat.runs, lat.warmup, lat.threads) == (7, 2, 1)
    assert 0 < lat.p10_us <= lat.median_us <= lat.p90_us
    assert lat.to_json()["median_us"] == lat.median_us
    with pytest.raises(ConfigError, match="batch 1"):
        latency_per_beat(path, _beat(classifier, 2), runs=1)
    with pytest.raises(ConfigError, match="runs >= 1"):
        latency_per_beat(path, _beat(classifier), runs=0)


def test_the_card_section_states_every_figure() -> None:
    lat = {"float ONNX": Latency(43.2, 40.0, 50.0, 2000, 200, 1)}
    card = footprint_card(4998, {"float ONNX": 28398, "safetensors": 26772}, lat, "r.md")
    assert card.startswith("## Footprint")
    for needed in ("**4,998**", "float ONNX 28,398 bytes", "safetensors 26,772", "43 µs"):
        assert needed in card
    assert "median of 2000 runs" in card and "`r.md`" in card
