"""Temperature scaling, ECE and reliability data on hand-checked and synthetic inputs."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnas.classifier.calibration import (
    T_MAX,
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability,
    softmax,
)


def test_ece_matches_a_hand_computation() -> None:
    # 2 bins: (0, 0.5] and (0.5, 1]. Beats 0-1 fall in bin 0 (conf 0.4, 0.5),
    # beats 2-4 in bin 1 (conf 0.9, 0.8, 0.7).
    probs = np.array(
        [
            [0.4, 0.3, 0.3],  # predicts 0, right
            [0.5, 0.25, 0.25],  # predicts 0, wrong
            [0.05, 0.9, 0.05],  # predicts 1, right
            [0.1, 0.1, 0.8],  # predicts 2, wrong
            [0.7, 0.2, 0.1],  # predicts 0, right
        ]
    )
    y = np.array([0, 1, 1, 0, 0])
    rel = reliability(probs, y, n_bins=2)
    assert rel.count.tolist() == [2, 3]
    np.testing.assert_allclose(rel.confidence, [0.45, 0.8])
    np.testing.assert_allclose(rel.accuracy, [0.5, 2 / 3])
    # ECE = 2/5 * |0.5 - 0.45| + 3/5 * |2/3 - 0.8| = 0.02 + 0.08
    assert rel.ece == pytest.approx(0.10)
    assert expected_calibration_error(probs, y, n_bins=2) == pytest.approx(0.10)
    assert rel.to_dict()["count"] == [2, 3]


def test_ece_is_zero_when_confidence_equals_accuracy_and_empty_bins_are_nan() -> None:
    probs = np.array([[1.0, 0.0], [0.0, 1.0]])
    rel = reliability(probs, np.array([0, 1]), n_bins=4)
    assert rel.ece == 0.0
    assert rel.count.tolist() == [0, 0, 0, 2]
    assert np.isnan(rel.confidence[0]) and rel.to_dict()["accuracy"][0] is None


def _overconfident(n: int, true_t: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the logits handed out are z * true_t (over-confident)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, (n, 4))
    z[:, 0] += 1.0
    p = softmax(z)
    y = np.array([rng.choice(4, p=row) for row in p])
    return z * true_t, y


def test_temperature_scaling_recovers_the_temperature_and_reduces_nll_and_ece() -> None:
    logits, y = _overconfident(4000, true_t=2.5, seed=0)
    t = fit_temperature(logits, y)
    assert t == pytest.approx(2.5, rel=0.1)
    assert nll(logits, y, t) < nll(logits, y, 1.0) - 0.1
    before = expected_calibration_error(softmax(logits), y)
    after = expected_calibration_error(softmax(logits, t), y)
    assert before > 0.1 and after < 0.03
    # scaling never changes the predicted class
    assert (softmax(logits, t).argmax(1) == logits.argmax(1)).all()
    # deterministic
    assert fit_temperature(logits, y) == t


def test_temperature_is_clipped_and_inputs_are_checked() -> None:
    logits = np.array([[10.0, -10.0], [-10.0, 10.0]])
    assert fit_temperature(logits, np.array([1, 0])) == T_MAX  # always wrong: T runs away
    with pytest.raises(ValueError):
        fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError):
        reliability(np.ones((3, 2)) / 2, np.array([0, 1]))
    with pytest.raises(ValueError):
        nll(np.zeros((2, 2)), np.array([0, 2]))
    with pytest.raises(ValueError):
        softmax(logits, 0.0)
