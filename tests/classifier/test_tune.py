"""Tuning on DS1 only: resume from the journal, refusal to resume with other settings, and no
DS2 record read by ``tune`` or by the training part of ``train``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecgnas.classifier.recipe import Setup
from ecgnas.classifier.tune import read_tuned, tune
from ecgnas.data import mitbih
from ecgnas.data.splits import DS1, DS2
from ecgnas.errors import RunError
from ecgnas.train.models import parse_arch

pytestmark = pytest.mark.realdata

TINY = Setup(max_majority=200, min_epochs=1, max_epochs=1, patience=1)


@pytest.fixture
def records_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every record whose raw files the data layer opens (through its one door)."""
    seen: list[str] = []
    monkeypatch.setattr(mitbih, "on_record_access", lambda record, directory: seen.append(record))
    return seen


def test_tune_resumes_from_its_journal_and_reads_no_ds2_record(
    tmp_path: Path, real_data_dir: Path, shared_cache_dir: Path, records_read: list[str]
) -> None:
    import optuna

    arch = parse_arch("manual")
    kwargs = {"setup": TINY, "seed": 3, "data_dir": real_data_dir, "cache_dir": shared_cache_dir}
    first = tune(arch, 2, tmp_path, **kwargs)
    assert first.n_complete + first.n_pruned == 2
    second = tune(arch, 3, tmp_path, **kwargs)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "tune.journal"))
    )
    study = optuna.load_study(study_name=second.study_name, storage=storage)
    assert len(study.trials) == 3
    assert all(t.state.is_finished() for t in study.trials)
    # the first trial is the default recipe; the resumed run did not replay the first draws
    assert study.trials[0].params["lr"] == 3e-3
    assert study.trials[2].params != study.trials[1].params
    attrs = study.user_attrs["ecgnas"]
    assert attrs["arch"] == arch.to_json() and attrs["seed"] == 3
    assert attrs["preprocess_digest"] == TINY.preprocess.digest()
    (split,) = attrs["splits"]
    assert sorted(split["train"] + split["val"]) == sorted(DS1)
    # asking for no more than exist runs nothing
    assert tune(arch, 3, tmp_path, **kwargs).n_complete + second.n_pruned <= 3
    assert len(optuna.load_study(study_name=second.study_name, storage=storage).trials) == 3
    summary = json.loads((tmp_path / "tune.json").read_text())
    assert len(summary["trials"]) == 3 and "DS1-validation" in summary["best_value_is"]
    tuned = read_tuned(tmp_path)
    assert tuned.arch == arch and tuned.setup == TINY
    assert records_read and set(records_read) <= set(DS1)


def test_resuming_with_other_settings_is_refused(
    tmp_path: Path, real_data_dir: Path, shared_cache_dir: Path
) -> None:
    arch = parse_arch("manual")
    tune(arch, 1, tmp_path, setup=TINY, data_dir=real_data_dir, cache_dir=shared_cache_dir)
    with pytest.raises(RunError, match="another seed"):
        tune(
            arch,
            2,
            tmp_path,
            setup=TINY,
            seed=1,
            data_dir=real_data_dir,
            cache_dir=shared_cache_dir,
        )
    other = Setup(max_majority=300, min_epochs=1, max_epochs=1, patience=1)
    with pytest.raises(RunError, match="another setup"):
        tune(arch, 2, tmp_path, setup=other, data_dir=real_data_dir, cache_dir=shared_cache_dir)


def test_cli_tune_then_train_reads_ds2_only_after_training(
    cli,
    tmp_path: Path,
    real_data_dir: Path,
    shared_cache_dir: Path,
    records_read: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    common = ["--data-dir", str(real_data_dir), "--cache-dir", str(shared_cache_dir)]
    tune_dir = tmp_path / "tune"
    argv = ["tune", "--arch", "manual", "--trials", "1", "--out", str(tune_dir)]
    argv += ["--max-majority", "200", "--min-epochs", "1", "--max-epochs", "1", "--threads", "1"]
    assert cli(argv + common) == 0
    assert "DS1-validation macro-F1" in capsys.readouterr().out
    assert set(records_read) <= set(DS1)

    records_read.clear()
    bundle, reports = tmp_path / "bundle", tmp_path / "reports"
    argv = ["train", "--tuned", str(tune_dir), "--out", str(bundle), "--name", "t"]
    assert cli(argv + ["--report-dir", str(reports), "--threads", "1"] + common) == 0
    out = capsys.readouterr().out
    assert "DS1-validation macro-F1" in out and "DS2-test macro-F1" in out
    # all DS1 reads (training, early stopping, temperature) come before the first DS2 read
    first_ds2 = next(i for i, r in enumerate(records_read) if r in DS2)
    assert set(records_read[:first_ds2]) <= set(DS1)
    assert set(records_read[first_ds2:]) == set(DS2)
    names = sorted(p.name for p in reports.iterdir())
    assert names == [
        "final_t.json",
        "final_t.md",
        "final_t_confusion.png",
        "final_t_reliability.png",
    ]
    report = json.loads((reports / "final_t.json").read_text())
    assert report["ds2_test"]["what"].startswith("DS2-test")
    assert report["ds1_validation"]["what"].startswith("DS1-validation")
    assert report["ds2_test"]["five_class"]["per_class"]["Q"]["support"] == 7
    assert set(report["ds2_test"]["per_record"]) == set(DS2)
    assert report["training"]["tuned_from"]["source"].endswith("tune.json")
    contract = json.loads((bundle / "contract.json").read_text())
    assert set(contract["metrics"]) == {"ds1_validation", "ds2_test"}
    md = (reports / "final_t.md").read_text()
    assert "## DS2-test (4 classes: N, S, V, F)" in md and "DS1-validation" in md
    assert "never predicts Q" in md


def test_a_storage_url_passes_through_to_optuna(
    tmp_path: Path, real_data_dir: Path, shared_cache_dir: Path
) -> None:
    import optuna

    url = f"sqlite:///{tmp_path / 'tune.db'}"
    kwargs = {
        "setup": TINY,
        "storage": url,
        "data_dir": real_data_dir,
        "cache_dir": shared_cache_dir,
    }
    tune(parse_arch("manual"), 1, tmp_path, **kwargs)
    result = tune(parse_arch("manual"), 2, tmp_path, **kwargs)
    assert result.storage == url and not (tmp_path / "tune.journal").exists()
    assert len(optuna.load_study(study_name=result.study_name, storage=url).trials) == 2
