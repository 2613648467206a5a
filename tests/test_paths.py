"""Data and cache directories: the flag beats the environment variable beats the user cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecgnas import paths


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in (paths.DATA_ENV, paths.CACHE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path


def test_user_cache_follows_xdg_then_home(clean_env: Path, monkeypatch) -> None:
    assert paths.user_cache_dir() == clean_env / "xdg" / "ecgnas"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(clean_env / "home"))
    assert paths.user_cache_dir() == clean_env / "home" / ".cache" / "ecgnas"


def test_data_dir_precedence(clean_env: Path, monkeypatch) -> None:
    assert paths.data_dir() == clean_env / "xdg" / "ecgnas" / "data"
    monkeypatch.setenv(paths.DATA_ENV, str(clean_env / "env"))
    assert paths.data_dir() == clean_env / "env"
    assert paths.data_dir("") == clean_env / "env"  # an empty flag is no flag
    assert paths.data_dir(clean_env / "flag") == clean_env / "flag"
    assert paths.data_dir("~/x") == Path.home() / "x"


def test_cache_dir_precedence(clean_env: Path, monkeypatch) -> None:
    assert paths.cache_dir() == clean_env / "xdg" / "ecgnas"
    monkeypatch.setenv(paths.CACHE_ENV, str(clean_env / "env"))
    assert paths.cache_dir() == clean_env / "env"
    assert paths.cache_dir(str(clean_env / "flag")) == clean_env / "flag"
    # the two variables are independent
    assert paths.data_dir() == clean_env / "xdg" / "ecgnas" / "data"
