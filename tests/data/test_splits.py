from __future__ import annotations

import warnings

import numpy as np
import pytest

from ecgnas.data.mitbih import MITDB_RECORDS, record_class_counts
from ecgnas.data.splits import (
    DS1,
    DS2,
    PACED,
    PatientLeakWarning,
    intra_patient_split,
    kfold_splits,
    validation_split,
)
from ecgnas.errors import ConfigError

S, V = 1, 2


def test_ds1_ds2_paced_partition_the_database() -> None:
    assert len(DS1) == len(DS2) == 22
    assert not set(DS1) & set(DS2)
    assert not (set(DS1) | set(DS2)) & set(PACED)
    assert set(PACED) == {"102", "104", "107", "217"}
    assert sorted(DS1 + DS2 + PACED) == list(MITDB_RECORDS)
    assert len(MITDB_RECORDS) == 48


@pytest.fixture(scope="module")
def ds1_counts(mitdb_dir) -> dict[str, np.ndarray]:
    return record_class_counts(DS1, mitdb_dir.parent)


def test_ds1_counts_from_annotations(ds1_counts) -> None:
    total = np.sum(list(ds1_counts.values()), axis=0)
    assert total.tolist() == [45866, 944, 3788, 415, 8]


def test_validation_split_keeps_s_and_v_on_both_sides(ds1_counts) -> None:
    split = validation_split(ds1_counts, seed=0)
    assert len(split.val) == 5  # ceil(0.2 * 22)
    assert set(split.train) | set(split.val) == set(DS1)
    assert not set(split.train) & set(split.val)
    for side in (split.train, split.val):
        counts = np.sum([ds1_counts[r] for r in side], axis=0)
        assert counts[S] >= 10 and counts[V] >= 10
    # stratified: each class's validation share is within 15 points of the overall share
    val = np.sum([ds1_counts[r] for r in split.val], axis=0)
    total = np.sum(list(ds1_counts.values()), axis=0)
    share = val.sum() / total.sum()
    for c in (0, S, V):
        assert abs(val[c] / total[c] - share) < 0.15


def test_validation_split_is_deterministic_per_seed(ds1_counts) -> None:
    a = validation_split(ds1_counts, seed=3)
    assert a == validation_split(ds1_counts, seed=3)
    others = {validation_split(ds1_counts, seed=s).val for s in range(6)}
    assert len(others) > 1


def test_validation_split_impossible_requirement() -> None:
    counts = {"a": [10, 50, 0, 0, 0], "b": [10, 0, 0, 0, 0], "c": [10, 0, 30, 0, 0]}
    with pytest.raises(ConfigError, match="both sides"):
        validation_split(counts, ["a", "b", "c"])
    with pytest.raises(ConfigError, match="no class counts"):
        validation_split(counts, ["a", "zzz"])
    with pytest.raises(ConfigError):
        validation_split(counts, ["a", "b", "c"], val_fraction=1.5)


def test_kfold_covers_every_record_once(ds1_counts) -> None:
    folds = kfold_splits(ds1_counts, k=5, seed=0)
    assert len(folds) == 5
    vals = [r for f in folds for r in f.val]
    assert sorted(vals) == sorted(DS1)
    assert {len(f.val) for f in folds} <= {4, 5}
    for f in folds:
        assert not set(f.train) & set(f.val)
        assert set(f.train) | set(f.val) == set(DS1)
        for side in (f.train, f.val):
            counts = np.sum([ds1_counts[r] for r in side], axis=0)
            assert counts[S] >= 10 and counts[V] >= 10
    assert folds == kfold_splits(ds1_counts, k=5, seed=0)
    with pytest.raises(ConfigError):
        kfold_splits(ds1_counts, k=1)


def test_intra_patient_split_needs_the_flag() -> None:
    y = np.repeat([0, 1, 2], [80, 10, 10])
    with pytest.raises(ConfigError, match="leaks patients"):
        intra_patient_split(y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train, val = intra_patient_split(y, val_fraction=0.2, seed=0, allow_patient_leak=True)
    assert any(issubclass(w.category, PatientLeakWarning) for w in caught)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(100))
    assert np.bincount(y[val]).tolist() == [16, 2, 2]
