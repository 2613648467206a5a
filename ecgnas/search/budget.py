"""The one budget that decides when a run stops.

A run spends two things: *evaluations* (how many archs were truly evaluated) and *seconds*
(device seconds: the evaluators' costs plus the strategy's own time, predictor training and
inference included). A device-day budget is seconds: ``days * 86,400 * devices``.

The driver checks the budget *before* each evaluation, so a run never exceeds
``max_evals``. A seconds budget can be overrun by at most the cost of the last evaluation
(its cost is only known once it has run) and one round of strategy time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecgnas.errors import ConfigError

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Budget:
    """Stop when either limit is reached; ``None`` means no limit on that quantity.

    max_evals:
        Maximum number of true evaluations (positive).
    max_seconds:
        Maximum device seconds (evaluator cost + strategy/predictor time), positive.
    """

    max_evals: int | None = None
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.max_evals is None and self.max_seconds is None:
            raise ConfigError("a budget needs max_evals or max_seconds (or both)")
        if self.max_evals is not None and self.max_evals < 1:
            raise ConfigError(f"max_evals must be at least 1, got {self.max_evals}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ConfigError(f"max_seconds must be positive, got {self.max_seconds}")

    @classmethod
    def device_days(cls, days: float, devices: int = 1, max_evals: int | None = None) -> Budget:
        """A budget of ``days`` device-days on ``devices`` devices (seconds = days x 86,400 x devices)."""
        if devices < 1:
            raise ConfigError(f"devices must be at least 1, got {devices}")
        if not days > 0:
            raise ConfigError(f"device-days must be positive, got {days}")
        return cls(max_evals=max_evals, max_seconds=days * SECONDS_PER_DAY * devices)

    def allows(self, n_evals: int, seconds: float) -> bool:
        """Whether one more evaluation may start after ``n_evals`` evaluations and ``seconds`` spent."""
        if self.max_evals is not None and n_evals >= self.max_evals:
            return False
        if self.max_seconds is not None and seconds >= self.max_seconds:
            return False
        return True

    def stop_reason(self, n_evals: int, seconds: float) -> str:
        """Which limit stops the run (``""`` if none does yet)."""
        if self.max_evals is not None and n_evals >= self.max_evals:
            return f"budget: {n_evals} of {self.max_evals} evaluations"
        if self.max_seconds is not None and seconds >= self.max_seconds:
            return f"budget: {seconds:.1f} of {self.max_seconds:.1f} device seconds"
        return ""

    def to_json(self) -> dict[str, Any]:
        return {"max_evals": self.max_evals, "max_seconds": self.max_seconds}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Budget:
        return cls(max_evals=obj.get("max_evals"), max_seconds=obj.get("max_seconds"))
