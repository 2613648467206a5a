"""Resume: a run interrupted (evaluator error, SIGKILL) and resumed from its journal loses
no evaluation, repeats none, and ends with the same log as an uninterrupted run."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pytest

from ecgnas.errors import RunError
from ecgnas.search import Budget, OptunaRunLog, make_strategy, run_search
from ecgnas.search.runlog import open_storage
from ecgnas.testing import FAST_SETTINGS, ToyEvaluator, fast_strategy, toy_space

METHODS = tuple(FAST_SETTINGS)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A scratch directory on tmpfs when there is one: the journal fsyncs every write, which
    costs milliseconds on a disk and would dominate these tests (durability is Optuna's)."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and shutil.disk_usage(shm).free > 1e8 else None
    path = Path(tempfile.mkdtemp(prefix="ecgnas-resume-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_method(name: str):
    return fast_strategy(name)


def complete_trials(journal: Path) -> list[tuple]:
    """(index, round, canonical, score, cost) of the COMPLETE trials, in trial order."""
    study = optuna.load_study(study_name="run", storage=open_storage(journal))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return [
        (
            t.user_attrs["eval"]["index"],
            t.user_attrs["eval"]["round"],
            t.user_attrs["eval"]["canonical"],
            t.value,
            t.user_attrs["result"]["cost_seconds"],
        )
        for t in done
    ]


def states(journal: Path) -> list[str]:
    study = optuna.load_study(study_name="run", storage=open_storage(journal))
    return [t.state.name for t in study.trials]


def reference_run(scratch: Path, method: str, seed: int, budget: int) -> list[tuple]:
    journal = scratch / f"ref-{method}.journal"
    run_search(
        make_method(method),
        ToyEvaluator(toy_space(3)),
        Budget(budget),
        seed,
        log=OptunaRunLog(journal),
    )
    return complete_trials(journal)


DEMO_RUN = Path(__file__).resolve().parents[2] / "reports" / "search_mitbih_demo"


@pytest.mark.parametrize("method", METHODS)
def test_resume_after_evaluator_error_matches_uninterrupted_run(scratch: Path, method: str) -> None:
    seed, budget, k = 7, 40, 17
    expected = reference_run(scratch, method, seed, budget)
    journal = scratch / "run.journal"

    first = ToyEvaluator(toy_space(3), fail_after=k)
    with pytest.raises(RuntimeError, match="evaluator died"):
        run_search(make_method(method), first, Budget(budget), seed, log=OptunaRunLog(journal))
    assert first.calls == k
    assert states(journal) == ["COMPLETE"] * k + ["FAIL"]

    second = ToyEvaluator(toy_space(3))
    result = run_search(
        make_method(method), second, Budget(budget), seed, log=OptunaRunLog(journal), resume=True
    )
    assert result.n_replayed == k
    assert second.calls == budget - k  # nothing lost, nothing repeated
    assert not set(first.evaluated) & set(second.evaluated)
    assert complete_trials(journal) == expected
    assert [ev.canonical for ev in result.evaluations] == [t[2] for t in expected]


@pytest.mark.parametrize("method", ["rea", "dcl_enas"])
def test_resume_after_sigkill_matches_uninterrupted_run(scratch: Path, method: str) -> None:
    seed, budget, k = 3, 30, 12
    expected = reference_run(scratch, method, seed, budget)
    journal = scratch / "killed.journal"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ecgnas.testing",
            "kill-run",
            str(journal),
            method,
            str(seed),
            str(budget),
            str(k),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr
    assert states(journal) == ["COMPLETE"] * k + ["RUNNING"]

    evaluator = ToyEvaluator(toy_space(3))
    result = run_search(
        make_method(method), evaluator, Budget(budget), seed, log=OptunaRunLog(journal), resume=True
    )
    assert result.n_interrupted == 1 and result.n_replayed == k
    # the killed trial never finished: its arch is evaluated (once) in the resumed run
    assert evaluator.calls == budget - k
    assert states(journal) == ["COMPLETE"] * k + ["FAIL"] + ["COMPLETE"] * (budget - k)
    assert complete_trials(journal) == expected


def test_resume_twice_and_extend_the_budget(scratch: Path) -> None:
    journal = scratch / "run.journal"
    expected = reference_run(scratch, "dcl_enas", 1, 35)
    run_search(
        make_method("dcl_enas"),
        ToyEvaluator(toy_space(3)),
        Budget(20),
        1,
        log=OptunaRunLog(journal),
    )
    ev = ToyEvaluator(toy_space(3))
    run_search(make_method("dcl_enas"), ev, Budget(20), 1, log=OptunaRunLog(journal), resume=True)
    assert ev.calls == 0  # already complete: everything replayed
    ev = ToyEvaluator(toy_space(3))
    run_search(make_method("dcl_enas"), ev, Budget(35), 1, log=OptunaRunLog(journal), resume=True)
    assert ev.calls == 15
    assert complete_trials(journal) == expected


def test_strategy_seconds_replay_from_the_log(scratch: Path) -> None:
    journal = scratch / "run.journal"
    with pytest.raises(RuntimeError):
        run_search(
            make_method("dcl_enas"),
            ToyEvaluator(toy_space(3), fail_after=22),
            Budget(max_evals=40, max_seconds=1e6),
            2,
            log=OptunaRunLog(journal),
        )
    study = optuna.load_study(study_name="run", storage=open_storage(journal))
    logged = [
        v["strategy_seconds"] for k, v in sorted(study.user_attrs.items()) if k.startswith("round:")
    ]
    result = run_search(
        make_method("dcl_enas"),
        ToyEvaluator(toy_space(3)),
        Budget(max_evals=40, max_seconds=1e6),
        2,
        log=OptunaRunLog(journal),
        resume=True,
    )
    assert result.round_seconds[: len(logged)] == logged


def test_resume_refuses_different_settings_and_unasked_reuse(scratch: Path) -> None:
    journal = scratch / "run.journal"
    run_search(
        make_method("rea"), ToyEvaluator(toy_space(3)), Budget(15), 0, log=OptunaRunLog(journal)
    )
    with pytest.raises(RunError, match="already holds"):
        run_search(
            make_method("rea"), ToyEvaluator(toy_space(3)), Budget(15), 0, log=OptunaRunLog(journal)
        )
    with pytest.raises(RunError, match="seed: logged 0, now 1"):
        run_search(
            make_method("rea"),
            ToyEvaluator(toy_space(3)),
            Budget(15),
            1,
            log=OptunaRunLog(journal),
            resume=True,
        )
    with pytest.raises(RunError, match="strategy.sample"):
        run_search(
            make_strategy("rea", population=10, sample=4),
            ToyEvaluator(toy_space(3)),
            Budget(15),
            0,
            log=OptunaRunLog(journal),
            resume=True,
        )
    with pytest.raises(RunError, match="method"):
        run_search(
            make_method("random"),
            ToyEvaluator(toy_space(3)),
            Budget(15),
            0,
            log=OptunaRunLog(journal),
            resume=True,
        )


def test_run_directory_gets_a_journal_file(scratch: Path) -> None:
    run_dir = scratch / "runs" / "exp1"
    run_dir.mkdir(parents=True)
    run_search(
        make_method("random"), ToyEvaluator(toy_space(3)), Budget(5), 0, log=OptunaRunLog(run_dir)
    )
    assert (run_dir / "runlog.journal").is_file()
    assert len(complete_trials(run_dir / "runlog.journal")) == 5


def test_a_diverging_strategy_adopts_the_log_and_repeats_nothing(scratch: Path) -> None:
    """A non-deterministic strategy cannot replay exactly; the log is still honoured."""

    class Drifting:
        name = "drifting"

        def __init__(self, drift: int) -> None:
            self.drift = drift

        def settings(self):
            return {}

        def start(self, space, seed):
            self.space = space
            self.rng = np.random.default_rng(seed + self.drift)

        def ask(self, history):
            while True:
                a = self.space.sample(self.rng)
                if not history.seen(self.space.canonical(a)):
                    return [a]

        def tell(self, history, new):
            pass

    journal = scratch / "run.journal"
    first = ToyEvaluator(toy_space(3), fail_after=10)
    with pytest.raises(RuntimeError):
        run_search(Drifting(0), first, Budget(25), 0, log=OptunaRunLog(journal))
    second = ToyEvaluator(toy_space(3))
    result = run_search(Drifting(1), second, Budget(25), 0, log=OptunaRunLog(journal), resume=True)
    keys = [ev.canonical for ev in result.evaluations]
    assert keys[:10] == first.evaluated
    assert len(set(keys)) == 25 and second.calls == 15
    assert not set(first.evaluated) & set(second.evaluated)


def test_the_demo_run_log_reads_and_resumes_as_it_did(tmp_path: Path) -> None:
    """The journal of the committed demo run opens with today's run log, unchanged."""
    import json

    journal = tmp_path / "runlog.journal"
    shutil.copyfile(DEMO_RUN / "runlog.journal", journal)  # opening a log writes to it
    store = open_storage(journal)
    attrs = store.get_study_user_attrs(store.get_study_id_from_name("run"))
    logged = OptunaRunLog(journal).open(attrs["settings"], resume=True)
    result = json.loads((DEMO_RUN / "result.json").read_text(encoding="utf-8"))
    assert len(logged.completed) == result["n_evaluations"]
    assert [e.index for e in logged.completed] == list(range(result["n_evaluations"]))
    best = max(logged.completed, key=lambda e: (e.score, -e.index))
    assert best.score == result["best"]["score"]
    assert best.arch.to_json() == result["best"]["arch"]
    assert logged.round_seconds and logged.n_interrupted == 0
