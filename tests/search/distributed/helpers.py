"""Helpers shared by the distributed-search tests: the DCL-ENAS strategy they run, the fast
distributed settings, thread workers, and checks on the trials of a study."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import optuna.storages  # noqa: F401  # loaded before worker threads start: racing first imports fail
import pytest

from ecgnas.benchmarks.nb201_table import NB201Evaluator, NB201Table
from ecgnas.evaluate import DelayedEvaluator
from ecgnas.search import (
    Strategy,
    make_strategy,
)
from ecgnas.search.distributed import (
    DistributedSettings,
    open_run_storage,
    run_worker,
)
from ecgnas.testing import ridge_factory

DCL = {"offspring": 30, "t_gap": 2, "n_init": 10, "population": 10, "n_infill": 5}


#: canonical hashes of a one-process run, by (seed, max_evals)
Reference = Callable[[int, int], list[str]]


FAST = DistributedSettings(heartbeat_s=1.0, grace_s=3.0, poll_s=0.05)


def dcl() -> Strategy:
    return make_strategy("dcl_enas", predictor_factory=ridge_factory, **DCL)


def postgres_url() -> str:
    url = os.environ.get("ECGNAS_TEST_POSTGRES_URL")
    if not url:
        msg = "no PostgreSQL server: set ECGNAS_TEST_POSTGRES_URL (scripts/ci_postgres.sh start)"
        if os.environ.get("ECGNAS_REQUIRE_POSTGRES") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return url


def trials_of(storage: str, study: str) -> list[Any]:
    store = open_run_storage(storage)
    return store.get_all_trials(store.get_study_id_from_name(study), deepcopy=False)


def check_exactly_once(trials: list[Any], budget: int) -> dict[int, Any]:
    """One COMPLETE trial per run index 0..budget-1, distinct archs; returns them by index."""
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    by_index = {t.user_attrs["eval"]["index"]: t for t in complete}
    assert len(complete) == budget
    assert sorted(by_index) == list(range(budget))
    assert len({t.user_attrs["eval"]["canonical"] for t in complete}) == budget
    assert not [t for t in trials if t.state.name in ("WAITING", "RUNNING")]
    return by_index


@contextmanager
def thread_workers(
    storage: str, study: str, n: int, factory: Callable[..., Any], linger_s: float = 0.0
) -> Iterator[list[Any]]:
    """``n`` workers as threads of this process (each with its own storage handle); on exit
    they get ``linger_s`` to stop by themselves, then are told to stop."""
    stop = threading.Event()
    reports: list[Any] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            reports.append(
                run_worker(
                    storage,
                    study,
                    worker_id=f"thread{i}",
                    evaluator_factory=factory,
                    stop=stop,
                    wait_s=30,
                    poll_s=0.02,
                )
            )
        except BaseException as exc:  # surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    try:
        yield reports
    finally:
        for t in threads:
            t.join(timeout=linger_s)
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not errors, errors


def delayed(table: NB201Table, delay_s: float) -> Callable[..., Any]:
    def factory(spec: dict, data_dir: Any, cache_dir: Any) -> Any:
        return DelayedEvaluator(NB201Evaluator(table, spec["dataset"]), delay_s)

    return factory
