"""The run storage: the retry wrapper survives transient outages, and a PostgreSQL restart
mid-run loses and repeats nothing."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecgnas.benchmarks.nb201_table import NB201Table, nb201_spec
from ecgnas.errors import RunError
from ecgnas.search import (
    Budget,
    Evaluation,
    History,
)
from ecgnas.search.distributed import (
    run_distributed,
)
from ecgnas.search.distributed._storage import RetryPolicy

from .helpers import (
    FAST,
    Reference,
    check_exactly_once,
    dcl,
    delayed,
    postgres_url,
    thread_workers,
    trials_of,
)

REPO = Path(__file__).resolve().parents[3]


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
