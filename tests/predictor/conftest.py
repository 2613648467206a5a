"""Fixtures of the predictor tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ecgnas.testing import one_torch_thread


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread: the CI machine has 2 shared cores (oversubscription is slow)."""
    with one_torch_thread():
        yield
