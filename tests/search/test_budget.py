"""``Budget``: validation, device days, ``allows`` / ``stop_reason``, JSON round trip."""

from __future__ import annotations

import pytest

from ecgnas.errors import ConfigError
from ecgnas.search import (
    Budget,
)


def test_budget_validation_and_device_days() -> None:
    with pytest.raises(ConfigError):
        Budget()
    with pytest.raises(ConfigError):
        Budget(max_evals=0)
    with pytest.raises(ConfigError):
        Budget(max_seconds=-1.0)
    b = Budget.device_days(0.5, devices=4)
    assert b.max_seconds == 0.5 * 86_400 * 4 and b.max_evals is None
    assert b.allows(10_000, 172_799.0) and not b.allows(0, 172_800.0)
    assert "device seconds" in b.stop_reason(0, 172_800.0)
    e = Budget(max_evals=5, max_seconds=100.0)
    assert e.allows(4, 99.0) and not e.allows(5, 0.0) and not e.allows(0, 100.0)
    assert e.stop_reason(4, 99.0) == ""
    assert Budget.from_json(e.to_json()) == e
