"""Fixtures of the distributed-search tests: scratch directory, storage (journal and
PostgreSQL), fresh study names, the NB201 table and one-process reference runs."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecgnas.benchmarks.nb201_table import NB201Evaluator, NB201Table
from ecgnas.search import (
    Budget,
    run_search,
)

from .helpers import (
    Reference,
    dcl,
    postgres_url,
)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A scratch directory on tmpfs when there is one (the journal fsyncs every write)."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and shutil.disk_usage(shm).free > 1e8 else None
    path = Path(tempfile.mkdtemp(prefix="ecgnas-dist-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


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
