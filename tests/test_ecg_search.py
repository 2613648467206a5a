"""The ECG search end to end at tiny scale on real DS1 records: resume after SIGKILL loses
and repeats nothing, and no DS2 record is ever read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ecgnas.classifier.proxy import PROXY as SEARCH_PROXY
from ecgnas.data import DS1, DS2
from ecgnas.ecg_search import ECGSearchSettings, run_ecg_search
from ecgnas.errors import ConfigError, RunError
from ecgnas.search.runlog import open_storage
from ecgnas.train.ecg_evaluator import ProxySettings

RECORDS = ("106", "118", "201", "209", "215", "223")
PROXY = dict(epochs=1, patience=1, max_majority_per_epoch=300, width=4, device="cpu", seed=0)

CHILD = r"""
import os, signal, sys, json
import torch
torch.set_num_threads(1)
import ecgnas.train.ecg_evaluator as ev_mod
from ecgnas.ecg_search import ECGSearchSettings, run_ecg_search
from ecgnas.errors import ConfigError
from ecgnas.train.ecg_evaluator import ProxySettings
cfg = json.loads(sys.argv[1])
calls = {"n": 0}
real = ev_mod.train_classifier
def train_then_die(*a, **k):
    calls["n"] += 1
    if calls["n"] == cfg["kill_at"]:
        os.kill(os.getpid(), signal.SIGKILL)   # dies mid-evaluation: the trial stays RUNNING
    return real(*a, **k)
ev_mod.train_classifier = train_then_die
settings = ECGSearchSettings(gpu_days=1.0, max_evals=cfg["max_evals"], method=cfg["method"],
                             seed=3, proxy=ProxySettings(**cfg["proxy"]))
run_ecg_search(settings, cfg["run_dir"], data_dir=cfg["data_dir"], cache_dir=cfg["cache_dir"],
               records=tuple(cfg["records"]))
"""


def _settings(method: str, max_evals: int) -> ECGSearchSettings:
    return ECGSearchSettings(
        gpu_days=1.0, max_evals=max_evals, method=method, seed=3, proxy=ProxySettings(**PROXY)
    )


def _logged(run_dir: Path) -> tuple[list[str], list[float], int]:
    """(canonical hashes of completed evaluations in order, their scores, failed trials)."""
    import optuna

    study = optuna.load_study(study_name="run", storage=open_storage(run_dir / "runlog.journal"))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    done.sort(key=lambda t: t.user_attrs["eval"]["index"])
    return [t.user_attrs["eval"]["canonical"] for t in done], [t.value for t in done], len(failed)


@pytest.mark.parametrize("method", ["random", "rea"])
def test_sigkill_then_resume_loses_and_repeats_nothing(
    method: str, tmp_path: Path, real_data_dir: Path, shared_cache_dir: Path
) -> None:
    import torch

    torch.set_num_threads(1)
    max_evals = 5
    reference = tmp_path / "reference"
    run_ecg_search(
        _settings(method, max_evals),
        reference,
        data_dir=real_data_dir,
        cache_dir=shared_cache_dir,
        records=RECORDS,
    )
    ref_keys, ref_scores, _ = _logged(reference)
    assert len(ref_keys) == max_evals == len(set(ref_keys))

    killed = tmp_path / "killed"
    cfg = {
        "kill_at": 3,
        "max_evals": max_evals,
        "method": method,
        "proxy": PROXY,
        "run_dir": str(killed),
        "data_dir": str(real_data_dir),
        "cache_dir": str(shared_cache_dir),
        "records": list(RECORDS),
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(cfg)], capture_output=True, text=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    keys, _, _ = _logged(killed)
    assert len(keys) == 2  # two finished before the kill, the third was running
    assert not (killed / "result.json").exists()

    result = run_ecg_search(
        _settings(method, max_evals),
        killed,
        resume=True,
        data_dir=real_data_dir,
        cache_dir=shared_cache_dir,
        records=RECORDS,
    )
    assert result.n_replayed == 2 and result.n_interrupted == 1
    keys, scores, failed = _logged(killed)
    assert failed == 1  # the interrupted trial, marked failed and evaluated again
    assert keys == ref_keys and len(set(keys)) == max_evals
    assert scores == pytest.approx(ref_scores)
    best = json.loads((killed / "result.json").read_text())["best"]
    assert best["score"] == pytest.approx(max(ref_scores))


def test_search_reads_no_ds2_record(
    tmp_path: Path, real_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    import ecgnas.data.mitbih as mitbih

    torch.set_num_threads(1)
    seen: list[str] = []
    monkeypatch.setattr(mitbih, "on_record_access", lambda record, directory: seen.append(record))
    result = run_ecg_search(
        _settings("random", 2),
        tmp_path / "run",
        data_dir=real_data_dir,
        cache_dir=tmp_path / "fresh-cache",  # nothing cached: every record is read from disk
        records=RECORDS,
    )
    assert len(result.evaluations) == 2
    assert set(seen) == set(RECORDS)
    assert not set(seen) & set(DS2)
    assert set(seen) <= set(DS1)


def test_refuses_to_overwrite_or_resume_nothing(tmp_path: Path) -> None:
    from ecgnas.errors import RunError

    with pytest.raises(RunError, match="nothing to resume"):
        run_ecg_search(_settings("random", 1), tmp_path / "empty", resume=True)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "runlog.journal").write_text("")
    with pytest.raises(RunError, match="already holds a run"):
        run_ecg_search(_settings("random", 1), tmp_path / "busy")
    assert os.listdir(tmp_path / "busy") == ["runlog.journal"]


def test_the_joint_space_searches_by_ds1_cross_validation(
    tmp_path: Path, real_data_dir: Path, shared_cache_dir: Path
) -> None:
    import torch

    torch.set_num_threads(1)
    tiny = {"folds": 2, "epochs": 1, "max_majority": 200, "val_majority": 300, "width_divisor": 4}
    tiny["signal"] = "balanced_accuracy"  # scores and reports name the fidelity's signal
    settings = ECGSearchSettings(
        gpu_days=1.0,
        max_evals=2,
        space="ecgjoint",
        method="random",
        seed=1,
        proxy=ProxySettings(device="cpu"),
        fidelity=tiny,
    )
    assert ECGSearchSettings(gpu_days=1.0, space="ecgjoint").cv_fidelity() == SEARCH_PROXY
    assert ECGSearchSettings(gpu_days=1.0).cv_fidelity() is None
    run = tmp_path / "joint"
    result = run_ecg_search(settings, run, data_dir=real_data_dir, cache_dir=shared_cache_dir)
    assert len(result.evaluations) == 2
    assert all(e.arch.space == "ecgjoint" and 0 < e.score <= 1 for e in result.evaluations)
    assert all(e.score == e.metrics["cv_balanced_accuracy"] for e in result.evaluations)
    saved = json.loads((run / "result.json").read_text())
    assert saved["score_name"] == "DS1-CV balanced accuracy (N,S,V,F)"
    assert (
        "DS1 cross-validation** balanced accuracy over N, S, V, F"
        in (run / "report.md").read_text()
    )
    assert saved["data"]["fidelity_settings"]["width_divisor"] == 4
    assert "DS1 cross-validation" in (run / "report.md").read_text()
    with pytest.raises(ConfigError, match="scores all DS1 records"):
        run_ecg_search(settings, tmp_path / "subset", records=RECORDS)


TINY_CV = {"folds": 2, "epochs": 1, "max_majority": 200, "val_majority": 300, "width_divisor": 4}


def _joint_mo(max_evals: int) -> ECGSearchSettings:
    return ECGSearchSettings(
        gpu_days=1.0,
        max_evals=max_evals,
        space="ecgjoint",
        method="dcl_mo",
        seed=1,
        proxy=ProxySettings(device="cpu"),
        fidelity=TINY_CV,
        objectives=("f1", "params"),
    )


def test_a_multiobjective_search_writes_its_front_and_resumes_with_its_costs(
    tmp_path: Path, real_data_dir: Path, shared_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from ecgnas.ecg_costs import ECGCost
    from ecgnas.ecg_front import front_indices, hypervolume

    torch.set_num_threads(1)
    run = tmp_path / "mo"
    first = run_ecg_search(_joint_mo(2), run, data_dir=real_data_dir, cache_dir=shared_cache_dir)
    assert len(first.evaluations) == 2
    assert len(json.loads((run / "costs-params.json").read_text())["values"]) == 2

    computed: list[str] = []
    real = ECGCost._compute
    monkeypatch.setattr(
        ECGCost, "_compute", lambda self, arch: computed.append(arch.key()) or real(self, arch)
    )
    result = run_ecg_search(
        _joint_mo(3), run, resume=True, data_dir=real_data_dir, cache_dir=shared_cache_dir
    )
    assert result.n_replayed == 2 and len(result.evaluations) == 3
    assert computed == [result.evaluations[2].arch.key()]  # the two first came from the file

    saved = json.loads((run / "result.json").read_text())
    assert saved["objectives"] == ["f1", "params"]
    assert saved["settings"]["objectives"] == ["f1", "params"]
    pareto = saved["pareto"]
    costs = ECGCost("params")([e.arch for e in result.evaluations])
    scores = np.array([e.score for e in result.evaluations])
    assert [p["index"] for p in pareto["front"]] == front_indices(scores, costs).tolist()
    assert pareto["reference"] == {
        "signal": 0.0,
        "cost": pytest.approx(1.1 * costs.max()),
        "rule": "signal 0; cost 1.1 x the largest evaluated cost",
    }
    assert 0 < pareto["hypervolume"] == pytest.approx(hypervolume(scores, costs, 1.1 * costs.max()))
    report = (run / "report.md").read_text()
    assert (
        "## Pareto front: DS1-CV macro-F1 vs params" in report and "![front](front.png)" in report
    )
    assert (run / "front.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(RunError, match="differ|different|settings"):
        run_ecg_search(
            replace(_joint_mo(3), objectives=("f1", "macs")),
            run,
            resume=True,
            data_dir=real_data_dir,
            cache_dir=shared_cache_dir,
        )


def test_nsga2_prices_each_evaluated_arch_by_latency(
    tmp_path: Path, real_data_dir: Path, shared_cache_dir: Path
) -> None:
    import torch

    torch.set_num_threads(1)
    settings = replace(_settings("random", 3), method="nsga2", objectives=("f1", "latency"))
    run = tmp_path / "nsga2"
    run_ecg_search(
        settings, run, data_dir=real_data_dir, cache_dir=shared_cache_dir, records=RECORDS
    )
    measured = json.loads((run / "costs-latency.json").read_text())
    assert measured["cost"]["latency"]["threads"] == 1
    assert len(measured["values"]) == 3 and all(v > 0 for v in measured["values"].values())
    front = json.loads((run / "result.json").read_text())["pareto"]["front"]
    assert {p["cost"] for p in front} <= set(measured["values"].values())


def test_objectives_settings_and_the_unchanged_single_objective_settings() -> None:
    from ecgnas.ecg_search import _settings_json

    with pytest.raises(ConfigError, match="is multi-objective"):
        ECGSearchSettings(gpu_days=1.0, method="dcl_mo")
    with pytest.raises(ConfigError, match="is single-objective"):
        ECGSearchSettings(gpu_days=1.0, method="npenas", objectives=("f1", "params"))
    with pytest.raises(ConfigError, match="exactly two"):
        ECGSearchSettings(gpu_days=1.0, method="random", objectives=("f1",))
    single = _settings_json(ECGSearchSettings(gpu_days=1.0))
    assert "objectives" not in single  # single-objective outputs read as before
    assert list(single) == [
        "gpu_days", "max_evals", "space", "method", "seed", "devices", "proxy", "strategy",
        "val_fraction", "split_seed", "fidelity", "budget_seconds",
    ]  # fmt: skip
    assert ECGSearchSettings(
        gpu_days=1.0, method="dcl_mo", objectives=["f1", "macs"]
    ).objectives == (
        "f1",
        "macs",
    )
