"""Probability calibration: temperature scaling, expected calibration error, reliability data.

Temperature scaling (Guo et al., ICML 2017) divides the logits by one scalar ``T > 0`` fitted
on held-out data by minimising the negative log-likelihood; it changes the confidence of
the predictions but never their argmax. ecgnas fits ``T`` on held-out *DS1* records (never
on DS2) and ships it in the classifier bundle: calibrated probabilities are
``softmax(logits / T)``.

ECE (expected calibration error) uses ``n_bins`` equal-width bins of the top-class
confidence over ``[0, 1]`` (the last bin closed): ``ECE = sum_b (n_b / n) |acc_b - conf_b|``,
where ``acc_b`` is the fraction of beats in bin ``b`` whose predicted class is right and
``conf_b`` their mean confidence. It is a number in ``[0, 1]`` (0: calibrated).

Inputs are numpy arrays: ``logits`` float ``[n, C]``, ``probs`` float ``[n, C]`` (rows sum
to 1), ``y`` int ``[n]`` class indices in ``0..C-1``. Bad shapes raise ``ValueError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

T_MIN = 0.05
T_MAX = 20.0
"""Fitted temperatures are clipped to ``[T_MIN, T_MAX]`` (a degenerate fit, e.g. on a
perfectly separated validation set, would otherwise run off to 0 or infinity)."""


def _check(scores: np.ndarray, y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if scores.ndim != 2 or y.ndim != 1 or scores.shape[0] != y.shape[0]:
        raise ValueError(f"{what} must be [n, C] and y [n]; got {scores.shape} and {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= scores.shape[1]):
        raise ValueError(f"labels must lie in 0..{scores.shape[1] - 1}")
    return scores, y


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / temperature)`` row-wise, float64 ``[n, C]`` (numerically stable)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood (nats per beat) of ``y`` under ``softmax(logits / T)``."""
    logits, y = _check(logits, y, "logits")
    if y.size == 0:
        return float("nan")
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(y.size), y].mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray, max_iter: int = 100) -> float:
    """The temperature ``T > 0`` that minimises the NLL of ``y`` under ``softmax(logits / T)``.

    Optimises ``log T`` (so ``T`` stays positive) with L-BFGS (``torch.optim.LBFGS``, strong
    Wolfe line search) from ``T = 1`` in float64; the result is clipped to
    ``[T_MIN, T_MAX]``. Deterministic. Raises ``ValueError`` for empty or mis-shaped input.
    """
    import torch

    logits, y = _check(logits, y, "logits")
    if y.size == 0:
        raise ValueError("cannot fit a temperature on zero beats")
    z = torch.from_numpy(logits)
    t = torch.from_numpy(y)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe", tolerance_grad=1e-9
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), t)
        loss.backward()
        return loss

    opt.step(closure)
    value = float(log_t.detach().exp())
    if not math.isfinite(value):
        return 1.0
    return float(min(max(value, T_MIN), T_MAX))


@dataclass(frozen=True)
class Reliability:
    """Reliability-diagram data for ``n_bins`` equal-width confidence bins over ``[0, 1]``.

    edges: float64 [n_bins + 1]; count: int64 [n_bins] beats per bin; confidence: float64
    [n_bins] mean top-class probability per bin (``nan`` for an empty bin); accuracy:
    float64 [n_bins] fraction correct per bin (``nan`` when empty); ece: the expected
    calibration error (weighted mean gap); n: number of beats.
    """

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    ece: float
    n: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (``nan`` becomes ``None``)."""

        def clean(a: np.ndarray) -> list[float | None]:
            return [None if math.isnan(v) else float(v) for v in a.tolist()]

        return {
            "edges": [float(e) for e in self.edges],
            "count": [int(c) for c in self.count],
            "confidence": clean(self.confidence),
            "accuracy": clean(self.accuracy),
            "ece": None if math.isnan(self.ece) else float(self.ece),
            "n": self.n,
        }


def reliability(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> Reliability:
    """Reliability data and ECE of top-class predictions (see the module docstring)."""
    probs, y = _check(probs, y, "probs")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    conf = probs.max(axis=1) if y.size else np.zeros(0)
    correct = (probs.argmax(axis=1) == y) if y.size else np.zeros(0, dtype=bool)
    # bin b holds edges[b] < conf <= edges[b+1]; conf == 0 goes to bin 0
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.int64)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / np.maximum(count, 1), np.nan)
        mean_acc = np.where(count > 0, acc_sum / np.maximum(count, 1), np.nan)
    n = int(y.size)
    if n == 0:
        ece = float("nan")
    else:
        gaps = np.where(count > 0, np.abs(mean_acc - mean_conf), 0.0)
        ece = float((count / n * gaps).sum())
    return Reliability(edges, count, mean_conf, mean_acc, ece, n)


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """ECE of top-class predictions with ``n_bins`` equal-width bins (``nan`` for no beats)."""
    return reliability(probs, y, n_bins).ece
