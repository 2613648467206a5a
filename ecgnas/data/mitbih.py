"""Read and download the MIT-BIH Arrhythmia Database (PhysioNet ``mitdb``).

Layout: ``<data_dir>/mitdb/NNN.{hea,dat,atr}`` plus ``RECORDS`` and ``SHA256SUMS.txt``, where
``data_dir`` is resolved by ``ecgnas.paths.data_dir`` (``--data-dir``, ``$ECGNAS_DATA_DIR``,
else ``~/.cache/ecgnas/data``).

**One door to raw data.** Every function here that opens a record's files (``read_record``,
``read_annotations``, ``source_digest``) first calls ``_access``, which

1. rejects names that are not MIT-BIH records (``DataError``),
2. rejects records outside ``allowed`` when the caller passes an allow-list
   (``ConfigError``; e.g. search code passes ``allowed=DS1`` so DS2 cannot be read), and
3. calls the module-level hook ``on_record_access(record, directory)``, a no-op that tests
   replace with ``monkeypatch.setattr(ecgnas.data.mitbih, "on_record_access", spy)`` to
   record or forbid every record touched. ``ecgnas.data.dataset.load_beats`` calls
   ``source_digest`` for every record it serves, cached or not, so the hook sees all of them.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import numpy as np

from ecgnas import paths
from ecgnas.data.labels import AAMI_CLASSES, aami_indices
from ecgnas.data.splits import DS1, DS2, PACED
from ecgnas.errors import ConfigError, DataError

log = logging.getLogger(__name__)

MITDB_SUBDIR: Final = "mitdb"
MITBIH_FS: Final = 360.0
"""Sampling rate of every MIT-BIH record, Hz."""
LEAD: Final = "MLII"
MITDB_RECORDS: Final[tuple[str, ...]] = tuple(sorted(DS1 + DS2 + PACED))
"""All 48 record names."""
RECORD_EXTENSIONS: Final = ("hea", "dat", "atr")
CHECKSUM_FILE: Final = "SHA256SUMS.txt"

# Bytes per sample of the WFDB storage formats we can size-check (see WFDB "signal" docs).
_BYTES_PER_SAMPLE: Final = {
    "8": 1.0,
    "16": 2.0,
    "24": 3.0,
    "32": 4.0,
    "61": 2.0,
    "80": 1.0,
    "160": 2.0,
    "212": 1.5,
    "310": 4.0 / 3.0,
    "311": 4.0 / 3.0,
}


@dataclass(frozen=True)
class Record:
    """One record's lead and reference annotations.

    signal:
        float64 [n_samples], millivolts, the selected lead (``lead``) at ``fs`` Hz.
    ann_sample:
        int64 [n_annotations], sample index of every reference annotation (beats and others),
        at ``fs`` (rescaled when the record was resampled).
    ann_symbol:
        [n_annotations] annotation symbols (``"N"``, ``"V"``, ``"+"``, ...).
    """

    name: str
    signal: np.ndarray
    fs: float
    ann_sample: np.ndarray
    ann_symbol: tuple[str, ...]
    lead: str = LEAD


def mitdb_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``<data_dir>/mitdb`` with ``data_dir`` resolved by ``ecgnas.paths.data_dir``."""
    return paths.data_dir(data_dir) / MITDB_SUBDIR


@contextmanager
def quiet_wfdb() -> Iterator[None]:
    """Silence the pandas deprecation warnings that wfdb 4.3 raises on import and ``rdann``."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*inplace keyword.*")
        yield


def on_record_access(record: str, directory: Path) -> None:
    """Hook called before any raw file of ``record`` in ``directory`` is opened. A no-op.

    Tests monkeypatch it to assert which records a piece of code touches (say, that no DS2
    record is read during search).
    """


def check_names(records: Iterable[str], allowed: Collection[str] | None = None) -> None:
    """Validate record names up front, touching no file.

    Raises ``DataError`` for a name that is not an MIT-BIH record and ``ConfigError`` for
    one outside ``allowed`` (when given).
    """
    names = [str(r).strip() for r in records]
    unknown = [r for r in names if r not in MITDB_RECORDS]
    if unknown:
        noun = "record" if len(unknown) == 1 else "records"
        raise DataError(
            f"unknown MIT-BIH {noun} {', '.join(repr(r) for r in unknown)} "
            "(records are 100-124 and 200-234, see RECORDS)"
        )
    if allowed is not None:
        outside = [r for r in names if r not in allowed]
        if outside:
            noun, verb = ("record", "is") if len(outside) == 1 else ("records", "are")
            raise ConfigError(
                f"{noun} {', '.join(outside)} {verb} not in the allowed records for this step"
            )


def _access(record: str, directory: Path, allowed: Collection[str] | None) -> str:
    name = str(record).strip()
    check_names([name], allowed)
    on_record_access(name, directory)
    return name


def _require_files(name: str, directory: Path, extensions: Iterable[str]) -> None:
    if not directory.is_dir() or not any(directory.glob("*.hea")):
        raise DataError(
            f"no MIT-BIH records in {directory} (run `ecgnas data download mitbih` "
            "or set --data-dir / ECGNAS_DATA_DIR)"
        )
    for ext in extensions:
        if not (directory / f"{name}.{ext}").is_file():
            raise DataError(f"record {name}: missing {name}.{ext} in {directory}")


def _check_dat_sizes(name: str, directory: Path, header: Any) -> None:
    """Raise ``DataError`` when a signal file is shorter than its header says (``header``: a
    ``wfdb.Record`` from ``rdheader``; wfdb has no type information, hence ``Any``)."""
    sig_len = getattr(header, "sig_len", None)
    if not sig_len:
        return
    per_file: dict[str, list[tuple[str, int, int]]] = {}
    offsets = header.byte_offset or [None] * header.n_sig
    spf = header.samps_per_frame or [1] * header.n_sig
    for fname, fmt, off, frames in zip(
        header.file_name,
        header.fmt,
        offsets,
        spf,
        strict=True,
    ):
        per_file.setdefault(fname, []).append((str(fmt), int(off or 0), int(frames or 1)))
    for fname, sigs in per_file.items():
        fmts = {fmt for fmt, _, _ in sigs}
        if len(fmts) != 1 or next(iter(fmts)) not in _BYTES_PER_SAMPLE:
            continue
        bps = _BYTES_PER_SAMPLE[next(iter(fmts))]
        expected = sigs[0][1] + math.ceil(sig_len * sum(f for _, _, f in sigs) * bps)
        path = directory / fname
        if not path.is_file():
            raise DataError(f"record {name}: missing signal file {fname} in {directory}")
        actual = path.stat().st_size
        if actual < expected:
            raise DataError(
                f"record {name}: {fname} is truncated ({actual} bytes, header needs {expected})"
            )


def read_annotations(
    record: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    allowed: Collection[str] | None = None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Reference annotations of ``record``: ``(sample int64 [m], symbols [m])`` at 360 Hz.

    Raises ``DataError`` for an unknown record, a missing or unreadable ``.atr``.
    """
    directory = mitdb_dir(data_dir)
    name = _access(record, directory, allowed)
    _require_files(name, directory, ("atr",))
    return _read_atr(name, directory)


def _read_atr(name: str, directory: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    with quiet_wfdb():
        import wfdb

    try:
        with quiet_wfdb():
            ann = wfdb.rdann(str(directory / name), "atr")
    except Exception as exc:  # wfdb raises bare ValueError/IndexError on bad files
        raise DataError(f"record {name}: cannot read {name}.atr ({exc})") from exc
    sample = np.asarray(ann.sample, dtype=np.int64)
    symbols = tuple(str(s) for s in ann.symbol)
    if sample.size != len(symbols) or (sample.size and (np.diff(sample) < 0).any()):
        raise DataError(f"record {name}: {name}.atr is corrupt (unsorted or ragged)")
    return sample, symbols


def read_record(
    record: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    lead: str = LEAD,
    target_fs: float | None = None,
    allowed: Collection[str] | None = None,
) -> Record:
    """Read one lead (by signal *name*, default MLII) and the reference annotations.

    The lead is chosen by name because channel order differs between records (114 has
    MLII second). ``target_fs=None`` requires the record to be at 360 Hz; a number
    resamples the signal (polyphase, ``scipy.signal.resample_poly``) and rescales the
    annotation samples when the record's rate differs.

    Raises ``DataError`` for: an unknown record name, a missing ``.hea``/``.dat``/``.atr``,
    a ``.dat`` shorter than its header says, a signal checksum that does not match the
    header, no lead named ``lead``, invalid samples in that lead, or a sampling rate other
    than 360 Hz when ``target_fs`` is None. ``ConfigError`` when ``allowed`` excludes it.
    """
    directory = mitdb_dir(data_dir)
    name = _access(record, directory, allowed)
    _require_files(name, directory, RECORD_EXTENSIONS)
    expect_fs = MITBIH_FS if target_fs is None else None
    rec = read_wfdb(directory / name, lead=lead, expect_fs=expect_fs)
    if target_fs is None or float(target_fs) == rec.fs:
        return rec
    from scipy.signal import resample_poly

    ratio = Fraction(float(target_fs) / rec.fs).limit_denominator(1000)
    signal = resample_poly(rec.signal, ratio.numerator, ratio.denominator)
    out_fs = rec.fs * ratio.numerator / ratio.denominator
    sample = np.rint(rec.ann_sample * (out_fs / rec.fs)).astype(np.int64)
    sample = np.clip(sample, 0, signal.size - 1)
    return Record(
        name=name, signal=signal, fs=out_fs, ann_sample=sample, ann_symbol=rec.ann_symbol, lead=lead
    )


def read_wfdb(
    path: str | os.PathLike[str],
    *,
    lead: str = LEAD,
    expect_fs: float | None = None,
    annotations: bool = True,
) -> Record:
    """Read one lead (by name) of the WFDB record at ``path`` (no extension), at its own rate.

    The checks of ``read_record`` without its MIT-BIH name check and allow-list: for
    records outside the database (``ecgnas predict``); MIT-BIH code reads through
    ``read_record``. ``annotations=False`` skips ``<path>.atr`` and leaves ``ann_sample``
    and ``ann_symbol`` empty.

    Raises ``DataError`` for: a missing ``.hea`` or signal file (or ``.atr`` when
    ``annotations``), a signal file shorter than its header says, a signal checksum that
    does not match the header, no lead named ``lead``, invalid samples in that lead, an
    unreadable or corrupt ``.atr``, or a rate other than ``expect_fs`` when given.
    """
    with quiet_wfdb():
        import wfdb

    base = Path(path)
    name, directory = base.name, base.parent
    if not (directory / f"{name}.hea").is_file():
        raise DataError(f"no WFDB record at {base} (missing {name}.hea)")
    if annotations and not (directory / f"{name}.atr").is_file():
        raise DataError(f"record {name}: missing {name}.atr in {directory}")
    try:
        with quiet_wfdb():
            header = wfdb.rdheader(str(base))
    except Exception as exc:  # wfdb raises bare errors on bad headers
        raise DataError(f"record {name}: cannot read {name}.hea ({exc})") from exc
    sig_names = list(header.sig_name or [])
    if lead not in sig_names:
        raise DataError(f"record {name} has no {lead} lead (leads: {', '.join(sig_names)})")
    fs = float(header.fs)
    if expect_fs is not None and fs != expect_fs:
        raise DataError(
            f"record {name} is sampled at {fs:g} Hz, expected {expect_fs:g} Hz "
            "(set a target fs to resample)"
        )
    _check_dat_sizes(name, directory, header)
    channel = sig_names.index(lead)
    try:
        with quiet_wfdb():
            rec = wfdb.rdrecord(str(base), channels=[channel], physical=False)
        digital = np.asarray(rec.d_signal[:, 0], dtype=np.int64)
        signal = np.asarray(rec.dac()[:, 0], dtype=np.float64)
    except Exception as exc:
        raise DataError(f"record {name}: cannot read {name}.dat ({exc})") from exc
    checksum = (header.checksum or [None] * len(sig_names))[channel]
    if checksum is not None and (int(digital.sum()) - int(checksum)) % 65536 != 0:
        raise DataError(f"record {name}: {lead} checksum does not match the header (corrupt .dat)")
    if not np.isfinite(signal).all():
        raise DataError(f"record {name}: {lead} has invalid (NaN) samples")
    if annotations:
        sample, symbols = _read_atr(name, directory)
    else:
        sample, symbols = np.zeros(0, dtype=np.int64), ()
    return Record(name=name, signal=signal, fs=fs, ann_sample=sample, ann_symbol=symbols, lead=lead)


def source_digest(
    record: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    allowed: Collection[str] | None = None,
) -> str:
    """SHA-256 over the record's ``.hea``, ``.dat`` and ``.atr`` bytes (cache staleness key).

    Raises ``DataError`` for an unknown record or a missing file.
    """
    directory = mitdb_dir(data_dir)
    name = _access(record, directory, allowed)
    _require_files(name, directory, RECORD_EXTENSIONS)
    digest = hashlib.sha256()
    for ext in RECORD_EXTENSIONS:
        digest.update(ext.encode())
        digest.update((directory / f"{name}.{ext}").read_bytes())
    return digest.hexdigest()


def record_class_counts(
    records: Iterable[str],
    data_dir: str | os.PathLike[str] | None = None,
    *,
    allowed: Collection[str] | None = None,
) -> dict[str, np.ndarray]:
    """Annotated AAMI beats per class of each record: ``record -> int64 [5]`` (N,S,V,F,Q).

    Reads annotations only (fast); the input the record-wise split functions expect.
    """
    out: dict[str, np.ndarray] = {}
    for record in records:
        _, symbols = read_annotations(record, data_dir, allowed=allowed)
        y = aami_indices(symbols)
        out[str(record)] = np.bincount(y[y >= 0], minlength=len(AAMI_CLASSES)).astype(np.int64)
    return out


def missing_records(directory: Path) -> list[str]:
    """Records of ``MITDB_RECORDS`` with any of ``.hea``/``.dat``/``.atr`` absent."""
    return [
        r
        for r in MITDB_RECORDS
        if not all((directory / f"{r}.{ext}").is_file() for ext in RECORD_EXTENSIONS)
    ]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksums(directory: str | os.PathLike[str]) -> int:
    """Check every present file listed in ``directory/SHA256SUMS.txt``; return how many.

    Lines are ``<sha256 hex> <name>`` (``sha256sum`` format, ``*name`` accepted). Listed
    files that are absent are skipped (PhysioNet's list covers documentation we do not
    download); the record files themselves are checked for presence by ``missing_records``.
    Returns 0 when there is no ``SHA256SUMS.txt``.

    Raises ``DataError`` naming the file for a mismatch, or naming the line for a malformed
    entry.
    """
    directory = Path(directory)
    sums = directory / CHECKSUM_FILE
    if not sums.is_file():
        return 0
    checked = 0
    for lineno, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{sums}: malformed line {lineno}: {line.strip()[:80]!r}")
        expected, fname = parts[0].lower(), parts[1].strip().lstrip("*")
        path = directory / fname
        if not path.is_file():
            continue
        actual = _sha256_file(path)
        if actual != expected:
            raise DataError(
                f"checksum mismatch for {path} (expected {expected[:12]}..., got {actual[:12]}...)"
            )
        checked += 1
    return checked


@dataclass(frozen=True)
class DownloadReport:
    """What ``download_mitbih`` did."""

    directory: Path
    downloaded: tuple[str, ...]
    verified_files: int


def download_mitbih(data_dir: str | os.PathLike[str] | None = None) -> DownloadReport:
    """Make sure ``<data_dir>/mitdb`` holds all 48 records, then verify checksums.

    Records with a missing file are fetched from PhysioNet with ``wfdb.dl_database`` into a
    temporary folder beside the target and moved in file by file (``os.replace``), so an
    interrupted download never leaves a half-written record in place. ``SHA256SUMS.txt`` and
    ``RECORDS`` are fetched too when absent. Then every present file listed in
    ``SHA256SUMS.txt`` is verified.

    Raises ``DataError`` when the download fails or a checksum does not match.
    """
    dest = mitdb_dir(data_dir)
    missing = missing_records(dest)
    if missing:
        with quiet_wfdb():
            import wfdb

        dest.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".mitdb-download-", dir=dest.parent))
        log.info("downloading %d MIT-BIH records into %s", len(missing), dest)
        try:
            wfdb.dl_database(MITDB_SUBDIR, str(tmp), records=missing)
            extras = [f for f in (CHECKSUM_FILE, "RECORDS") if not (dest / f).is_file()]
            if extras:
                try:
                    wfdb.dl_files(MITDB_SUBDIR, str(tmp), extras)
                except Exception as exc:  # optional files: verification is skipped without them
                    log.warning("could not fetch %s: %s", ", ".join(extras), exc)
            for path in sorted(tmp.rglob("*")):
                if path.is_file():
                    os.replace(path, dest / path.name)
        except Exception as exc:
            raise DataError(f"download of MIT-BIH (mitdb) from PhysioNet failed: {exc}") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        still = missing_records(dest)
        if still:
            raise DataError(f"download incomplete: records {', '.join(still)} still missing")
    verified = verify_checksums(dest)
    if verified == 0:
        log.warning("no %s in %s: files were not verified", CHECKSUM_FILE, dest)
    return DownloadReport(directory=dest, downloaded=tuple(missing), verified_files=verified)
