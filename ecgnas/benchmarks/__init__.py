"""Benchmarks: the NAS-Bench-201/101 tables as evaluators, the search benchmark harness and
the predictor benchmark, with their reports.

* ``NB201Table`` / ``NB201Evaluator``, ``NB101Table`` / ``NB101Evaluator``: tabular lookups;
* ``BenchmarkConfig``, ``run_benchmark``, ``load_benchmark``, ``RunRecord``, ``Reference``:
  every search method on paired seeds (``harness``; reports in ``report``);
* ``PredictorBenchConfig``, ``run_predictor_bench``: how well predictors rank the table.

Every name is loaded on first use, so importing one table does not import the others, the
search engine or torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ecgnas.benchmarks.harness import (
        BenchmarkConfig,
        Reference,
        RunRecord,
        load_benchmark,
        run_benchmark,
    )
    from ecgnas.benchmarks.nb101_table import NB101Evaluator, NB101Table
    from ecgnas.benchmarks.nb201_table import NB201Evaluator, NB201Table
    from ecgnas.benchmarks.predictor_bench import PredictorBenchConfig, run_predictor_bench

_LAZY = {
    "BenchmarkConfig": "ecgnas.benchmarks.harness",
    "Reference": "ecgnas.benchmarks.harness",
    "RunRecord": "ecgnas.benchmarks.harness",
    "load_benchmark": "ecgnas.benchmarks.harness",
    "run_benchmark": "ecgnas.benchmarks.harness",
    "NB101Evaluator": "ecgnas.benchmarks.nb101_table",
    "NB101Table": "ecgnas.benchmarks.nb101_table",
    "NB201Evaluator": "ecgnas.benchmarks.nb201_table",
    "NB201Table": "ecgnas.benchmarks.nb201_table",
    "PredictorBenchConfig": "ecgnas.benchmarks.predictor_bench",
    "run_predictor_bench": "ecgnas.benchmarks.predictor_bench",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BenchmarkConfig",
    "NB101Evaluator",
    "NB101Table",
    "NB201Evaluator",
    "NB201Table",
    "PredictorBenchConfig",
    "Reference",
    "RunRecord",
    "load_benchmark",
    "run_benchmark",
    "run_predictor_bench",
]
