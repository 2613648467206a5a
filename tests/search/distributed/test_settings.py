"""``DistributedSettings``: defaults are valid, bad values are one-line ``ConfigError``."""

from __future__ import annotations

import pytest

from ecgnas.errors import ConfigError
from ecgnas.search.distributed._settings import DistributedSettings


def test_defaults_and_a_fast_setting_are_valid() -> None:
    s = DistributedSettings()
    assert s.grace_s >= 2 * s.heartbeat_s and s.max_attempts >= 1
    assert DistributedSettings(heartbeat_s=1.0, grace_s=2.0, max_worker_restarts=0).grace_s == 2.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"heartbeat_s": 0.0}, "heartbeat_s must be positive"),
        ({"poll_s": -1.0}, "poll_s must be positive"),
        ({"storage_timeout_s": float("nan")}, "storage_timeout_s must be positive"),
        ({"heartbeat_s": 10.0, "grace_s": 19.0}, "grace_s .* at least twice heartbeat_s"),
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
        ({"max_worker_restarts": -1}, "max_worker_restarts must be >= 0"),
    ],
)
def test_bad_settings(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DistributedSettings(**kwargs)
