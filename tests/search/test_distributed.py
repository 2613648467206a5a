"""Distributed search: a coordinator and worker processes sharing one Optuna study.

The main test runs on the journal file and on a real PostgreSQL server
(``ECGNAS_TEST_POSTGRES_URL``, started by ``scripts/ci_postgres.sh``; with
``ECGNAS_REQUIRE_POSTGRES=1`` a missing server fails the test instead of skipping it).
Evaluations are NB201 table lookups with an artificial delay; DCL-ENAS uses the exact
ridge predictor of ``ecgnas.testing`` so every run is deterministic.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ecgnas.benchmarks.nb201_table import NB201Evaluator, NB201Table, nb201_spec
from ecgnas.errors import RunError
from ecgnas.evaluate import DelayedEvaluator, Result
from ecgnas.search import (
    Budget,
    Evaluation,
    History,
    OptunaRunLog,
    Strategy,
    make_strategy,
    run_search,
)
from ecgnas.search._storage_errors import redact
from ecgnas.search.distributed import (
    DistributedSettings,
    device_assignments,
    open_run_storage,
    run_distributed,
    run_worker,
)
from ecgnas.search.distributed._heartbeat import BeatWatch
from ecgnas.search.distributed._storage import RetryPolicy
from ecgnas.spaces.base import Arch
from ecgnas.testing import ridge_factory

DCL = {"offspring": 30, "t_gap": 2, "n_init": 10, "population": 10, "n_infill": 5}
#: canonical hashes of a one-process run, by (seed, max_evals)
Reference = Callable[[int, int], list[str]]
FAST = DistributedSettings(heartbeat_s=1.0, grace_s=3.0, poll_s=0.05)


def dcl() -> Strategy:
    return make_strategy("dcl_enas", predictor_factory=ridge_factory, **DCL)


# --- fixtures -------------------------------------------------------------------------------
@pytest.fixture
def scratch() -> Iterator[Path]:
    """A scratch directory on tmpfs when there is one (the journal fsyncs every write)."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and shutil.disk_usage(shm).free > 1e8 else None
    path = Path(tempfile.mkdtemp(prefix="ecgnas-dist-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def postgres_url() -> str:
    url = os.environ.get("ECGNAS_TEST_POSTGRES_URL")
    if not url:
        msg = "no PostgreSQL server: set ECGNAS_TEST_POSTGRES_URL (scripts/ci_postgres.sh start)"
        if os.environ.get("ECGNAS_REQUIRE_POSTGRES") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return url


@pytest.fixture(params=["journal", "postgres"])
def storage(request: pytest.FixtureRequest, scratch: Path) -> str:
    if request.param == "journal":
        return str(scratch / "run.journal")
    return postgres_url()


@pytest.fixture
def study() -> str:
    """A fresh study name (the PostgreSQL database is shared by every test)."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def table(nasbench_dir: Path) -> NB201Table:
    return NB201Table.load(nasbench_dir.parent)


@pytest.fixture(scope="module")
def reference(table: NB201Table) -> Reference:
    """Canonical hashes, in order, of a one-process run (seed, max_evals) of ``dcl()``."""
    cache: dict[tuple[int, int], list[str]] = {}

    def run(seed: int, budget: int) -> list[str]:
        if (seed, budget) not in cache:
            result = run_search(dcl(), NB201Evaluator(table), Budget(budget), seed)
            cache[seed, budget] = [e.canonical for e in result.evaluations]
        return cache[seed, budget]

    return run


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


# --- the main test: a killed worker, on both storages ---------------------------------------
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


# --- resume, errors, budget -----------------------------------------------------------------
class Crash(Exception):
    pass


def delayed(table: NB201Table, delay_s: float) -> Callable[..., Any]:
    def factory(spec: dict, data_dir: Any, cache_dir: Any) -> Any:
        return DelayedEvaluator(NB201Evaluator(table, spec["dataset"]), delay_s)

    return factory


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


def test_workers_claim_each_waiting_trial_exactly_once(storage: str, study: str) -> None:
    import optuna
    from optuna.trial import TrialState, create_trial

    store = open_run_storage(storage)
    optuna.create_study(storage=store, study_name=study)
    study_id = store.get_study_id_from_name(study)
    ids = [
        store.create_new_trial(study_id, template_trial=create_trial(state=TrialState.WAITING))
        for _ in range(24)
    ]
    claims: list[list[int]] = [[] for _ in range(4)]

    def claim(i: int) -> None:
        own = open_run_storage(storage)  # a separate handle: a separate process would have one
        for tid in ids:
            try:
                if own.set_trial_state_values(tid, TrialState.RUNNING):
                    claims[i].append(tid)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(tid for c in claims for tid in c) == sorted(ids)


REPO = Path(__file__).resolve().parents[2]
CI_POSTGRES = REPO / "scripts" / "ci_postgres.sh"


@pytest.fixture
def own_postgres() -> Iterator[tuple[str, Path]]:
    """A PostgreSQL server of this test alone (it gets restarted), via ``ci_postgres.sh``."""
    postgres_url()  # skip or fail like the other PostgreSQL tests when there is none
    folder = Path(tempfile.mkdtemp(prefix="ecgnas-pg-"))
    start = subprocess.run(
        ["bash", str(CI_POSTGRES), "start", str(folder)], capture_output=True, text=True
    )
    if start.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"cannot start a PostgreSQL server: {start.stderr}")
    try:
        yield start.stdout.strip(), folder
    finally:
        subprocess.run(["bash", str(CI_POSTGRES), "stop", str(folder)], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_postgres_restart_mid_run_loses_and_repeats_nothing(
    own_postgres: tuple[str, Path], study: str, table: NB201Table, reference: Reference
) -> None:
    url, folder = own_postgres
    seed, budget = 6, 20
    restarted = threading.Event()

    def restart_once(ev: Evaluation, history: History) -> None:
        if len(history) == 8 and not restarted.is_set():
            restarted.set()
            subprocess.run(["bash", str(CI_POSTGRES), "restart", str(folder)], check=True)

    with thread_workers(url, study, 2, delayed(table, 0.05), linger_s=5.0) as reports:
        result = run_distributed(
            dcl(),
            nb201_spec(),
            Budget(budget),
            seed,
            storage=url,
            study_name=study,
            config=FAST,
            on_evaluation=restart_once,
        )
    assert restarted.is_set()  # pg_ctl -w: the server went down and came back
    # whoever was talking to the server then waited it out (pre-ping reconnects the others)
    outages = result.extra["storage_outages"] + sum(r.storage_outages for r in reports)
    assert outages >= 1 and {r.stop_reason for r in reports} == {"the run is finished"}
    assert [e.canonical for e in result.evaluations] == reference(seed, budget)
    check_exactly_once(trials_of(url, study), budget)


# --- local workers and the CLI --------------------------------------------------------------
def test_local_workers_that_cannot_start_stop_the_run_with_their_error(
    scratch: Path, study: str
) -> None:
    spec = nb201_spec(delay_s=0.0, data_dir=str(scratch / "no-data-here"))
    with pytest.raises(RunError, match="all 2 local workers exited.*NAS-Bench-201 table not found"):
        run_distributed(
            make_strategy("random", batch=4),
            spec,
            Budget(4),
            0,
            storage=scratch,
            study_name=study,
            workers=2,
            config=FAST,
        )
    assert (scratch / "workers" / "worker-1.log").is_file()


def test_a_local_worker_that_dies_is_restarted_and_nothing_is_lost_or_repeated(
    scratch: Path, study: str, nasbench_dir: Path, reference: Reference
) -> None:
    seed, budget = 3, 24
    spec = nb201_spec("cifar10-valid", delay_s=0.3, data_dir=str(nasbench_dir.parent))
    killed: list[int] = []

    def kill_a_worker(ev: Evaluation, history: History) -> None:
        """SIGKILL (an OOM kill, say) the local worker evaluating a trial, once."""
        if killed or len(history) < 4:
            return
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            for trial in trials_of(str(scratch), study):
                worker = trial.user_attrs.get("worker", {})
                if trial.state.name == "RUNNING" and "/local" in worker.get("id", ""):
                    os.kill(int(worker["pid"]), signal.SIGKILL)
                    killed.append(trial.number)
                    return
            time.sleep(0.05)

    result = run_distributed(
        dcl(),
        spec,
        Budget(budget),
        seed,
        storage=scratch,
        study_name=study,
        workers=2,
        config=FAST,
        on_evaluation=kill_a_worker,
    )
    assert len(killed) == 1
    assert result.extra["worker_restarts"] == 1
    trials = trials_of(str(scratch), study)
    by_index = check_exactly_once(trials, budget)
    (dead,) = [t for t in trials if t.number == killed[0]]
    assert dead.state.name == "FAIL" and "error" not in dead.user_attrs
    redo = by_index[dead.user_attrs["eval"]["index"]]
    assert redo.user_attrs["eval"]["attempt"] == dead.user_attrs["eval"]["attempt"] + 1
    assert [e.canonical for e in result.evaluations] == reference(seed, budget)


def run_worker_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecgnas.cli.worker", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_worker_cli_reports_user_errors_in_one_line(scratch: Path) -> None:
    journal = str(scratch / "run.journal")
    proc = run_worker_cli("--storage", journal, "--study", "nope", "--wait", "0")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == "error: no study 'nope' in the storage after 0 s"

    OptunaRunLog(journal, study_name="plain").open({"method": "random"}, resume=False)
    proc = run_worker_cli("--storage", journal, "--study", "plain", "--wait", "0")
    assert proc.returncode == 2
    assert "error: study 'plain' is not a distributed ecgnas run" in proc.stderr

    store = open_run_storage(journal)
    sid = store.get_study_id_from_name("plain")
    store.set_study_user_attr(sid, "distributed", {"format": 1, "evaluator": {"evaluator": "x"}})
    proc = run_worker_cli("--storage", journal, "--study", "plain")
    assert proc.returncode == 2 and "error: unknown evaluator 'x'" in proc.stderr


# --- units ----------------------------------------------------------------------------------
def test_device_assignments_pin_one_gpu_per_slot_round_robin() -> None:
    assert device_assignments(3, []) == [None, None, None]
    assert device_assignments(4, ["0", "1"]) == ["0", "1", "0", "1"]
    assert device_assignments(2, ["2", "5", "7"]) == ["2", "5"]


def test_beat_watch_uses_its_own_clock_and_forgets_after_an_outage() -> None:
    watch = BeatWatch(grace_s=3.0)

    def trial(tid: int, beat: int | None) -> SimpleNamespace:
        return SimpleNamespace(number=tid, user_attrs={"heartbeat": beat, "worker": {"id": "w"}})

    assert watch.stale([trial(1, 0), trial(2, None)], now=100.0) == []
    assert watch.stale([trial(1, 1), trial(2, None)], now=102.0) == []
    stale = watch.stale([trial(1, 1), trial(2, None)], now=103.5)
    assert [t.number for t in stale] == [2]  # never beat: stale after grace too
    assert [t.number for t in watch.stale([trial(1, 1)], now=105.5)] == [1]
    watch.reset()
    assert watch.stale([trial(1, 1)], now=200.0) == []


def test_retry_survives_a_transient_outage_and_passes_other_errors() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError("server closed the connection")
        return "ok"

    retry = RetryPolicy(timeout_s=30.0)
    assert retry(flaky) == "ok" and retry.outages == 1 and len(calls) == 3
    with pytest.raises(KeyError):
        retry(lambda: {}["missing"])
    with pytest.raises(RunError, match="unreachable"):
        RetryPolicy(timeout_s=0.3)(lambda: (_ for _ in ()).throw(TimeoutError("no route")))


def test_storage_urls_keep_their_password_out_of_messages() -> None:
    assert redact("postgresql://bob:s3cret@db:5432/ecgnas") == "postgresql://bob@db:5432/ecgnas"
    assert redact("sqlite:///x.db") == "sqlite:///x.db"
