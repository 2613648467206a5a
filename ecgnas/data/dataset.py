"""Prepared MIT-BIH beats in memory: ``prepare_records`` (per record, cached) and
``load_beats`` (one ``BeatSet`` for a list of records).

Typical use::

    from ecgnas.data import DS1, PreprocessConfig, load_beats
    train = load_beats(split.train, PreprocessConfig(), classes=("N", "S", "V", "F"),
                       allowed=DS1)

``allowed`` is the guard for held-out data: a record outside it raises ``ConfigError``
before any of its files is opened (see ``ecgnas.data.mitbih``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ecgnas.data import cache, mitbih
from ecgnas.data.beats import RecordBeats, record_beats
from ecgnas.data.labels import AAMI_CLASSES, resolve_classes
from ecgnas.data.preprocess import PreprocessConfig
from ecgnas.errors import ConfigError

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
"""``progress(done, total, record)`` called after each record is ready."""


@dataclass(frozen=True, eq=False)
class BeatSet:
    """Beats of several records as aligned numpy arrays (row ``i`` is one beat).

    x: float32 [n, 1, window] preprocessed signal windows (channels-first for Conv1d).
    rr: float32 [n, 6] RR features, columns ``ecgnas.data.beats.RR_COLUMNS``.
    y: int64 [n] class index into ``classes``.
    record: str [n] record name of each beat.
    sample: int64 [n] R-peak sample index in its record (at ``config.fs``).
    classes: the class letters, in AAMI order, that ``y`` indexes.
    config: the preprocessing that produced ``x`` and ``rr``.
    """

    x: np.ndarray
    rr: np.ndarray
    y: np.ndarray
    record: np.ndarray
    sample: np.ndarray
    classes: tuple[str, ...] = AAMI_CLASSES
    config: PreprocessConfig = field(default_factory=PreprocessConfig)

    def __post_init__(self) -> None:
        n = self.y.shape[0]
        shapes = {
            "x": (self.x.ndim == 3 and self.x.shape[:2] == (n, 1)),
            "rr": self.rr.shape == (n, 6),
            "record": self.record.shape == (n,),
            "sample": self.sample.shape == (n,),
        }
        bad = [name for name, ok in shapes.items() if not ok]
        if bad or self.y.ndim != 1:
            raise ValueError(f"BeatSet arrays disagree in shape: {', '.join(bad) or 'y'}")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def window(self) -> int:
        """Samples per beat window."""
        return int(self.x.shape[2])

    def subset(self, index: np.ndarray | Sequence[int]) -> BeatSet:
        """The beats at ``index`` (integer indices or a boolean mask), in that order."""
        idx = np.asarray(index)
        return BeatSet(
            x=self.x[idx],
            rr=self.rr[idx],
            y=self.y[idx],
            record=self.record[idx],
            sample=self.sample[idx],
            classes=self.classes,
            config=self.config,
        )

    def select_records(self, records: Iterable[str]) -> BeatSet:
        """The beats of ``records`` (in this set's order)."""
        return self.subset(np.isin(self.record, list(records)))

    def class_counts(self) -> np.ndarray:
        """int64 [len(classes)]: beats per class."""
        return np.bincount(self.y, minlength=len(self.classes)).astype(np.int64)

    def record_class_counts(self) -> dict[str, np.ndarray]:
        """``record -> int64 [5]`` beats per AAMI class (the input of the split functions)."""
        aami = np.asarray([AAMI_CLASSES.index(c) for c in self.classes], dtype=np.int64)[self.y]
        out: dict[str, np.ndarray] = {}
        for rec in dict.fromkeys(self.record.tolist()):
            sel = self.record == rec
            out[str(rec)] = np.bincount(aami[sel], minlength=len(AAMI_CLASSES)).astype(np.int64)
        return out


def prepare_records(
    records: Iterable[str],
    config: PreprocessConfig | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    allowed: Collection[str] | None = None,
    progress: Progress | None = None,
) -> list[RecordBeats]:
    """Prepared beats of each record, from the cache or built (and cached) from raw data.

    Every record passes through ``mitbih.source_digest`` (the raw-data door and the cache's
    staleness key) whether or not it is cached. A record that fails raises ``DataError``
    after the records before it were cached; nothing partial is written for it.
    """
    config = config or PreprocessConfig()
    names = list(dict.fromkeys(str(r) for r in records))
    if not names:
        raise ConfigError("no records to prepare")
    mitbih.check_names(names, allowed)
    directory = cache.config_cache_dir(config, cache_dir)
    target_fs = None if config.fs == mitbih.MITBIH_FS else config.fs
    out: list[RecordBeats] = []
    built = 0
    start = time.perf_counter()
    for done, name in enumerate(names, 1):
        source = mitbih.source_digest(name, data_dir, allowed=allowed)
        path = cache.entry_path(directory, name)
        beats = cache.load_entry(path, config, name, source)
        if beats is None:
            rec = mitbih.read_record(name, data_dir, target_fs=target_fs, allowed=allowed)
            beats = record_beats(rec, config)
            cache.write_config(directory, config)
            cache.save_entry(path, beats, config, source)
            built += 1
        out.append(beats)
        if progress is not None:
            progress(done, len(names), name)
    log.log(
        logging.INFO if built else logging.DEBUG,
        "prepared %d records (%d built, %d from cache %s) in %.1f s",
        len(names),
        built,
        len(names) - built,
        directory,
        time.perf_counter() - start,
    )
    return out


def concat_beats(
    prepared: Sequence[RecordBeats],
    config: PreprocessConfig,
    classes: Iterable[str] = AAMI_CLASSES,
) -> BeatSet:
    """Stack prepared records into one ``BeatSet``, keeping only ``classes``.

    Labels are re-indexed into ``classes`` (e.g. ``("N", "S", "V", "F")`` drops Q beats and
    keeps indices 0..3).
    """
    wanted = resolve_classes(classes)
    remap = np.full(len(AAMI_CLASSES), -1, dtype=np.int64)
    for i, c in enumerate(wanted):
        remap[AAMI_CLASSES.index(c)] = i
    keeps = [remap[p.y.astype(np.int64)] >= 0 for p in prepared]
    n = int(sum(int(k.sum()) for k in keeps))
    x = np.empty((n, 1, config.window), dtype=np.float32)
    rr = np.empty((n, 6), dtype=np.float32)
    y = np.empty(n, dtype=np.int64)
    sample = np.empty(n, dtype=np.int64)
    record = np.empty(n, dtype="<U8")
    pos = 0
    for p, keep in zip(prepared, keeps, strict=True):
        k = int(keep.sum())
        x[pos : pos + k, 0] = p.x[keep]
        rr[pos : pos + k] = p.rr[keep]
        y[pos : pos + k] = remap[p.y[keep].astype(np.int64)]
        sample[pos : pos + k] = p.sample[keep]
        record[pos : pos + k] = p.record
        pos += k
    return BeatSet(x=x, rr=rr, y=y, record=record, sample=sample, classes=wanted, config=config)


def load_beats(
    records: Iterable[str],
    config: PreprocessConfig | None = None,
    *,
    classes: Iterable[str] = AAMI_CLASSES,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    allowed: Collection[str] | None = None,
    progress: Progress | None = None,
) -> BeatSet:
    """All beats of ``records`` (cached per record) as one in-memory ``BeatSet``.

    ``classes`` picks the class set (default all five AAMI classes; many papers use
    ``("N", "S", "V", "F")``). Raises ``DataError`` for missing or bad records,
    ``ConfigError`` for a record outside ``allowed`` or an unknown class.
    """
    config = config or PreprocessConfig()
    wanted = resolve_classes(classes)
    prepared = prepare_records(
        records,
        config,
        data_dir=data_dir,
        cache_dir=cache_dir,
        allowed=allowed,
        progress=progress,
    )
    return concat_beats(prepared, config, wanted)
