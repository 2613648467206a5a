"""``ecgnas data``: bad input reaches the user as one line, ``error: ...``, exit code 2, and
no partial cache; ``download`` verifies a present copy; ``info`` prints the real counts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ecgnas.cli import main
from ecgnas.data.mitbih import read_record
from ecgnas.data.preprocess import PreprocessConfig

pytestmark = pytest.mark.filterwarnings("ignore:.*inplace keyword")


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def _assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err


def _no_partial_cache(cache: Path, bad_record: str) -> None:
    assert not list(cache.rglob("*.tmp"))
    assert not list(cache.rglob(f"{bad_record}.npz"))


def test_missing_atr(mitdb_dir, tmp_path, capsys, link_real_records) -> None:
    data = tmp_path / "data"
    link_real_records(mitdb_dir, data / "mitdb", skip=("101.atr",))
    code, _, err = _run(
        ["data", "info", "mitbih", "--data-dir", str(data), "--cache-dir", str(tmp_path / "c")],
        capsys,
    )
    _assert_one_line_error(code, err, "record 101: missing 101.atr")
    _no_partial_cache(tmp_path / "c", "101")


def test_truncated_dat(mitdb_dir, tmp_path, capsys, link_real_records) -> None:
    data = tmp_path / "data"
    link_real_records(mitdb_dir, data / "mitdb", skip=("101.dat",))
    (data / "mitdb" / "101.dat").write_bytes((mitdb_dir / "101.dat").read_bytes()[:1_000_000])
    code, _, err = _run(
        ["data", "info", "mitbih", "--data-dir", str(data), "--cache-dir", str(tmp_path / "c")],
        capsys,
    )
    _assert_one_line_error(code, err, "record 101: 101.dat is truncated", "1950000")
    _no_partial_cache(tmp_path / "c", "101")


def test_corrupt_dat_fails_the_header_checksum(mitdb_dir, tmp_path, link_real_records) -> None:
    from ecgnas.errors import DataError

    data = tmp_path / "data"
    link_real_records(mitdb_dir, data / "mitdb", skip=("101.dat",))
    raw = bytearray((mitdb_dir / "101.dat").read_bytes())
    raw[600_000] ^= 0x0F
    (data / "mitdb" / "101.dat").write_bytes(bytes(raw))
    with pytest.raises(DataError, match="checksum does not match"):
        read_record("101", data)


def test_unknown_record(real_data_dir, tmp_path, capsys) -> None:
    code, _, err = _run(
        [
            "data",
            "record",
            "mitbih",
            "999",
            "--data-dir",
            str(real_data_dir),
            "--cache-dir",
            str(tmp_path),
        ],
        capsys,
    )
    _assert_one_line_error(code, err, "unknown MIT-BIH record '999'")
    assert not any(tmp_path.iterdir())


def test_unknown_dataset(capsys) -> None:
    code, _, err = _run(["data", "info", "ptbxl"], capsys)
    _assert_one_line_error(code, err, "unknown dataset 'ptbxl'")


def test_empty_directory_in_a_subprocess(tmp_path) -> None:
    (tmp_path / "empty" / "mitdb").mkdir(parents=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ecgnas",
            "data",
            "info",
            "mitbih",
            "--data-dir",
            str(tmp_path / "empty"),
            "--cache-dir",
            str(tmp_path / "c"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"error: no MIT-BIH records in {tmp_path / 'empty' / 'mitdb'}")
    assert not (tmp_path / "c").exists()


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


@pytest.mark.realdata
def test_cli_info_prints_the_counts(real_data_dir, shared_cache_dir, prepared, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "data",
                "info",
                "mitbih",
                "--data-dir",
                str(real_data_dir),
                "--cache-dir",
                str(shared_cache_dir),
            ]
        )
    out = capsys.readouterr().out
    assert exc.value.code == 0
    assert "  annotated       45,866     944   3,788     415       8   51,021" in out
    assert "  kept            44,240   1,837   3,220     388       7   49,692" in out
    assert "  dropped: edge       18       0       0       1       0       19" in out
    assert "PACED (excluded): 4 records (102 104 107 217)" in out
    assert f"preprocessing config hash: {PreprocessConfig().digest()}" in out
