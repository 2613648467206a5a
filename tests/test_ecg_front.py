"""The Pareto front of a multi-objective ECG run: which archs, what area, what is drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgnas.ecg_front import (
    FRONT_PNG,
    front_indices,
    front_lines,
    front_summary,
    hypervolume,
    plot_front,
)
from ecgnas.search.base import Evaluation
from ecgnas.spaces.base import Arch

# (signal, cost): eval 1 is dominated by eval 0, eval 3 ties eval 2's cost with less signal
POINTS = [(0.50, 100.0), (0.40, 200.0), (0.70, 300.0), (0.60, 300.0), (0.80, 1000.0)]


def _evals() -> list[Evaluation]:
    return [
        Evaluation(i, 0, Arch("tiny", (i, 0, 0, 0)), f"k{i}", s, 1.0)
        for i, (s, _) in enumerate(POINTS)
    ]


def _costs() -> np.ndarray:
    return np.array([c for _, c in POINTS])


def test_front_is_the_non_dominated_archs_by_increasing_cost() -> None:
    signal = np.array([s for s, _ in POINTS])
    assert front_indices(signal, _costs()).tolist() == [0, 2, 4]
    assert front_indices(np.zeros(0), np.zeros(0)).tolist() == []


def test_hypervolume_is_the_dominated_area_in_the_normalised_plane() -> None:
    # one point (0.5, cost 50) under reference cost 100: a 0.5 x 0.5 rectangle
    assert hypervolume([0.5], [50.0], 100.0) == pytest.approx(0.25)
    # staircase: (0.5, 0.1) and (0.7, 0.3) of reference (0, 1.1 x 1000 = 1100)
    ref = 1100.0
    expected = 0.5 * (300 - 100) / ref + 0.7 * (1000 - 300) / ref + 0.8 * (ref - 1000) / ref
    signal = [s for s, _ in POINTS]
    assert hypervolume(signal, _costs(), ref) == pytest.approx(expected)
    assert hypervolume([], [], ref) == 0.0


def test_summary_states_the_reference_and_lists_the_front(tmp_path: Path) -> None:
    described = {"objective": "params", "unit": "parameters", "recipe": "r3"}
    summary = front_summary(_evals(), _costs(), described)
    assert summary["reference"]["cost"] == pytest.approx(1100.0)
    assert summary["reference"]["signal"] == 0.0
    assert [p["index"] for p in summary["front"]] == [0, 2, 4]
    assert [p["cost"] for p in summary["front"]] == [100.0, 300.0, 1000.0]
    assert summary["hypervolume"] == pytest.approx(
        hypervolume([s for s, _ in POINTS], _costs(), 1100.0)
    )
    text = "\n".join(front_lines(summary, "DS1-CV macro-F1"))
    assert "front: 3 of 5 evaluated archs" in text
    assert "params 1,100" in text and "1.1 x the largest evaluated cost" in text
    assert f"![front]({FRONT_PNG})" in text
    latency = {**described, "objective": "latency", "unit": "ms"}
    latency["latency"] = {"threads": 1, "batch": 1, "runs": 200}
    text = "\n".join(front_lines(front_summary(_evals(), _costs() / 1e4, latency), "F1"))
    assert "1 thread, batch 1, median of 200 runs" in text and "0.0100 ms" in text

    path = tmp_path / FRONT_PNG
    plot_front(_evals(), _costs(), path, "F1", "params")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
