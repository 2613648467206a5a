"""``--quiet`` silences the INFO log as well as the progress lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _benchmark(tmp_path: Path, data_dir: Path, *flags: str) -> str:
    argv = [
        sys.executable, "-m", "ecgnas", "benchmark", "nb201", "--dataset", "cifar10",
        "--seeds", "2", "--budget", "3", "--methods", "random", "--jobs", "1",
        "--out", str(tmp_path / "reports"), "--data-dir", str(data_dir), *flags,
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


@pytest.mark.realdata
def test_quiet_silences_info_logging(tmp_path: Path, nasbench_dir: Path) -> None:
    loud = _benchmark(tmp_path, nasbench_dir.parent)
    assert "INFO ecgnas" in loud  # one line per run without --quiet
    assert "runs, " in loud  # and a progress line
    quiet = _benchmark(tmp_path, nasbench_dir.parent, "--quiet")
    assert "INFO" not in quiet
    assert "runs, " not in quiet


def test_quiet_logging_raises_the_root_level() -> None:
    import logging

    from ecgnas.cli._common import quiet_logging

    root = logging.getLogger()
    before = root.level
    try:
        root.setLevel(logging.INFO)
        quiet_logging(False)
        assert root.level == logging.INFO
        quiet_logging(True)
        assert root.level == logging.WARNING
    finally:
        root.setLevel(before)
