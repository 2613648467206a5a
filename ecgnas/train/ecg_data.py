"""DS1 for search and tuning: the inter-patient training set, split by record.

Everything here reads DS1 records only (``allowed=DS1`` is passed down to the one function
that opens raw files), so no DS2 beat can reach search, training, early stopping or tuning.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ecgnas.data import DS1, FOUR_CLASSES, BeatSet, PreprocessConfig, load_beats, validation_split
from ecgnas.data.splits import RecordSplit


@dataclass(frozen=True)
class DS1Split:
    """DS1 beats split by record into training and validation parts."""

    train: BeatSet
    val: BeatSet
    split: RecordSplit
    config: PreprocessConfig
    classes: tuple[str, ...]

    def describe(self) -> dict[str, object]:
        """JSON-ready summary: records and per-class counts of each part."""
        return {
            "train_records": list(self.split.train),
            "val_records": list(self.split.val),
            "classes": list(self.classes),
            "train_counts": self.train.class_counts().tolist(),
            "val_counts": self.val.class_counts().tolist(),
            "preprocess_digest": self.config.digest(),
        }


def load_ds1_split(
    *,
    val_fraction: float = 0.2,
    split_seed: int = 0,
    classes: tuple[str, ...] = FOUR_CLASSES,
    config: PreprocessConfig | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    records: tuple[str, ...] = DS1,
) -> DS1Split:
    """Load DS1 (or a subset of it: ``records``, for tests) and split it by record.

    The validation records are chosen by ``ecgnas.data.validation_split`` (S and V beats on
    both sides, class shares close to the overall ones), deterministic for ``split_seed``.
    ``records`` outside DS1 raise ``ConfigError``.
    """
    config = config or PreprocessConfig()
    beats = load_beats(
        records,
        config,
        classes=classes,
        data_dir=data_dir,
        cache_dir=cache_dir,
        allowed=DS1,
    )
    split = validation_split(
        beats.record_class_counts(), records, val_fraction=val_fraction, seed=split_seed
    )
    return DS1Split(
        train=beats.select_records(split.train),
        val=beats.select_records(split.val),
        split=split,
        config=config,
        classes=tuple(classes),
    )
