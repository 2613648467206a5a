from __future__ import annotations

import subprocess
import sys

import pytest

from ecgnas.cli import main
from ecgnas.errors import EcgnasError


def test_bad_flag_is_one_line_exit_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ecgnas", "--no-such-flag"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "No such option" in proc.stderr


def test_user_error_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import ecgnas.cli as cli

    def boom(*args, **kwargs):
        raise EcgnasError("record 999 not found in /nowhere")

    monkeypatch.setattr(cli, "app", boom)
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: record 999 not found in /nowhere\n"
