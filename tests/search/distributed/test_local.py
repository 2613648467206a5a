"""Local workers: GPU pinning per slot, workers that cannot start, a worker that dies and is
restarted (nothing lost or repeated)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from ecgnas.benchmarks.nb201_table import nb201_spec
from ecgnas.errors import RunError
from ecgnas.search import (
    Budget,
    Evaluation,
    History,
    make_strategy,
)
from ecgnas.search.distributed import (
    device_assignments,
    run_distributed,
)

from .helpers import (
    FAST,
    Reference,
    check_exactly_once,
    dcl,
    trials_of,
)


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


def test_device_assignments_pin_one_gpu_per_slot_round_robin() -> None:
    assert device_assignments(3, []) == [None, None, None]
    assert device_assignments(4, ["0", "1"]) == ["0", "1", "0", "1"]
    assert device_assignments(2, ["2", "5", "7"]) == ["2", "5"]
