"""User errors: one base class, and ``check_fields`` naming unknown keys."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ecgnas.errors import ConfigError, DataError, EcgnasError, RunError, check_fields


@dataclass
class _Two:
    a: int = 1
    b: int = 2


def test_every_user_error_is_an_ecgnas_error() -> None:
    assert all(issubclass(e, EcgnasError) for e in (ConfigError, DataError, RunError))


def test_check_fields_passes_known_keys_and_names_unknown_ones() -> None:
    obj = {"a": 5}
    out = check_fields(_Two, obj, "thing key(s)")
    assert out == {"a": 5} and out is not obj
    with pytest.raises(ConfigError, match=r"^unknown thing key\(s\): c, d$"):
        check_fields(_Two, {"a": 1, "d": 0, "c": 0}, "thing key(s)")
