"""Record lists and splits of MIT-BIH: de Chazal's inter-patient DS1/DS2 and record-wise
validation inside DS1.

* ``DS1`` (training, 22 records) and ``DS2`` (test, 22 records) follow de Chazal et al.,
  IEEE TBME 51(7):1196-1206, 2004. ``PACED`` (102, 104, 107, 217) is in neither: AAMI EC57
  excludes paced records.
* ``validation_split`` and ``kfold_splits`` split a list of records (DS1) *by record*, so no
  patient is on both sides, and keep at least ``min_beats`` beats of each required class
  (default ``S`` and ``V``) on both sides. They are deterministic for a seed.
* ``intra_patient_split`` splits *beats* at random. It leaks patients between the two sides
  and inflates scores; it refuses to run without ``allow_patient_leak=True`` and then warns.

The split functions are pure: they take per-record class counts (``record -> counts in
AAMI_CLASSES order``), e.g. from ``ecgnas.data.mitbih.record_class_counts`` or
``BeatSet.record_class_counts``.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt

from ecgnas.data.labels import AAMI_CLASSES, resolve_classes
from ecgnas.errors import ConfigError

log = logging.getLogger(__name__)

DS1: Final[tuple[str, ...]] = tuple(
    "101 106 108 109 112 114 115 116 118 119 122 124 "
    "201 203 205 207 208 209 215 220 223 230".split()
)
"""de Chazal's training set (22 records)."""

DS2: Final[tuple[str, ...]] = tuple(
    "100 103 105 111 113 117 121 123 200 202 210 212 "
    "213 214 219 221 222 228 231 232 233 234".split()
)
"""de Chazal's test set (22 records). Touch it once, for the final evaluation."""

PACED: Final[tuple[str, ...]] = ("102", "104", "107", "217")
"""Records with paced beats, excluded from DS1 and DS2 (AAMI EC57)."""

SPLITS: Final = {"DS1": DS1, "DS2": DS2, "PACED": PACED}
"""Split name -> records."""

#: one record's beat counts per AAMI class (N, S, V, F, Q): a list, or an integer array
#: such as a value of ``BeatSet.record_class_counts()``
ClassCounts: TypeAlias = Sequence[int] | npt.NDArray[np.integer]


class PatientLeakWarning(UserWarning):
    """A split put beats of the same patient on both sides."""


@dataclass(frozen=True)
class RecordSplit:
    """Two disjoint, sorted tuples of record names."""

    train: tuple[str, ...]
    val: tuple[str, ...]


def _count_matrix(counts: Mapping[str, ClassCounts], records: Sequence[str]) -> np.ndarray:
    missing = [r for r in records if r not in counts]
    if missing:
        raise ConfigError(f"no class counts for record(s) {', '.join(missing)}")
    mat = np.asarray([list(counts[r]) for r in records], dtype=np.int64)
    if mat.ndim != 2 or mat.shape[1] != len(AAMI_CLASSES):
        raise ConfigError(f"class counts must have {len(AAMI_CLASSES)} columns (N, S, V, F, Q)")
    return mat


def _loss(val_counts: np.ndarray, totals: np.ndarray, stratify: np.ndarray) -> np.ndarray:
    """Squared deviation of each class's validation share from the overall share.

    ``val_counts``: [candidates, classes]; returns [candidates].
    """
    share_all = val_counts.sum(axis=1) / totals.sum()
    loss = np.zeros(val_counts.shape[0])
    for c in np.flatnonzero(stratify & (totals > 0)):
        loss += (val_counts[:, c] / totals[c] - share_all) ** 2
    return loss


def _check_fraction(value: float, name: str) -> None:
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{name} must be in (0, 1), got {value}")


def validation_split(
    counts: Mapping[str, ClassCounts],
    records: Sequence[str] = DS1,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    require: Iterable[str] = ("S", "V"),
    min_beats: int = 10,
    stratify: Iterable[str] = ("N", "S", "V", "F"),
    n_candidates: int = 4000,
) -> RecordSplit:
    """A record-wise train/validation split of ``records`` (default DS1).

    ``ceil(val_fraction * len(records))`` records go to validation (5 of the 22 DS1 records,
    23 %, by default). Among ``n_candidates`` random record subsets drawn with ``seed``, it
    keeps those with at least ``min_beats`` beats of every ``require`` class on *both* sides
    and returns the one whose per-class validation shares (classes in ``stratify``) are
    closest to its overall beat share. Same inputs and seed, same split.

    Raises ``ConfigError`` when no candidate satisfies ``require`` (e.g. a class has beats in
    fewer than two records) or for bad arguments.
    """
    _check_fraction(val_fraction, "val_fraction")
    records = list(dict.fromkeys(records))
    if len(records) < 2:
        raise ConfigError("a validation split needs at least two records")
    mat = _count_matrix(counts, records)
    req = np.isin(AAMI_CLASSES, resolve_classes(require)) if tuple(require) else None
    strat = np.isin(AAMI_CLASSES, resolve_classes(stratify))
    n_val = min(len(records) - 1, max(1, math.ceil(val_fraction * len(records))))

    rng = np.random.default_rng(seed)
    keys = rng.random((n_candidates, len(records)))
    members = np.argsort(keys, axis=1)[:, :n_val]
    masks = np.zeros((n_candidates, len(records)), dtype=bool)
    np.put_along_axis(masks, members, True, axis=1)
    val_counts = masks.astype(np.int64) @ mat
    train_counts = mat.sum(axis=0) - val_counts
    ok = np.ones(n_candidates, dtype=bool)
    if req is not None:
        ok = (val_counts[:, req] >= min_beats).all(axis=1) & (
            train_counts[:, req] >= min_beats
        ).all(axis=1)
    if not ok.any():
        raise ConfigError(
            f"no record-wise split of {len(records)} records puts at least {min_beats} beats "
            f"of {', '.join(resolve_classes(require))} on both sides"
        )
    loss = np.where(ok, _loss(val_counts, mat.sum(axis=0), strat), np.inf)
    best = masks[int(np.argmin(loss))]
    return RecordSplit(
        train=tuple(sorted(r for r, m in zip(records, best, strict=True) if not m)),
        val=tuple(sorted(r for r, m in zip(records, best, strict=True) if m)),
    )


def kfold_splits(
    counts: Mapping[str, ClassCounts],
    records: Sequence[str] = DS1,
    *,
    k: int = 5,
    seed: int = 0,
    require: Iterable[str] = ("S", "V"),
    min_beats: int = 10,
    stratify: Iterable[str] = ("N", "S", "V", "F"),
    n_candidates: int = 4000,
) -> list[RecordSplit]:
    """Record-wise k-fold cross-validation of ``records`` (default DS1).

    Each record is in exactly one validation fold; fold sizes differ by at most one record.
    Among ``n_candidates`` random partitions drawn with ``seed`` it prefers those where every
    fold's validation and training sides hold at least ``min_beats`` beats of each ``require``
    class, then the best-stratified one. If no partition meets the requirement for every
    fold, it returns the one with the fewest failing folds and logs a warning.

    Raises ``ConfigError`` when ``k`` is not in ``2..len(records)``.
    """
    records = list(dict.fromkeys(records))
    if not 2 <= k <= len(records):
        raise ConfigError(f"k must be in 2..{len(records)}, got {k}")
    mat = _count_matrix(counts, records)
    totals = mat.sum(axis=0)
    req = np.isin(AAMI_CLASSES, resolve_classes(require)) if tuple(require) else None
    strat = np.isin(AAMI_CLASSES, resolve_classes(stratify))

    rng = np.random.default_rng(seed)
    fold_of_rank = np.arange(len(records)) % k
    best_key: tuple[int, float] | None = None
    best_folds = fold_of_rank
    for _ in range(n_candidates):
        folds = fold_of_rank[rng.permutation(len(records))]
        onehot = folds[None, :] == np.arange(k)[:, None]  # [k, records]
        val_counts = onehot.astype(np.int64) @ mat  # [k, classes]
        failing = 0
        if req is not None:
            bad = (val_counts[:, req] < min_beats) | ((totals - val_counts)[:, req] < min_beats)
            failing = int(bad.any(axis=1).sum())
        key = (failing, float(_loss(val_counts, totals, strat).sum()))
        if best_key is None or key < best_key:
            best_key, best_folds = key, folds
    assert best_key is not None
    if best_key[0]:
        log.warning(
            "%d of %d folds have fewer than %d beats of a required class on one side",
            best_key[0],
            k,
            min_beats,
        )
    return [
        RecordSplit(
            train=tuple(sorted(r for r, f in zip(records, best_folds, strict=True) if f != i)),
            val=tuple(sorted(r for r, f in zip(records, best_folds, strict=True) if f == i)),
        )
        for i in range(k)
    ]


def intra_patient_split(
    y: np.ndarray,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    allow_patient_leak: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Random beat-wise split, stratified by label: ``(train_idx, val_idx)`` (sorted int64).

    Beats of one patient land on both sides, so scores are optimistic and not comparable
    with inter-patient results. Raises ``ConfigError`` unless ``allow_patient_leak=True``;
    with it, emits a ``PatientLeakWarning``.
    """
    if not allow_patient_leak:
        raise ConfigError(
            "an intra-patient (random beat) split leaks patients between train and "
            "validation; pass allow_patient_leak=True if you really want it"
        )
    _check_fraction(val_fraction, "val_fraction")
    warnings.warn(
        "intra-patient split: beats of the same patient are in train and validation; "
        "scores will be optimistic",
        PatientLeakWarning,
        stacklevel=2,
    )
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    val_parts = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        n_val = int(round(val_fraction * idx.size))
        val_parts.append(rng.permutation(idx)[:n_val])
    val = (
        np.sort(np.concatenate(val_parts)).astype(np.int64) if val_parts else np.zeros(0, np.int64)
    )
    train = np.setdiff1d(np.arange(y.size, dtype=np.int64), val)
    return train, val
