"""Workers: each waiting trial claimed exactly once; the worker CLI reports user errors in one
line."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from ecgnas.search import (
    OptunaRunLog,
)
from ecgnas.search.distributed import (
    open_run_storage,
)


def run_worker_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecgnas.cli.worker", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


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
