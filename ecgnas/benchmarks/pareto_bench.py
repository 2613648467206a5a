"""The multi-objective benchmark on NB201 + HW-NAS-Bench: accuracy against a device cost.

``run_pareto(config)`` runs each (method, seed) pair with ``ecgnas.search.run_search`` (an
in-memory run log, a budget of ``budget`` true evaluations) and returns one ``ParetoRecord``
per run. Every method sees the same evaluator (the NB201 table lookup: the search signal is
the one ``ecgnas benchmark nb201`` uses, e.g. cifar10-valid validation accuracy for cifar10)
and, if it is multi-objective, the same cost function (the device column of HW-NAS-Bench, a
free query). Seed ``s`` gives every method the same initial random archs.

Hypervolume (what a run is scored by)
-------------------------------------
The points of a run are its truly evaluated archs, (accuracy %, cost). Its hypervolume is
the area the non-dominated ones dominate in the normalised plane (accuracy / 100, cost /
``cost_ref``) bounded by the reference point (accuracy 0 %, cost ``cost_ref``), where
``cost_ref`` = 1.1 x the largest cost of any of the 15,625 cells for that device, metric and
dataset. So a hypervolume lies in [0, 1]; 1 would be 100 % accuracy at zero cost. It is
computed on the search signal (``hv_signal``, what the search optimises) and, for the same
evaluated archs, on the reported test accuracy (``hv_test``). The best any set of archs can
reach, the hypervolume of the whole table's front, is in ``ParetoReference``.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ecgnas.benchmarks.harness import NB201_SEARCH_DATASETS, check_run_grid, prepare_worker
from ecgnas.benchmarks.nb201_hw import (
    HW_METRICS,
    INCOMPLETE_DEVICES,
    OBJECTIVE_DEVICES,
    HardwareCost,
    ParetoEvaluator,
)
from ecgnas.errors import ConfigError
from ecgnas.search import Budget, run_search
from ecgnas.search.base import Evaluation
from ecgnas.search.pareto import front_2d, hypervolume_2d
from ecgnas.search.registry import PARETO_STRATEGY_NAMES, PREDICTOR_STRATEGIES, make_strategy

logger = logging.getLogger(__name__)

#: the reference cost is this factor times the largest cost in the table
REFERENCE_FACTOR = 1.1
#: the evaluation counts at which a run's hypervolume curve is sampled (and the last one)
CURVE_STEP = 5


@dataclass(frozen=True)
class ParetoConfig:
    """One benchmark: NB201 ``dataset`` x a device cost, ``methods`` x ``seeds``, ``budget``."""

    device: str
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    budget: int = 100
    metric: str = "latency"
    dataset: str = "cifar10"
    benchmark: str = "nb201"
    jobs: int = 1
    data_dir: str | None = None
    cache_dir: str | None = None
    method_settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.benchmark != "nb201":
            raise ConfigError(
                f"the pareto benchmark runs on nb201 only (HW-NAS-Bench), not {self.benchmark!r}"
            )
        if self.dataset not in NB201_SEARCH_DATASETS:
            raise ConfigError(
                f"unknown NB201 dataset {self.dataset!r}; known: {', '.join(NB201_SEARCH_DATASETS)}"
            )
        if self.device in INCOMPLETE_DEVICES:
            raise ConfigError(
                f"device {self.device!r} cannot be an objective: "
                f"{INCOMPLETE_DEVICES[self.device]}; use one of {', '.join(OBJECTIVE_DEVICES)}"
            )
        if self.device not in OBJECTIVE_DEVICES:
            raise ConfigError(
                f"unknown device {self.device!r}; known: {', '.join(OBJECTIVE_DEVICES)}"
            )
        if self.metric not in HW_METRICS:
            raise ConfigError(f"unknown metric {self.metric!r}; known: {', '.join(HW_METRICS)}")
        check_run_grid(self.methods, PARETO_STRATEGY_NAMES, self.seeds, self.budget, 2, self.jobs)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["methods"] = list(self.methods)
        out["seeds"] = list(self.seeds)
        return out


def normalised_hv(
    acc: np.ndarray | Sequence[float], cost: np.ndarray | Sequence[float], cost_ref: float
) -> float:
    """Hypervolume of the points (``acc`` %, ``cost``) in the normalised plane (accuracy/100
    up, cost/``cost_ref`` down) with reference point (0 %, ``cost_ref``); in [0, 1]."""
    a = np.asarray(acc, dtype=np.float64)
    c = np.asarray(cost, dtype=np.float64)
    if len(a) == 0:
        return 0.0
    return hypervolume_2d(np.column_stack([-a / 100.0, c / cost_ref]), (0.0, 1.0))


def front_of(acc: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated points (accuracy up, cost down), by increasing cost."""
    if len(acc) == 0:
        return np.zeros(0, dtype=np.int64)
    return front_2d(np.column_stack([cost, -acc]))


@dataclass(frozen=True)
class ParetoReference:
    """What runs are measured against: the cost, the reference point and the table's optimum.

    ``cost_ref`` = ``REFERENCE_FACTOR`` x ``cost_max`` (the largest cost of any cell);
    ``optimal_hv_*`` the hypervolume of every cell of the table (its Pareto front) on the
    signal / on the test accuracy; ``optimal_front_*`` that front as [accuracy, cost] rows.
    """

    cost_name: str
    cost_unit: str
    cost_max: float
    cost_ref: float
    signal_name: str
    test_name: str
    optimal_hv_signal: float
    optimal_hv_test: float
    optimal_front_signal: list[list[float]]
    optimal_front_test: list[list[float]]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def load_pareto(config: ParetoConfig) -> tuple[ParetoEvaluator, HardwareCost, ParetoReference]:
    """The evaluator, the cost function and the reference of ``config`` (``DataError`` if a
    table is missing, ``ConfigError`` if the device lacks the metric)."""
    from ecgnas.benchmarks.nb201_hw import NB201HardwareTable
    from ecgnas.benchmarks.nb201_table import NB201Evaluator, NB201Table

    table = NB201Table.load(config.data_dir)
    hw = NB201HardwareTable.load(config.data_dir)
    cost = HardwareCost.build(table, hw, config.dataset, config.device, config.metric)
    evaluator = ParetoEvaluator(NB201Evaluator(table, config.dataset), cost)
    cost_all = cost.values()
    cost_ref = REFERENCE_FACTOR * cost.max
    fronts = {}
    for which in ("signal", "test"):
        acc = table.values(config.dataset, which)
        idx = front_of(acc, cost_all)
        fronts[which] = (
            normalised_hv(acc[idx], cost_all[idx], cost_ref),
            [[round(float(acc[i]), 4), round(float(cost_all[i]), 6)] for i in idx],
        )
    d = evaluator.dataset
    reference = ParetoReference(
        cost_name=cost.name,
        cost_unit=cost.unit,
        cost_max=cost.max,
        cost_ref=cost_ref,
        signal_name=d.signal_column,
        test_name=d.test_column,
        optimal_hv_signal=fronts["signal"][0],
        optimal_hv_test=fronts["test"][0],
        optimal_front_signal=fronts["signal"][1],
        optimal_front_test=fronts["test"][1],
    )
    return evaluator, cost, reference


@dataclass
class ParetoRecord:
    """The outcome of one (method, seed) run.

    ``front`` / ``front_test``: the run's non-dominated evaluated archs on (signal, cost) /
    (test accuracy, cost), by increasing cost, each as [signal %, test %, cost, NB201 index];
    ``indices``: the NB201 index of every evaluated arch, in evaluation order; ``hv_curve``:
    ``hv_signal`` after 5, 10, ... evaluations (and after the last).
    """

    method: str
    seed: int
    n_evals: int
    hv_signal: float
    hv_test: float
    front: list[list[float]]
    front_test: list[list[float]]
    indices: list[int]
    hv_curve: list[float]
    wall_seconds: float
    strategy_seconds: float
    stop_reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ParetoRecord:
        return cls(**obj)


def hv_curve(signal: np.ndarray, cost: np.ndarray, cost_ref: float) -> list[float]:
    """``normalised_hv`` of the first 5, 10, ... points (and of all of them)."""
    n = len(signal)
    steps = sorted({*range(CURVE_STEP, n + 1, CURVE_STEP), n} - {0})
    return [round(normalised_hv(signal[:k], cost[:k], cost_ref), 6) for k in steps]


def record_of(
    method: str, seed: int, evaluations: Sequence[Evaluation], reference: ParetoReference
) -> tuple[dict[str, Any], np.ndarray]:
    """The hypervolume fields of a ``ParetoRecord`` from a run's evaluations (costs read from
    each evaluation's ``cost`` metric), and its ``[n, 4]`` points."""
    pts = np.array(
        [
            [ev.score, float(ev.metrics["test_acc"]), float(ev.metrics["cost"]),
             float(ev.metrics["index"])]
            for ev in evaluations
        ],
        dtype=np.float64,
    ).reshape(len(evaluations), 4)  # fmt: skip
    signal, test, cost = pts[:, 0], pts[:, 1], pts[:, 2]

    def rows(idx: np.ndarray) -> list[list[float]]:
        return [[round(float(v), 6) for v in pts[i, :3]] + [int(pts[i, 3])] for i in idx]

    fields = {
        "method": method,
        "seed": int(seed),
        "n_evals": len(evaluations),
        "hv_signal": normalised_hv(signal, cost, reference.cost_ref),
        "hv_test": normalised_hv(test, cost, reference.cost_ref),
        "front": rows(front_of(signal, cost)),
        "front_test": rows(front_of(test, cost)),
        "indices": [int(i) for i in pts[:, 3]],
        "hv_curve": hv_curve(signal, cost, reference.cost_ref),
    }
    return fields, pts


def run_one(
    evaluator: ParetoEvaluator,
    cost: HardwareCost,
    reference: ParetoReference,
    method: str,
    seed: int,
    budget: int,
    settings: dict[str, Any] | None = None,
) -> ParetoRecord:
    """One search run with an in-memory log, summarised as a ``ParetoRecord``."""
    strategy = make_strategy(method, cost=cost, **(settings or {}))
    result = run_search(
        strategy,
        evaluator,
        Budget(max_evals=budget),
        seed,
        extra_settings={"cost": cost.name},
    )
    fields, _ = record_of(method, seed, result.evaluations, reference)
    return ParetoRecord(
        **fields,
        wall_seconds=result.wall_seconds,
        strategy_seconds=float(sum(result.round_seconds)),
        stop_reason=result.stop_reason,
    )


def _run_chunk(
    config: ParetoConfig, tasks: Sequence[tuple[str, int]], threads: int | None
) -> list[ParetoRecord]:
    """Worker: load the tables once, run ``tasks`` (method, seed) in order."""
    prepare_worker(tasks, threads)
    evaluator, cost, reference = load_pareto(config)
    return [
        run_one(evaluator, cost, reference, m, s, config.budget, config.method_settings.get(m))
        for m, s in tasks
    ]


def _warm_up(config: ParetoConfig) -> None:
    """Fit each predictor method's predictor once here, so the pre-trained encoder (CLP) is
    cached before the workers start (each would otherwise train it)."""
    from ecgnas.search.baselines import named_predictor

    evaluator, cost, _ = load_pareto(config)
    rng = np.random.default_rng(0)
    archs = [evaluator.space.sample(rng), evaluator.space.sample(rng)]
    for method in config.methods:
        if method in PREDICTOR_STRATEGIES:
            settings = make_strategy(
                method, cost=cost, **config.method_settings.get(method, {})
            ).settings()
            predictor = named_predictor(settings["predictor"], **settings["predictor_settings"])(
                evaluator.space, config.seeds[0]
            )
            predictor.fit(archs, [0.0, 1.0])


def run_pareto(
    config: ParetoConfig,
    on_progress: Callable[[int, int, float], None] | None = None,
    runs_per_chunk: int = 8,
) -> list[ParetoRecord]:
    """Run every (method, seed) of ``config``; records sorted by (method order, seed).

    ``jobs > 1`` runs chunks of runs in spawned worker processes (one torch thread each
    when there are fewer cores than jobs); ``on_progress(done, total, elapsed_seconds)``.
    """
    tasks = [(m, s) for s in config.seeds for m in config.methods]
    t0 = time.perf_counter()
    records: list[ParetoRecord] = []
    if config.jobs == 1:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        evaluator, cost, reference = load_pareto(config)
        for i, (method, seed) in enumerate(tasks):
            records.append(
                run_one(
                    evaluator, cost, reference, method, seed, config.budget,
                    config.method_settings.get(method),
                )
            )  # fmt: skip
            if on_progress is not None:
                on_progress(i + 1, len(tasks), time.perf_counter() - t0)
    else:
        import multiprocessing

        if any(m in PREDICTOR_STRATEGIES for m in config.methods):
            _warm_up(config)
        n_chunks = max(config.jobs, math.ceil(len(tasks) / runs_per_chunk))
        threads = max(1, (os.cpu_count() or 1) // config.jobs)
        chunks = [c for c in (tasks[i::n_chunks] for i in range(n_chunks)) if c]
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=config.jobs, mp_context=ctx) as pool:
            futures = [pool.submit(_run_chunk, config, chunk, threads) for chunk in chunks]
            try:
                for fut in as_completed(futures):
                    records.extend(fut.result())
                    if on_progress is not None:
                        on_progress(len(records), len(tasks), time.perf_counter() - t0)
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
    order = {m: i for i, m in enumerate(config.methods)}
    records.sort(key=lambda r: (order[r.method], r.seed))
    return records
