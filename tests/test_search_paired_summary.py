"""``scripts/search_paired_summary.py`` on a made-up report: shares found by k and the
direction of both one-sided tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecgnas.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "search_paired_summary.py"


def _run(method: str, seed: int, test: float, found_at: int | None) -> dict:
    return {"method": method, "seed": seed, "final_signal": test - 2.0, "final_test": test,
            "found_at": found_at}  # fmt: skip


def test_shares_and_one_sided_tests_point_the_right_way() -> None:
    script = load_script(SCRIPT)
    runs = [_run("dcl_enas", s, 94.0 + 0.01 * s, 30 if s % 2 else 60) for s in range(12)]
    runs += [_run("rea", s, 93.0 + 0.02 * s, None) for s in range(12)]
    lines = script.summarise({"runs": runs}, "dcl_enas", [40, 100])
    assert "dcl_enas | 0.50 | 1.00 | 94.055" in lines
    assert "rea | 0.00 | 0.00 | 93.110" in lines
    test_row = next(line for line in lines if line.startswith("rea | final_test"))
    _, _, diff, wtl, ahead, behind = (part.strip() for part in test_row.split("|"))
    assert wtl == "12/0/0" and float(diff) > 0 and float(ahead) < 0.01 < float(behind)
    with pytest.raises(SystemExit, match="no npenas runs"):
        script.summarise({"runs": runs}, "npenas", [40])
