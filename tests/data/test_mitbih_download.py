"""Checksum verification and the download bookkeeping, offline (no network)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ecgnas.cli import main
from ecgnas.data import mitbih
from ecgnas.data.mitbih import download_mitbih, missing_records, verify_checksums
from ecgnas.errors import DataError


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


def _fake_dl_database(calls: list[list[str]]):
    def fake(db_dir, dl_dir, records="all", **kwargs):
        assert db_dir == "mitdb"
        calls.append(list(records))
        for r in records:
            for ext in ("hea", "dat", "atr"):
                (Path(dl_dir) / f"{r}.{ext}").write_bytes(f"{r}.{ext}".encode())

    return fake


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


def test_cli_download_verifies_present_copy(tmp_path, capsys, link_real_records, mitdb_dir) -> None:
    link_real_records(mitdb_dir, tmp_path / "mitdb", skip=("SHA256SUMS.txt",))
    sums = (mitdb_dir / "SHA256SUMS.txt").read_text()
    bad = sums.replace(sums[:64], "f" * 64, 1)  # first line is 100.atr
    (tmp_path / "mitdb" / "SHA256SUMS.txt").write_text(bad)
    with pytest.raises(SystemExit) as exc:
        main(["data", "download", "mitbih", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert err.startswith("error: checksum mismatch for ") and "100.atr" in err

    (tmp_path / "mitdb" / "SHA256SUMS.txt").write_text(sums)
    with pytest.raises(SystemExit) as exc:
        main(["data", "download", "mitbih", "--data-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    assert "all 48 records present" in out and "verified 146 files" in out
