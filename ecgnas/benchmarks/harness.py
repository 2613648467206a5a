"""Search benchmarks on the NB201 / NB101 tables: every method, paired seeds, one budget.

``run_benchmark(config)`` runs each (method, seed) pair with ``ecgnas.search.run_search``
(in-memory run log) and returns one ``RunRecord`` per run. Pairing: seed ``s`` gives every
method the same evaluator and the same initial random sample (``InitialSample``), so the
paired tests in ``ecgnas.benchmarks.report`` compare methods on equal footing. The search
sees only the evaluator's signal; the record keeps, for the arch that was best by signal
after each evaluation, its reported test accuracy (the best-so-far curve).

``jobs > 1`` runs chunks of runs in a process pool (spawned workers, one torch thread
each); each chunk loads its table once (about 0.2 s for either table).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecgnas.errors import ConfigError
from ecgnas.evaluate import Evaluator
from ecgnas.search import Budget, run_search
from ecgnas.search.base import Evaluation
from ecgnas.search.baselines import named_predictor
from ecgnas.search.registry import PREDICTOR_STRATEGIES, STRATEGY_NAMES, make_strategy

logger = logging.getLogger(__name__)

BENCHMARKS: tuple[str, ...] = ("nb201", "nb101", "ecg")
#: NB201 datasets a search benchmark runs on (cifar10 searches on cifar10-valid validation)
NB201_SEARCH_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120")


@dataclass(frozen=True)
class Reference:
    """What a run is measured against.

    canonical / signal / test_acc:
        The arch the search signal ranks first in the whole table (what a perfect search on
        this signal finds), its signal and its reported test accuracy (percent).
    oracle_test:
        The highest reported test accuracy in the table (may be a different arch).
    signal_name / signal_note:
        The signal's column and what it is (NB101 ``nb101.npz``: a TEST accuracy).
    tied_tests:
        Test accuracies of the other archs whose signal equals the top one (NB201 cifar100:
        two cells share 61.32). A run "found the best" when it evaluated any of them.
    """

    canonical: str
    signal: float
    test_acc: float
    oracle_test: float
    signal_name: str
    signal_note: str = ""
    tied_tests: tuple[float, ...] = ()


def parse_spec(text: str, labelled: bool = False) -> tuple[str, str, dict[str, Any]]:
    """A command-line spec of a method or predictor with settings, as the tuning and
    ablation scripts take them: ``name[:json]`` or, ``labelled``, ``label=name[:json]``.
    Returns (label, name, settings); the label is the name when there is none.
    ``ConfigError`` on a missing label or settings that are not a JSON object."""
    import json

    label, name = "", text
    if labelled:
        label, sep, name = text.partition("=")
        if not sep or not label:
            raise ConfigError(f"bad spec {text!r}: expected label=name[:json]")
    name, _, raw = name.partition(":")
    try:
        settings = json.loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"bad spec {text!r}: settings are not JSON ({exc})") from exc
    if not isinstance(settings, dict):
        raise ConfigError(f"bad spec {text!r}: settings must be a JSON object")
    return label or name, name, settings


def check_run_grid(
    methods: Sequence[str],
    known: Sequence[str],
    seeds: Sequence[int],
    budget: int,
    min_budget: int,
    jobs: int,
) -> None:
    """The checks every benchmark config makes of its methods x seeds grid (``ConfigError``)."""
    unknown = [m for m in methods if m not in known]
    if unknown or not methods:
        raise ConfigError(f"unknown methods {unknown or '(none given)'}; known: {', '.join(known)}")
    if len(set(methods)) != len(methods):
        raise ConfigError(f"methods listed twice: {list(methods)}")
    if not seeds:
        raise ConfigError("at least one seed is needed")
    if budget < min_budget:
        unit = "evaluation" if min_budget == 1 else "evaluations"
        raise ConfigError(f"budget must be at least {min_budget} {unit}, got {budget}")
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}")


@dataclass(frozen=True)
class BenchmarkConfig:
    """One benchmark: ``benchmark`` x ``dataset``, ``methods`` x ``seeds``, ``budget`` evaluations.

    ``method_settings`` maps a method name to keyword settings for ``make_strategy``;
    ``nb101_source`` is ``auto``/``npz``/``tfrecord`` (see ``NB101Table.load``); ``table``
    the ECG benchmark table (``ecg``; default the shipped one).
    """

    benchmark: str
    dataset: str
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    budget: int
    jobs: int = 1
    data_dir: str | None = None
    cache_dir: str | None = None
    nb101_source: str = "auto"
    method_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    table: str | None = None

    def __post_init__(self) -> None:
        if self.benchmark not in BENCHMARKS:
            raise ConfigError(
                f"unknown benchmark {self.benchmark!r}; known: {', '.join(BENCHMARKS)}"
            )
        if self.benchmark == "nb201" and self.dataset not in NB201_SEARCH_DATASETS:
            raise ConfigError(
                f"unknown NB201 dataset {self.dataset!r}; known: {', '.join(NB201_SEARCH_DATASETS)}"
            )
        check_run_grid(self.methods, STRATEGY_NAMES, self.seeds, self.budget, 1, self.jobs)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["methods"] = list(self.methods)
        out["seeds"] = list(self.seeds)
        return out


@dataclass
class RunRecord:
    """The outcome of one (method, seed) run.

    ``curve_test[i]`` / ``curve_signal[i]``: test accuracy / signal of the best-by-signal arch
    after ``i + 1`` evaluations (percent). ``final_test`` is the last entry of ``curve_test``;
    ``found_best`` whether the run evaluated an arch with the top signal (the reference or one
    tied with it); ``found_at`` after how many
    evaluations (``None`` if never); ``strategy_seconds`` the strategy/predictor time.
    """

    method: str
    seed: int
    n_evals: int
    final_test: float
    final_signal: float
    best_arch: dict[str, Any]
    best_canonical: str
    found_best: bool
    found_at: int | None
    curve_test: list[float]
    curve_signal: list[float]
    wall_seconds: float
    strategy_seconds: float
    stop_reason: str
    #: the signal the run selected on (``test_acc_108_seed0`` on ``nb101.npz``: a TEST accuracy)
    signal: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RunRecord:
        return cls(**obj)


def load_benchmark(config: BenchmarkConfig) -> tuple[Evaluator, Reference]:
    """The evaluator and the reference of ``config`` (``DataError`` if the table is missing)."""
    if config.benchmark == "nb201":
        from ecgnas.benchmarks.nb201_table import NB201Evaluator, NB201Table

        table = NB201Table.load(config.data_dir)
        evaluator = NB201Evaluator(table, config.dataset)
        best = table.best_by_signal(config.dataset)
        signals = table.values(config.dataset, "signal")
        tests = table.values(config.dataset, "test")
        ties = [float(t) for sig, t in zip(signals, tests) if sig >= best.signal]
        ties.remove(best.test_acc)
        return evaluator, Reference(
            canonical=evaluator.space.canonical(best.arch),
            signal=best.signal,
            test_acc=best.test_acc,
            oracle_test=table.best_test(config.dataset).test_acc,
            signal_name=evaluator.dataset.signal_column,
            signal_note=(
                f"validation accuracy after {evaluator.dataset.signal_epochs} epochs "
                f"({evaluator.dataset.signal_column}); reported: {evaluator.dataset.test_column}"
            ),
            tied_tests=tuple(sorted(ties)),
        )
    if config.benchmark == "ecg":
        return _load_ecg(config)
    from ecgnas.benchmarks.nb101_table import NB101Evaluator, NB101Table

    table101 = NB101Table.load(
        config.data_dir,
        config.cache_dir,
        source=config.nb101_source,  # type: ignore[arg-type]  # a str; load() checks the value
    )
    evaluator101 = NB101Evaluator(table101)
    signal = (
        np.nanmean(table101.val_acc, axis=1)
        if table101.val_acc is not None
        else table101.test_acc[:, 0]
    )
    test = np.nanmean(table101.test_acc, axis=1)
    row = int(np.nanargmax(signal))
    tied = np.flatnonzero(signal >= signal[row])
    return evaluator101, Reference(
        canonical=table101.hashes[row].decode("ascii"),
        signal=100.0 * float(signal[row]),
        test_acc=100.0 * float(test[row]),
        oracle_test=100.0 * float(np.nanmax(test)),
        signal_name=evaluator101.signal,
        signal_note=evaluator101.signal_note,
        tied_tests=tuple(sorted(100.0 * float(test[i]) for i in tied if i != row)),
    )


def _load_ecg(config: BenchmarkConfig) -> tuple[Evaluator, Reference]:
    from ecgnas.benchmarks.ecg_table import ECGTable, ECGTableEvaluator

    table = ECGTable.load(config.table)
    evaluator = ECGTableEvaluator(table)
    signal = 100.0 * table.scores
    row = int(np.argmax(signal))
    tied = [float(v) for i, v in enumerate(signal) if v >= signal[row] and i != row]
    return evaluator, Reference(
        canonical=evaluator.space.canonical(table.archs[row]),
        signal=float(signal[row]),
        test_acc=float(signal[row]),
        oracle_test=float(signal[row]),
        signal_name=f"ecg_cv_{table.fidelity}",
        signal_note=(
            f"DS1 cross-validation proxy score x 100 at fidelity {table.fidelity} "
            f"({len(table.archs)} ecgjoint archs, {Path(table.path).name}); reported: the same "
            "score (the table holds no separate test figure; DS2 is never read)"
        ),
        tied_tests=tuple(sorted(tied)),
    )


def first_found(evaluations: Sequence[Evaluation], reference: Reference) -> int | None:
    """After how many evaluations a run first evaluated an arch with the top signal (the
    reference or one tied with it: two NB201 cifar100 cells share 61.32); ``None`` if never."""
    return next((ev.index + 1 for ev in evaluations if ev.score >= reference.signal), None)


def run_one(
    evaluator: Evaluator,
    reference: Reference,
    method: str,
    seed: int,
    budget: int,
    settings: dict[str, Any] | None = None,
) -> RunRecord:
    """One search run with an in-memory log, summarised as a ``RunRecord``."""
    strategy = make_strategy(method, **(settings or {}))
    result = run_search(strategy, evaluator, Budget(max_evals=budget), seed)
    test = result.best_so_far("test_acc")
    signal = result.best_so_far()
    best = result.best()
    found_at = first_found(result.evaluations, reference)
    return RunRecord(
        method=method,
        seed=int(seed),
        n_evals=len(result.evaluations),
        final_test=float(test[-1]),
        final_signal=float(signal[-1]),
        best_arch=best.arch.to_json(),
        best_canonical=best.canonical,
        found_best=found_at is not None,
        found_at=found_at,
        curve_test=[round(float(v), 5) for v in test],
        curve_signal=[round(float(v), 5) for v in signal],
        wall_seconds=result.wall_seconds,
        strategy_seconds=float(sum(result.round_seconds)),
        stop_reason=result.stop_reason,
        signal=reference.signal_name,
    )


def prepare_worker(tasks: Sequence[tuple[str, int]], threads: int | None) -> None:
    """A benchmark worker process's setup: Optuna quiet, and ``threads`` torch threads when
    one of its ``tasks`` (method, seed) trains a predictor."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if threads is not None and any(m in PREDICTOR_STRATEGIES for m, _ in tasks):
        import torch

        torch.set_num_threads(threads)


def _run_chunk(
    config: BenchmarkConfig, tasks: Sequence[tuple[str, int]], threads: int | None
) -> list[RunRecord]:
    """Worker: load the table once, run ``tasks`` (method, seed) in order."""
    prepare_worker(tasks, threads)
    evaluator, reference = load_benchmark(config)
    return [
        run_one(
            evaluator, reference, method, seed, config.budget, config.method_settings.get(method)
        )
        for method, seed in tasks
    ]


def _chunks(tasks: list[tuple[str, int]], n_chunks: int) -> list[list[tuple[str, int]]]:
    """Split ``tasks`` into ``n_chunks`` interleaved chunks (balances heavy and light methods)."""
    return [c for c in (tasks[i::n_chunks] for i in range(n_chunks)) if c]


def warm_up(config: BenchmarkConfig) -> None:
    """Fit each predictor-based method's predictor once in this process (on two archs), so a
    pre-trained encoder (CLP) is cached before the workers start (each would train it)."""
    if not any(m in PREDICTOR_STRATEGIES for m in config.methods):
        return
    evaluator, _ = load_benchmark(config)
    space = evaluator.space
    rng = np.random.default_rng(0)
    archs = [space.sample(rng), space.sample(rng)]
    for method in config.methods:
        if method not in PREDICTOR_STRATEGIES:
            continue
        strategy = make_strategy(method, **config.method_settings.get(method, {}))
        predictor = named_predictor(
            strategy.settings()["predictor"], **strategy.settings()["predictor_settings"]
        )(space, config.seeds[0])
        predictor.fit(archs, [0.0, 1.0])  # loads, or trains and caches, what the fit needs


def run_benchmark(
    config: BenchmarkConfig,
    on_progress: Callable[[int, int, float], None] | None = None,
    runs_per_chunk: int = 8,
) -> list[RunRecord]:
    """Run every (method, seed) of ``config``; records sorted by (method order, seed).

    ``on_progress(done, total, elapsed_seconds)`` is called as chunks finish.
    """
    tasks = [(m, s) for s in config.seeds for m in config.methods]
    t0 = time.perf_counter()
    records: list[RunRecord] = []
    if config.jobs == 1:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        evaluator, reference = load_benchmark(config)
        for i, (method, seed) in enumerate(tasks):
            records.append(
                run_one(
                    evaluator,
                    reference,
                    method,
                    seed,
                    config.budget,
                    config.method_settings.get(method),
                )
            )
            if on_progress is not None:
                on_progress(i + 1, len(tasks), time.perf_counter() - t0)
    else:
        warm_up(config)
        n_chunks = max(config.jobs, math.ceil(len(tasks) / runs_per_chunk))
        threads = max(1, (os.cpu_count() or 1) // config.jobs)
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=config.jobs, mp_context=ctx) as pool:
            futures = [
                pool.submit(_run_chunk, config, chunk, threads)
                for chunk in _chunks(tasks, n_chunks)
            ]
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
