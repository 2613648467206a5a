"""The MIT-BIH data pipeline: read records, preprocess, cut beats, split, cache, load.

Modules: ``labels`` (AAMI map), ``splits`` (DS1/DS2/paced, record-wise validation),
``mitbih`` (read/download/verify; the one door to raw files), ``preprocess``
(``PreprocessConfig`` and filters), ``beats`` (windows, RR features, R-peak detection),
``cache`` (per-record ``.npz``), ``dataset`` (``BeatSet``, ``load_beats``), ``loader``
(torch batches; imported lazily so ``import ecgnas.data`` does not import torch),
``summary`` (``ecgnas data info``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ecgnas.data.beats import RR_COLUMNS, BeatStats, RecordBeats
from ecgnas.data.dataset import BeatSet, concat_beats, load_beats, prepare_records
from ecgnas.data.labels import AAMI_CLASSES, AAMI_MAP, FOUR_CLASSES
from ecgnas.data.mitbih import MITDB_RECORDS, Record, read_record, record_class_counts
from ecgnas.data.preprocess import PreprocessConfig
from ecgnas.data.splits import (
    DS1,
    DS2,
    PACED,
    PatientLeakWarning,
    RecordSplit,
    intra_patient_split,
    kfold_splits,
    validation_split,
)

if TYPE_CHECKING:
    from ecgnas.data.loader import Batch, BeatDataset, BeatLoader

__all__ = [
    "AAMI_CLASSES",
    "AAMI_MAP",
    "DS1",
    "DS2",
    "FOUR_CLASSES",
    "MITDB_RECORDS",
    "PACED",
    "RR_COLUMNS",
    "Batch",
    "BeatDataset",
    "BeatLoader",
    "BeatSet",
    "BeatStats",
    "PatientLeakWarning",
    "PreprocessConfig",
    "Record",
    "RecordBeats",
    "RecordSplit",
    "concat_beats",
    "intra_patient_split",
    "kfold_splits",
    "load_beats",
    "prepare_records",
    "read_record",
    "record_class_counts",
    "validation_split",
]

_LAZY = {"Batch", "BeatDataset", "BeatLoader"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from ecgnas.data import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'ecgnas.data' has no attribute {name!r}")
