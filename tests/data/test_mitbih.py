"""MIT-BIH files: checksums and download bookkeeping (offline), WFDB reading (MLII by
name, resampling, the ``allowed`` guard), ``read_wfdb`` for records outside the database."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from ecgnas.data import mitbih
from ecgnas.data.dataset import load_beats
from ecgnas.data.labels import AAMI_CLASSES
from ecgnas.data.mitbih import (
    download_mitbih,
    missing_records,
    read_annotations,
    read_record,
    read_wfdb,
    record_class_counts,
    verify_checksums,
)
from ecgnas.data.splits import DS1
from ecgnas.errors import ConfigError, DataError


def _write_sums(directory: Path, files: dict[str, bytes], wrong: str | None = None) -> None:
    lines = []
    for name, content in files.items():
        (directory / name).write_bytes(content)
        digest = hashlib.sha256(content).hexdigest()
        if name == wrong:
            digest = hashlib.sha256(b"something else").hexdigest()
        lines.append(f"{digest}  {name}")
    lines.append(f"{'0' * 64}  mitdbdir/not-downloaded.htm")  # listed but absent: skipped
    (directory / "SHA256SUMS.txt").write_text("\n".join(lines) + "\n")


def _fake_dl_database(calls: list[list[str]]):
    def fake(db_dir, dl_dir, records="all", **kwargs):
        assert db_dir == "mitdb"
        calls.append(list(records))
        for r in records:
            for ext in ("hea", "dat", "atr"):
                (Path(dl_dir) / f"{r}.{ext}").write_bytes(f"{r}.{ext}".encode())

    return fake


def mitbih_class(symbol: str) -> str:
    from ecgnas.data.labels import AAMI_MAP

    return AAMI_MAP[symbol]


def _copy(synthetic_data, dest: Path, record: str = "100") -> Path:
    """The synthetic record's files in ``dest`` (any directory, not a MIT-BIH data dir)."""
    root, _ = synthetic_data
    dest.mkdir(parents=True, exist_ok=True)
    for ext in ("hea", "dat", "atr"):
        (dest / f"{record}.{ext}").write_bytes((root / "mitdb" / f"{record}.{ext}").read_bytes())
    return dest / record


def test_verify_good_directory(tmp_path) -> None:
    _write_sums(tmp_path, {"100.hea": b"header\r\n", "100.dat": b"\x00\x01" * 99})
    assert verify_checksums(tmp_path) == 2


def test_verify_wrong_hash_names_the_file(tmp_path) -> None:
    _write_sums(tmp_path, {"100.hea": b"header", "100.atr": b"ann"}, wrong="100.atr")
    with pytest.raises(DataError, match=r"checksum mismatch for .*100\.atr"):
        verify_checksums(tmp_path)


def test_verify_malformed_line_and_absent_file(tmp_path) -> None:
    assert verify_checksums(tmp_path) == 0
    (tmp_path / "SHA256SUMS.txt").write_text("nonsense\n")
    with pytest.raises(DataError, match="malformed line 1"):
        verify_checksums(tmp_path)


def test_verify_the_real_copy(mitdb_dir) -> None:
    assert verify_checksums(mitdb_dir) == 146


def test_download_fetches_only_missing_records(tmp_path, monkeypatch) -> None:
    import wfdb

    dest = tmp_path / "mitdb"
    dest.mkdir()
    for r in mitbih.MITDB_RECORDS[2:]:
        for ext in ("hea", "dat", "atr"):
            (dest / f"{r}.{ext}").write_bytes(b"x")
    calls: list[list[str]] = []
    monkeypatch.setattr(wfdb, "dl_database", _fake_dl_database(calls))
    monkeypatch.setattr(wfdb, "dl_files", lambda *a, **k: None)
    report = download_mitbih(tmp_path)
    assert calls == [["100", "101"]]
    assert report.downloaded == ("100", "101") and report.verified_files == 0
    assert missing_records(dest) == []
    assert (dest / "101.atr").read_bytes() == b"101.atr"
    assert [p.name for p in tmp_path.iterdir()] == ["mitdb"]  # temp folder removed


def test_failed_download_leaves_nothing_half_written(tmp_path, monkeypatch) -> None:
    import wfdb

    def broken(db_dir, dl_dir, records="all", **kwargs):
        (Path(dl_dir) / "100.dat").write_bytes(b"half")
        raise ConnectionError("network unreachable")

    monkeypatch.setattr(wfdb, "dl_database", broken)
    with pytest.raises(DataError, match="download of MIT-BIH .* failed: network unreachable"):
        download_mitbih(tmp_path)
    assert list((tmp_path / "mitdb").iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["mitdb"]


@pytest.mark.filterwarnings("ignore:.*inplace keyword")
def test_read_record_selects_mlii_by_name(synthetic_data) -> None:
    root, records = synthetic_data
    rec = read_record("100", root)
    assert rec.lead == "MLII" and rec.fs == 360.0
    assert rec.signal.shape == (40 * 360,)
    # MLII peaks at the annotated beats; the decoy V5 channel peaks 40 samples later
    inner = records["100"].beat_samples[1:-1]
    around = rec.signal[inner[:, None] + np.arange(-20, 21)]
    assert np.all(np.argmax(around, axis=1) == 20)
    assert rec.ann_sample.tolist() == records["100"].all_samples.tolist()
    assert rec.ann_symbol == records["100"].all_symbols


@pytest.mark.filterwarnings("ignore:.*inplace keyword")
def test_record_class_counts_from_annotations(synthetic_data) -> None:
    root, records = synthetic_data
    counts = record_class_counts(["100"], root)["100"]
    want = np.bincount(
        [AAMI_CLASSES.index(mitbih_class(s)) for s in records["100"].beat_symbols], minlength=5
    )
    assert counts.tolist() == want.tolist()
    samples, symbols = read_annotations("100", root)
    assert "+" in symbols and samples.dtype == np.int64


@pytest.mark.filterwarnings("ignore:.*inplace keyword")
def test_allowed_guard_and_access_hook(synthetic_data, tmp_path, monkeypatch) -> None:
    root, _ = synthetic_data
    touched: list[str] = []
    monkeypatch.setattr(
        mitbih, "on_record_access", lambda record, directory: touched.append(record)
    )
    load_beats(["101"], data_dir=root, cache_dir=tmp_path, allowed=DS1)
    load_beats(["101"], data_dir=root, cache_dir=tmp_path, allowed=DS1)  # cache hit
    assert touched and set(touched) == {"101"}
    touched.clear()
    with pytest.raises(ConfigError, match="record 100 is not in the allowed"):
        load_beats(["101", "100"], data_dir=root, cache_dir=tmp_path, allowed=DS1)
    assert touched == []  # checked before any file is opened
    with pytest.raises(ConfigError, match="not in the allowed"):
        read_record("100", root, allowed=DS1)
    assert touched == []


@pytest.mark.filterwarnings("ignore:.*inplace keyword")
def test_unexpected_rate_is_a_data_error(tmp_path) -> None:
    import wfdb

    directory = tmp_path / "mitdb"
    directory.mkdir()
    sig = np.sin(np.arange(5000) / 20.0)[:, None]
    wfdb.wrsamp(
        "105",
        fs=250,
        units=["mV"],
        sig_name=["MLII"],
        p_signal=sig,
        fmt=["16"],
        write_dir=str(directory),
    )
    wfdb.wrann("105", "atr", np.array([100, 400]), symbol=["N", "N"], write_dir=str(directory))
    with pytest.raises(DataError, match="250 Hz, expected 360 Hz"):
        read_record("105", tmp_path)
    assert read_record("105", tmp_path, target_fs=360.0).fs == 360.0


@pytest.mark.filterwarnings("ignore:.*inplace keyword")
def test_no_mlii_lead(tmp_path) -> None:
    import wfdb

    directory = tmp_path / "mitdb"
    directory.mkdir()
    sig = np.sin(np.arange(5000) / 20.0)[:, None]
    wfdb.wrsamp(
        "102",
        fs=360,
        units=["mV"],
        sig_name=["V5"],
        p_signal=sig,
        fmt=["16"],
        write_dir=str(directory),
    )
    wfdb.wrann("102", "atr", np.array([100, 400]), symbol=["N", "N"], write_dir=str(directory))
    with pytest.raises(DataError, match="record 102 has no MLII lead \\(leads: V5\\)"):
        read_record("102", tmp_path)


def test_read_wfdb_reads_a_record_outside_the_database_like_read_record(
    synthetic_data, tmp_path: Path
) -> None:
    root, _ = synthetic_data
    path = _copy(synthetic_data, tmp_path / "patients")
    rec = read_wfdb(path)
    want = read_record("100", root)
    assert rec.name == "100" and rec.fs == 360.0 and rec.lead == "MLII"
    np.testing.assert_array_equal(rec.signal, want.signal)
    np.testing.assert_array_equal(rec.ann_sample, want.ann_sample)
    assert rec.ann_symbol == want.ann_symbol
    bare = read_wfdb(path, annotations=False)
    assert bare.ann_sample.size == 0 and bare.ann_symbol == ()
    np.testing.assert_array_equal(bare.signal, want.signal)


def test_read_wfdb_keeps_the_readers_checks(synthetic_data, tmp_path: Path) -> None:
    p1 = _copy(synthetic_data, tmp_path / "a")
    with pytest.raises(DataError, match="no WFDB record"):
        read_wfdb(tmp_path / "nothing")
    with pytest.raises(DataError, match="no V1 lead"):
        read_wfdb(p1, lead="V1")
    with pytest.raises(DataError, match="expected 250 Hz"):
        read_wfdb(p1, expect_fs=250.0)
    p2 = _copy(synthetic_data, tmp_path / "b")
    (tmp_path / "b" / "100.atr").unlink()
    with pytest.raises(DataError, match="missing 100.atr"):
        read_wfdb(p2)
    assert read_wfdb(p2, annotations=False).signal.size > 0
    dat = tmp_path / "a" / "100.dat"
    dat.write_bytes(dat.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated"):
        read_wfdb(p1)


@pytest.mark.realdata
def test_record_114_uses_mlii_not_channel_0(real_data_dir) -> None:
    import wfdb

    rec = read_record("114", real_data_dir)
    raw = wfdb.rdrecord(str(real_data_dir / "mitdb" / "114"))
    assert raw.sig_name == ["V5", "MLII"]
    np.testing.assert_allclose(rec.signal, raw.p_signal[:, 1])
