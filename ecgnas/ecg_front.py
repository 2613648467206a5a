"""The Pareto front of a multi-objective ECG search: its summary, report lines and plot.

The points are the run's truly evaluated archs, (search signal, cost): the signal (a
macro-F1 in [0, 1]) up, the cost (``ecgnas.ecg_costs``) down. The front is the
non-dominated ones, listed by increasing cost.

Hypervolume
-----------
The area the front dominates in the normalised plane (signal, cost / ``cost_ref``), bounded
by the reference point (signal 0, cost ``cost_ref``), where ``cost_ref`` = 1.1 x the largest
cost among the run's evaluated archs (the convention of ``ecgnas.benchmarks.pareto_bench``,
whose 1.1 x is taken over a whole table; an ECG space is not tabulated, so here it is taken
over the run). So it lies in [0, 1], and 1 would be a macro-F1 of 1 at zero cost. Because the
reference depends on the run, hypervolumes of two runs are comparable only under one
reference: ``hypervolume(signal, cost, cost_ref)`` recomputes one under any.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from ecgnas.io import atomic_path
from ecgnas.search.base import Evaluation
from ecgnas.search.pareto import front_2d, hypervolume_2d

#: the reference cost is this factor times the largest evaluated cost
REFERENCE_FACTOR: Final = 1.1
#: the front plot's file name in the run directory
FRONT_PNG: Final = "front.png"


def hypervolume(
    signal: Sequence[float] | np.ndarray, cost: Sequence[float] | np.ndarray, cost_ref: float
) -> float:
    """Hypervolume of the points (``signal``, ``cost``) in the plane (signal, cost /
    ``cost_ref``) with reference point (0, ``cost_ref``): in [0, 1] for signals in [0, 1]."""
    s = np.asarray(signal, dtype=np.float64)
    c = np.asarray(cost, dtype=np.float64)
    if len(s) == 0:
        return 0.0
    return hypervolume_2d(np.column_stack([-s, c / cost_ref]), (0.0, 1.0))


def front_indices(signal: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated points (signal up, cost down), by increasing cost."""
    if len(signal) == 0:
        return np.zeros(0, dtype=np.int64)
    return front_2d(np.column_stack([cost, -signal]))


def front_summary(
    evaluations: Sequence[Evaluation], costs: np.ndarray, cost: dict[str, Any]
) -> dict[str, Any]:
    """The ``pareto`` entry of ``result.json``: the cost's description (``cost``:
    ``ECGCost.describe()``), the reference point, the hypervolume and the front."""
    signal = np.array([e.score for e in evaluations], dtype=np.float64)
    costs = np.asarray(costs, dtype=np.float64)
    cost_ref = REFERENCE_FACTOR * float(costs.max()) if len(costs) else 1.0
    front = front_indices(signal, costs)
    return {
        "cost": cost,
        "reference": {
            "signal": 0.0,
            "cost": cost_ref,
            "rule": f"signal 0; cost {REFERENCE_FACTOR} x the largest evaluated cost",
        },
        "hypervolume": hypervolume(signal, costs, cost_ref),
        "n_evaluated": len(evaluations),
        "front": [
            {
                "arch": evaluations[int(i)].arch.to_json(),
                "key": evaluations[int(i)].arch.key(),
                "score": float(signal[i]),
                "cost": float(costs[i]),
                "index": evaluations[int(i)].index,
            }
            for i in front
        ],
    }


def _fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:.4f} ms"
    return f"{int(round(value)):,}"


def front_lines(summary: dict[str, Any], signal: str) -> list[str]:
    """The report's section on the front (markdown lines)."""
    cost = summary["cost"]
    name, unit = cost["objective"], cost["unit"]
    ref = summary["reference"]
    lines = [
        f"## Pareto front: {signal} vs {name}",
        "",
        f"- cost: {name} ({unit}) of the network recipe `{cost['recipe']}` builds for each "
        "arch (full width, the arch's own data choices)"
        + (
            f"; ONNX Runtime, {cost['latency']['threads']} thread, batch "
            f"{cost['latency']['batch']}, median of {cost['latency']['runs']} runs on this CPU"
            if "latency" in cost
            else ""
        ),
        f"- front: {len(summary['front'])} of {summary['n_evaluated']} evaluated archs",
        f"- hypervolume: {summary['hypervolume']:.4f} (normalised plane: {signal} up, "
        f"{name} / {_fmt(ref['cost'], unit)} down; reference point ({signal} {ref['signal']:g}, "
        f"{name} {_fmt(ref['cost'], unit)}) = {ref['rule']})",
        "",
        f"| arch | {signal} | {name} | eval # |",
        "|---|---|---|---|",
    ]
    for p in summary["front"]:
        lines.append(
            f"| `{p['key']}` | {p['score']:.4f} | {_fmt(p['cost'], unit)} | {p['index']} |"
        )
    lines += ["", f"![front]({FRONT_PNG})", ""]
    return lines


def plot_front(
    evaluations: Sequence[Evaluation], costs: np.ndarray, path: Path, signal: str, cost: str
) -> None:
    """Every evaluated arch (cost, signal) and the front as a staircase, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = np.array([e.score for e in evaluations], dtype=np.float64)
    costs = np.asarray(costs, dtype=np.float64)
    front = front_indices(scores, costs)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.scatter(costs, scores, s=12, alpha=0.5, label="evaluated arch")
    ax.step(costs[front], scores[front], where="post", color="C1", marker="o", label="front")
    if len(costs) and costs.min() > 0 and costs.max() / costs.min() > 20:
        ax.set_xscale("log")
    ax.set_xlabel(cost)
    ax.set_ylabel(signal)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
