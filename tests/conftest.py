"""Shared fixtures. Real-data tests read ``$ECGNAS_DATA_DIR`` (CI: ``../shared/data``).

When ``ECGNAS_REQUIRE_DATA=1`` (set by ``.ci/run``) a missing data directory fails the test
instead of skipping it, so CI cannot go green without having run them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _real_data_dir() -> Path:
    """``$ECGNAS_DATA_DIR``, else ``../shared/data`` beside the repo, else ecgnas' default."""
    env = os.environ.get("ECGNAS_DATA_DIR")
    if env:
        return Path(env)
    shared = REPO.parent / "shared" / "data"
    if shared.exists():
        return shared
    from ecgnas.paths import data_dir

    return data_dir()


def _need(path: Path) -> Path:
    if not path.exists():
        msg = f"real data not found at {path} (set ECGNAS_DATA_DIR)"
        if os.environ.get("ECGNAS_REQUIRE_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real data directory (``mitdb/``, ``nasbench/``)."""
    return _need(_real_data_dir())


@pytest.fixture(scope="session")
def mitdb_dir(real_data_dir: Path) -> Path:
    return _need(real_data_dir / "mitdb")


@pytest.fixture(scope="session")
def nasbench_dir(real_data_dir: Path) -> Path:
    return _need(real_data_dir / "nasbench")


@pytest.fixture(scope="session")
def shared_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache directory kept for the session: ``$ECGNAS_CACHE_DIR`` or a fresh temp dir."""
    env = os.environ.get("ECGNAS_CACHE_DIR")
    return Path(env) if env else tmp_path_factory.mktemp("ecgnas-cache")
