"""The evaluator contract: ``evaluate(arch) -> Result``.

An evaluator turns an architecture into the *search signal* (higher is better) and the
*cost* the evaluation charges to the budget. Whatever is reported but must not steer the
search (a test accuracy, say) lives in ``metrics`` and is never read by a strategy.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ecgnas.errors import ConfigError
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

    @property
    def space(self) -> SearchSpace:
        """The space whose archs this evaluator scores (read-only: an implementation may
        hold a narrower ``SearchSpace`` subclass, as a plain attribute or a property)."""

    def evaluate(self, arch: Arch) -> Result:
        """Evaluate one arch; raise ``ecgnas.errors.EcgnasError`` for archs outside the space."""


# ==========================================================================================
# evaluators by name, for processes that build their own (distributed workers)
# ==========================================================================================

#: the JSON spec of an evaluator: ``{"evaluator": kind, ...}`` (JSON values only)
EvaluatorSpec = dict[str, Any]
#: a directory argument: a path, or ``None`` for the spec's own or the default
DirLike = str | os.PathLike[str] | None
#: ``factory(spec, data_dir, cache_dir) -> Evaluator``; the directories override the spec's
EvaluatorFactory = Callable[[EvaluatorSpec, DirLike, DirLike], Evaluator]


class DelayedEvaluator:
    """Wraps an evaluator and sleeps ``delay_s`` wall seconds before each evaluation.

    An artificial evaluation time for tabular benchmarks (tests, the scaling benchmark):
    the ``Result`` (score, charged cost, metrics) is the wrapped evaluator's, unchanged.
    """

    def __init__(self, inner: Evaluator, delay_s: float) -> None:
        if not delay_s >= 0:
            raise ConfigError(f"delay_s must be >= 0, got {delay_s}")
        self.inner = inner
        self.delay_s = float(delay_s)
        self.space = inner.space
        self.dataset: object = getattr(inner, "dataset", None)

    def evaluate(self, arch: Arch) -> Result:
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.inner.evaluate(arch)


@dataclass(frozen=True)
class EvaluatorKind:
    """One kind of evaluator a spec can name.

    builder: ``"module:function"``, the ``EvaluatorFactory`` (imported when first used);
    space: the space name when the spec has no ``"space"`` entry (the coordinator needs the
    space without the data); uses_device: whether evaluations run on a GPU when there is one
    (local workers are then pinned to one each).
    """

    name: str
    builder: str
    space: str
    uses_device: bool

    def space_of(self, spec: Mapping[str, Any]) -> SearchSpace:
        """The search space of ``spec`` (cheap: no data is read)."""
        from ecgnas.spaces.registry import get_space

        return get_space(str(spec.get("space", self.space)))

    def factory(self) -> EvaluatorFactory:
        """The builder function (imports its module)."""
        module_name, _, function = self.builder.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            raise ConfigError(
                f"evaluator {self.name!r} is not installed ({module_name} missing)"
            ) from exc
        build: EvaluatorFactory = getattr(module, function)
        return build

    def build(
        self, spec: EvaluatorSpec, data_dir: DirLike = None, cache_dir: DirLike = None
    ) -> Evaluator:
        """The evaluator of ``spec`` (loads tables or data; may take a while)."""
        return self.factory()(spec, data_dir, cache_dir)


#: the evaluator kinds, by ``spec["evaluator"]``; each builder lives beside its evaluator
_KINDS: dict[str, EvaluatorKind] = {
    "nb201": EvaluatorKind(
        "nb201", "ecgnas.benchmarks.nb201_table:build_nb201_evaluator", "nb201", False
    ),
    "mitbih": EvaluatorKind(
        "mitbih", "ecgnas.train.ecg_evaluator:build_mitbih_evaluator", "ecg1d", True
    ),
    "mitbih_cv": EvaluatorKind(
        "mitbih_cv", "ecgnas.classifier.proxy:build_cv_evaluator", "ecgjoint", True
    ),
}

#: the evaluator names a spec may give, in the order messages list them
EVALUATOR_NAMES: tuple[str, ...] = tuple(_KINDS)


def evaluator_kind(spec: Mapping[str, Any] | str) -> EvaluatorKind:
    """The kind named by ``spec["evaluator"]`` (or by ``spec`` itself when it is a name).

    ``ConfigError`` (listing the known kinds) for a missing or unknown one.
    """
    name = spec if isinstance(spec, str) else spec.get("evaluator")
    kind = _KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise ConfigError(
            f"unknown evaluator {name!r} in the evaluator spec; known: {', '.join(EVALUATOR_NAMES)}"
        )
    return kind


def build_evaluator(
    spec: EvaluatorSpec, data_dir: DirLike = None, cache_dir: DirLike = None
) -> Evaluator:
    """The evaluator of ``spec`` (``data_dir``/``cache_dir`` override the spec's own)."""
    return evaluator_kind(spec).build(spec, data_dir, cache_dir)
