"""The evaluator-kind registry: names, lazy builders, and ``DelayedEvaluator``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ecgnas.errors import ConfigError
from ecgnas.evaluate import EVALUATOR_NAMES, DelayedEvaluator, EvaluatorKind, evaluator_kind
from ecgnas.testing import ToyEvaluator, toy_space


def test_kinds_by_name_or_spec() -> None:
    assert EVALUATOR_NAMES == ("nb201", "mitbih", "mitbih_cv")
    assert evaluator_kind("nb201") is evaluator_kind({"evaluator": "nb201", "delay_s": 0})
    mitbih = evaluator_kind({"evaluator": "mitbih"})
    assert mitbih.uses_device and not evaluator_kind("nb201").uses_device
    assert mitbih.space_of({}).name == "ecg1d"
    assert evaluator_kind("nb201").space_of({"space": "ecg1d"}).name == "ecg1d"


@pytest.mark.parametrize("spec", ["nope", {"evaluator": "nope"}, {}, {"evaluator": 3}])
def test_unknown_kind_is_a_config_error_listing_the_known(spec) -> None:
    with pytest.raises(ConfigError, match="unknown evaluator .*; known: nb201, mitbih, mitbih_cv$"):
        evaluator_kind(spec)


def test_importing_the_registry_imports_no_builder() -> None:
    code = (
        "import sys, ecgnas.evaluate as e; e.evaluator_kind('mitbih'); "
        "print(any(m in sys.modules for m in "
        "('torch', 'ecgnas.train.ecg_evaluator', 'ecgnas.benchmarks.nb201_table')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_missing_builder_module_is_a_config_error() -> None:
    kind = EvaluatorKind("ghost", "ecgnas_no_such_module:build", "nb201", False)
    with pytest.raises(ConfigError, match="evaluator 'ghost' is not installed"):
        kind.factory()


def test_delayed_evaluator_passes_the_result_through() -> None:
    inner = ToyEvaluator(toy_space(3))
    arch = inner.space.sample(np.random.default_rng(0))
    delayed = DelayedEvaluator(inner, 0.0)
    assert delayed.space is inner.space
    assert delayed.evaluate(arch) == ToyEvaluator(toy_space(3)).evaluate(arch)
    with pytest.raises(ConfigError, match="delay_s must be >= 0"):
        DelayedEvaluator(inner, -1.0)
