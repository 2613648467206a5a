"""The evaluator contract: ``evaluate(arch) -> Result``.

An evaluator turns an architecture into the *search signal* (higher is better) and the
*cost* the evaluation charges to the budget. Whatever is reported but must not steer the
search (a test accuracy, say) lives in ``metrics`` and is never read by a strategy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ecgnas.spaces.base import Arch, SearchSpace


@dataclass(frozen=True)
class Result:
    """The outcome of one evaluation.

    score:
        The search signal, higher is better (e.g. a validation accuracy in percent).
    cost_seconds:
        Device seconds charged to the budget: measured for real training, the benchmark's
        recorded training time for tabular evaluators, or a documented proxy.
    metrics:
        Everything else, by name: ``test_acc`` (reporting only), ``signal`` (the name of the
        score column), ``cost_kind`` (``"measured"``, ``"table"`` or ``"proxy:<what>"``), ...
    """

    score: float
    cost_seconds: float
    metrics: dict[str, float | str] = field(default_factory=dict)


@runtime_checkable
class Evaluator(Protocol):
    """Scores archs of one space."""

    space: SearchSpace

    def evaluate(self, arch: Arch) -> Result:
        """Evaluate one arch; raise ``ecgnas.errors.EcgnasError`` for archs outside the space."""
