"""Shared fixtures. Real-data tests read ``$ECGNAS_DATA_DIR`` (CI: ``../shared/data``).

When ``ECGNAS_REQUIRE_DATA=1`` (set by ``.ci/run``) a missing data directory fails the test
instead of skipping it, so CI cannot go green without having run them.

The helpers behind these fixtures, and the toy benchmark, are in ``ecgnas.testing``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecgnas.testing import real_data_dir as _real_data_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _children_import_this_checkout() -> Iterator[None]:
    """Python processes the tests start (the CLI, workers, a run that kills itself) import
    the ``ecgnas`` under test, this checkout, even where another checkout is installed."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(
            "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        )
        yield


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
    return _need(_real_data_dir(REPO))


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


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """torch on one thread for the test (``ecgnas.testing.one_torch_thread``)."""
    from ecgnas.testing import one_torch_thread

    with one_torch_thread():
        yield


def _link_real_records(src: Path, dest: Path, skip: tuple[str, ...] = ()) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for path in src.iterdir():
        if path.name not in skip:
            (dest / path.name).symlink_to(path)


@pytest.fixture
def link_real_records():
    """``link(src, dest, skip=())``: symlink the files of a real ``mitdb`` folder into
    ``dest``, except the names in ``skip`` (no data is copied)."""
    return _link_real_records


@pytest.fixture(scope="module")
def prepared(real_data_dir: Path, shared_cache_dir: Path) -> dict[str, list[Any]]:
    """DS1 and DS2 prepared from the real data (``prepare_records``), through the shared cache."""
    from ecgnas.data.dataset import prepare_records
    from ecgnas.data.splits import DS1, DS2

    return {
        name: prepare_records(recs, data_dir=real_data_dir, cache_dir=shared_cache_dir)
        for name, recs in (("DS1", DS1), ("DS2", DS2))
    }
