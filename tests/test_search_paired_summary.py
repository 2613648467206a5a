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


def _curve_run(method: str, seed: int, curve: list[float]) -> dict:
    return _run(method, seed, curve[-1], None) | {"curve_signal": curve}


def test_evaluations_to_reach_a_baselines_final_mean_with_a_bootstrap_interval() -> None:
    """The method's mean curve against the baseline's mean final value, paired by seed:
    the point figure, a bootstrap interval that holds it, and the share of draws at or
    under half the budget; runs without curves give no such line."""
    script = load_script(SCRIPT)
    budget = 10
    # the method climbs one unit per evaluation from a seed-dependent start
    mine = [[float(s % 3 + k) for k in range(budget)] for s in range(8)]
    rea = [[0.0] * (budget - 1) + [4.0 + s % 2] for s in range(8)]  # final mean 4.5
    point, lo, hi, share = script.reach_interval(mine, rea, n_boot=300)
    # mean curve 0.875 + k (starts 0, 1, 2, 0, 1, 2, 0, 1): reaches 4.5 at k = 4, evaluation 5
    assert point == 5 and lo <= point <= hi <= budget + 1
    assert 0.0 < share <= 1.0
    # a baseline never reached: every draw counts as budget + 1
    never = [[0.0] * (budget - 1) + [99.0] for _ in range(8)]
    assert script.reach_interval(mine, never, n_boot=50) == (None, 11.0, 11.0, 0.0)
    runs = [_curve_run("dcl_enas", s, c) for s, c in enumerate(mine)]
    runs += [_curve_run("rea", s, c) for s, c in enumerate(rea)]
    lines = script.summarise({"runs": runs}, "dcl_enas", [5], n_boot=300)
    assert lines[-2].startswith("dcl_enas reaches the final mean of | seeds")
    assert lines[-1].startswith(f"rea | 8 | 5 | [{lo:.0f}, {hi:.0f}] |")
    bare = [_run("dcl_enas", s, 1.0, None) for s in range(3)] + [_run("rea", 0, 1.0, None)]
    assert not any("reaches" in line for line in script.summarise({"runs": bare}, "dcl_enas", [5]))


def test_pooled_reports_are_read_as_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    script = load_script(SCRIPT)
    first = [_run(m, s, 94.0, 10) for m in ("dcl_enas", "rea") for s in range(3)]
    second = [_run(m, s, 94.0, 10) for m in ("dcl_enas", "rea") for s in range(3, 6)]
    paths = []
    for i, runs in enumerate((first, second, first)):
        paths.append(tmp_path / f"r{i}.json")
        paths[-1].write_text(json.dumps({"runs": runs}))
    script.main(["--pool", str(paths[0]), str(paths[1])])
    out = capsys.readouterr().out
    assert out.count("## ") == 1 and "rea | final_signal | +0.0000 | 0/6/0" in out
    with pytest.raises(SystemExit, match="disjoint seeds"):
        script.main(["--pool", str(paths[0]), str(paths[2])])
