"""Distributed search: a coordinator and worker processes sharing one Optuna study.

The main test runs on the journal file and on a real PostgreSQL server
(``ECGNAS_TEST_POSTGRES_URL``, started by ``scripts/ci_postgres.sh``; with
``ECGNAS_REQUIRE_POSTGRES=1`` a missing server fails the test instead of skipping it).
Evaluations are NB201 table lookups with an artificial delay; DCL-ENAS uses the exact
ridge predictor of ``ecgnas.testing`` so every run is deterministic.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ecgnas.benchmarks.nb201_table import NB201Evaluator, NB201Table, nb201_spec
from ecgnas.errors import RunError
from ecgnas.evaluate import Result
from ecgnas.search import (
    Budget,
    Evaluation,
    History,
    OptunaRunLog,
    make_strategy,
    run_search,
)
from ecgnas.search.distributed import (
    DistributedSettings,
    run_distributed,
)
from ecgnas.spaces.base import Arch

from .helpers import (
    FAST,
    Reference,
    check_exactly_once,
    dcl,
    delayed,
    thread_workers,
    trials_of,
)

KILLER = r"""
import os, signal, sys, time
from ecgnas.evaluate import build_evaluator
from ecgnas.search.distributed import run_worker

def factory(spec, data_dir, cache_dir):
    evaluator = build_evaluator(spec, data_dir, cache_dir)
    inner, calls = evaluator.evaluate, []
    def evaluate(arch):
        calls.append(arch)
        if len(calls) == int(sys.argv[3]):
            time.sleep(spec["delay_s"] / 2)  # mid-evaluation, heartbeat running
            os.kill(os.getpid(), signal.SIGKILL)
        return inner(arch)
    evaluator.evaluate = evaluate
    return evaluator

run_worker(sys.argv[1], sys.argv[2], worker_id="killer", evaluator_factory=factory, wait_s=60)
"""


class Crash(Exception):
    pass


def test_a_killed_worker_is_redone_once_and_the_run_equals_one_process(
    storage: str, study: str, scratch: Path, nasbench_dir: Path, reference: Reference
) -> None:
    seed, budget, kill_at = 5, 30, 2
    spec = nb201_spec("cifar10-valid", delay_s=0.2, data_dir=str(nasbench_dir.parent))
    killer = subprocess.Popen(
        [sys.executable, "-c", KILLER, storage, study, str(kill_at)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        result = run_distributed(
            dcl(),
            spec,
            Budget(budget),
            seed,
            storage=storage,
            study_name=study,
            workers=1,
            config=FAST,
            log_dir=scratch / "logs",
        )
        assert killer.wait(timeout=30) == -9, killer.stdout.read() if killer.stdout else ""
    finally:
        if killer.poll() is None:
            killer.kill()
        if killer.stdout is not None:
            killer.stdout.close()

    # exactly the budget's evaluations, one per run index, no arch twice
    assert len(result.evaluations) == budget
    assert result.stop_reason == f"budget: {budget} of {budget} evaluations"
    trials = trials_of(storage, study)
    by_index = check_exactly_once(trials, budget)

    # the killer finished kill_at - 1 trials; the one it died in went stale and was redone
    mine = [t for t in trials if t.user_attrs.get("worker", {}).get("id") == "killer"]
    assert sorted(t.state.name for t in mine) == ["COMPLETE"] * (kill_at - 1) + ["FAIL"]
    (dead,) = [t for t in mine if t.state.name == "FAIL"]
    assert "error" not in dead.user_attrs and "result" not in dead.user_attrs
    redo = by_index[dead.user_attrs["eval"]["index"]]
    assert redo.user_attrs["eval"]["canonical"] == dead.user_attrs["eval"]["canonical"]
    assert redo.user_attrs["eval"]["attempt"] == dead.user_attrs["eval"]["attempt"] + 1
    assert redo.user_attrs["worker"]["id"] != "killer"
    assert result.extra["n_lost"] >= 1 and result.n_interrupted == result.extra["n_lost"]

    # the same run as one process with the same seed: same archs in the same order, same best
    expected = reference(seed, budget)
    assert [e.canonical for e in result.evaluations] == expected
    assert [e.index for e in result.evaluations] == list(range(budget))
    assert (
        result.best().canonical
        == max(result.evaluations, key=lambda e: (e.score, -e.index)).canonical
    )
    one = run_search(
        dcl(), NB201Evaluator(NB201Table.load(nasbench_dir.parent)), Budget(budget), seed
    )
    assert result.best().arch == one.best().arch and result.best().score == one.best().score
    assert result.settings["execution"] == "distributed"


def test_a_killed_coordinator_resumes_without_losing_or_repeating(
    scratch: Path, study: str, table: NB201Table, reference: Reference
) -> None:
    seed, budget, crash_at = 2, 30, 12
    storage = str(scratch / "run.journal")
    spec = nb201_spec("cifar10-valid", delay_s=0.05)
    with thread_workers(storage, study, 2, delayed(table, 0.05), linger_s=5.0) as reports:

        def crash(ev: Evaluation, history: History) -> None:
            if len(history) == crash_at:
                raise Crash()

        with pytest.raises(Crash):
            run_distributed(
                dcl(),
                spec,
                Budget(budget),
                seed,
                storage=storage,
                study_name=study,
                config=FAST,
                on_evaluation=crash,
            )
        with pytest.raises(RunError, match="already holds"):
            run_distributed(
                dcl(), spec, Budget(budget), seed, storage=storage, study_name=study, config=FAST
            )
        with pytest.raises(RunError, match="seed: logged 2, now 3"):
            run_distributed(
                dcl(),
                spec,
                Budget(budget),
                3,
                storage=storage,
                study_name=study,
                config=FAST,
                resume=True,
            )
        result = run_distributed(
            dcl(),
            spec,
            Budget(budget),
            seed,
            storage=storage,
            study_name=study,
            config=FAST,
            resume=True,
        )
    assert [e.canonical for e in result.evaluations] == reference(seed, budget)
    assert result.n_replayed >= crash_at
    trials = trials_of(storage, study)
    check_exactly_once(trials, budget)
    assert len(trials) == budget  # nothing was handed out twice
    assert sum(r.n_completed for r in reports) == budget
    assert {r.stop_reason for r in reports} == {"the run is finished"}
    # a one-process resume refuses a distributed run log
    with pytest.raises(RunError, match="execution"):
        run_search(
            dcl(),
            NB201Evaluator(table),
            Budget(budget),
            seed,
            log=OptunaRunLog(storage, study_name=study),
            resume=True,
        )


def test_an_evaluator_error_is_retried_then_stops_the_run(
    scratch: Path, table: NB201Table, reference: Reference
) -> None:
    seed, budget = 4, 15
    spec = nb201_spec("cifar10-valid")
    target = reference(seed, budget)[3]
    space = NB201Evaluator(table).space
    failures: list[str] = []

    def flaky(times: int) -> Callable[..., Any]:
        def factory(spec: dict, data_dir: Any, cache_dir: Any) -> Any:
            evaluator = NB201Evaluator(table)
            inner = evaluator.evaluate

            def evaluate(arch: Arch) -> Result:
                if space.canonical(arch) == target and len(failures) < times:
                    failures.append(target)
                    raise RuntimeError("CUDA out of memory (simulated)")
                return inner(arch)

            evaluator.evaluate = evaluate  # type: ignore[method-assign]
            return evaluator

        return factory

    storage = str(scratch / "flaky.journal")
    with thread_workers(storage, "flaky", 2, flaky(1)) as reports:
        result = run_distributed(
            dcl(), spec, Budget(budget), seed, storage=storage, study_name="flaky", config=FAST
        )
    assert [e.canonical for e in result.evaluations] == reference(seed, budget)
    assert result.extra["n_errors"] == 1 and sum(r.n_failed for r in reports) == 1
    trials = trials_of(storage, "flaky")
    check_exactly_once(trials, budget)
    (failed,) = [t for t in trials if t.state.name == "FAIL"]
    assert failed.user_attrs["error"] == "RuntimeError: CUDA out of memory (simulated)"
    assert failed.user_attrs["eval"]["index"] == 3

    failures.clear()
    storage = str(scratch / "broken.journal")
    config = DistributedSettings(heartbeat_s=1.0, grace_s=3.0, poll_s=0.05, max_attempts=2)
    with thread_workers(storage, "broken", 2, flaky(10**6)):
        with pytest.raises(
            RunError, match=r"evaluation 3 \(nb201:.*\) failed 2 times.*out of memory"
        ):
            run_distributed(
                dcl(),
                spec,
                Budget(budget),
                seed,
                storage=storage,
                study_name="broken",
                config=config,
            )
    assert len(failures) == 2


def test_a_seconds_budget_overshoots_by_at_most_one_batch(
    scratch: Path, study: str, table: NB201Table
) -> None:
    seed, batch = 1, 6
    evaluator = NB201Evaluator(table)
    one = run_search(make_strategy("random", batch=batch), evaluator, Budget(max_seconds=1e5), seed)
    storage = str(scratch / "run.journal")
    with thread_workers(storage, study, 2, delayed(table, 0.0)):
        dist = run_distributed(
            make_strategy("random", batch=batch),
            nb201_spec(),
            Budget(max_seconds=1e5),
            seed,
            storage=storage,
            study_name=study,
            config=FAST,
        )
    a, b = [e.canonical for e in one.evaluations], [e.canonical for e in dist.evaluations]
    assert a == b[: len(a)] and 0 <= len(b) - len(a) < batch  # same archs, at most one batch more
    # every batch but the last started under the budget; the last one ended over it
    costs = [e.cost_seconds for e in dist.evaluations]
    last_start = len(b) - (len(b) % batch or batch)
    assert sum(costs[:last_start]) < 1e5 <= dist.seconds_spent
    assert dist.stop_reason.startswith("budget:") and "device seconds" in dist.stop_reason
