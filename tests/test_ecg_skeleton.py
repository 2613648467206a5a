"""``scripts/ecg_skeleton.py``: per-rung means, S Se / +P from the confusion matrix, the
seed-paired differences against the references, and the per-record S recall. Synthetic rows
with known answers; nothing trains."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ecgnas.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ecg_skeleton.py"
REF = "manual:0,0,0,0,0,0"
CELL = "ecgjoint:0,0,0,2,0,0,0,0,0,1,0,1,1"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script(SCRIPT)


def _row(arch: str, fidelity: str, seed: int, s_hits: int, macro: float) -> dict[str, Any]:
    """A run with 10 S beats of which ``s_hits`` are called S (the rest N) and 5 N beats
    called S; record "209" holds the S beats, record "201" the false S calls."""
    confusion = [[85, 5, 0, 0], [10 - s_hits, s_hits, 0, 0], [0, 0, 10, 0], [0, 0, 0, 2]]
    return {
        "arch": arch,
        "fidelity": fidelity,
        "seed": seed,
        "macro_f1": macro,
        "signals": {"macro_f1_nsv": macro + 0.1},
        "f1": {"N": 0.9, "S": s_hits / 20, "V": 1.0, "F": None},
        "confusion": confusion,
        "s_records": {"209": [10, s_hits, 0], "201": [0, 0, 5]},
    }


ROWS = [
    _row(REF, "full", 0, 6, 0.50),
    _row(REF, "full", 1, 8, 0.60),
    _row(CELL, "full", 0, 2, 0.45),
    _row(CELL, "full", 1, 4, 0.51),
    _row(CELL, "full", 2, 4, 0.70),  # no reference run under seed 2: not paired
    _row(CELL, "full_mph", 0, 5, 0.55),  # the same cell network with another skeleton
    _row(CELL, "full_mph", 2, 7, 0.80),
]
PARAMS = {(REF, "full"): 3616, (CELL, "full"): 900, (CELL, "full_mph"): 950}


def test_means_rates_and_paired_differences(script: ModuleType) -> None:
    summary = script.summarise(ROWS, refs=(REF,), min_s=5, params=PARAMS)
    rungs = {(r["arch"], r["fidelity"]): r for r in summary["rungs"]}
    ref, cell, mph = rungs[REF, "full"], rungs[CELL, "full"], rungs[CELL, "full_mph"]
    assert ref["seeds"] == [0, 1] and cell["seeds"] == [0, 1, 2]
    assert ref["mean"]["S_se"] == pytest.approx(0.7)  # (6 + 8) / 20
    assert ref["mean"]["S_ppv"] == pytest.approx((6 / 11 + 8 / 13) / 2)
    assert cell["mean"]["F_f1"] == 0.0  # a class without an F1 counts as 0
    assert cell["params"] == 900 and cell["recipe"] == "r3"
    assert ref["paired"] == {}  # a reference is not paired with itself
    paired = cell["paired"][REF]
    assert paired["seeds"] == [0, 1]
    assert paired["macro_f1"]["mean"] == pytest.approx(-0.07)  # (-0.05 - 0.09) / 2
    assert paired["S_f1"]["mean"] == pytest.approx(-0.2)  # (2 - 6) / 20 and (4 - 8) / 20
    low, high = paired["macro_f1"]["ci95"]
    assert low < -0.07 < high
    assert paired["S_f1"]["ci95"] == pytest.approx([-0.2, -0.2])  # no spread
    # a recipe variant is paired with its own network under r3 too (seeds 0 and 2)
    assert mph["recipe"] == "r3mph" and cell["vs_own_r3"] is None
    assert mph["vs_own_r3"]["seeds"] == [0, 2]
    assert mph["vs_own_r3"]["S_f1"]["mean"] == pytest.approx(0.15)  # (3 + 3) / 20 / 2
    assert mph["vs_own_r3"]["macro_f1"]["mean"] == pytest.approx(0.1)
    assert mph["vs_own_r3"]["macro_f1"]["ci95"] == pytest.approx([0.1, 0.1])  # no spread
    assert mph["paired"] == {}  # one seed shared with the reference: too few to pair


def test_per_record_recall_and_false_calls(script: ModuleType) -> None:
    records = script.summarise(ROWS, refs=(REF,), min_s=5, params=PARAMS)["records"]
    assert records["s_beats"] == {"209": 10}  # record 201 has no S beats
    assert records["recall"][f"{REF} (full)"]["209"] == pytest.approx(0.7)
    assert records["recall"][f"{CELL} (full)"]["209"] == pytest.approx(10 / 30)
    assert records["false_s_calls"][f"{CELL} (full)"] == {"201": 15, "209": 0}
    assert records["recall"][f"{CELL} (full_mph)"]["209"] == pytest.approx(12 / 20)
    assert script.summarise(ROWS, refs=(REF,), min_s=11, params=PARAMS)["records"]["s_beats"] == {}


def test_cli_writes_both_reports_and_refuses_a_directory_without_runs(
    script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit, match="no ecg_proxy_runs.jsonl"):
        script.main(["--runs", str(tmp_path)])
    old = {k: v for k, v in ROWS[0].items() if k not in ("confusion", "s_records")}
    (tmp_path / script.RUNS_FILE).write_text(json.dumps(old) + "\n")
    with pytest.raises(SystemExit, match="no rows with a confusion matrix"):
        script.main(["--runs", str(tmp_path)])
    (tmp_path / script.RUNS_FILE).write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    monkeypatch.setattr(script, "_params", lambda arch, fidelity: PARAMS[(arch, fidelity)])
    assert script.main(["--runs", str(tmp_path), "--ref", REF, "--min-s", "5"]) == 0
    text = (tmp_path / "ecg_skeleton.md").read_text()
    assert f"| `{CELL}` | r3 | 900 | 0,1,2 |" in text
    assert "| 209 (10 S) |" in text
    assert "## Each network against itself under r3, paired by seed" in text
    assert f"| `{CELL}` | r3mph | 2 | +0.100 [+0.100, +0.100] |" in text
    assert json.loads((tmp_path / "ecg_skeleton.json").read_text())["refs"] == [REF]


def _transfer_row(
    seed: int, top_hits: int, rest_hits: tuple[int, int], s_f1: float
) -> dict[str, Any]:
    return {
        "arch": CELL,
        "fidelity": "full",
        "seed": seed,
        "f1": {"S": s_f1},
        # record "209": 100 S beats; "118" and "201": 10 each; "100": 3 (under min_s)
        "s_records": {
            "209": [100, top_hits, 0],
            "118": [10, rest_hits[0], 1],
            "201": [10, rest_hits[1], 0],
            "100": [3, 3, 0],
        },
    }


def test_s_transfer_separates_the_big_record_from_the_others(script: ModuleType) -> None:
    # S F1 follows record 209 exactly; the others' mean recall runs the other way
    rows = [
        _transfer_row(s, top, rest, f1)
        for s, (top, rest, f1) in enumerate(
            [
                (10, (9, 9), 0.1),
                (20, (8, 8), 0.2),
                (30, (6, 6), 0.3),
                (40, (5, 3), 0.4),
                (50, (2, 2), 0.5),
            ]
        )
    ]
    t = script.s_transfer(rows, min_s=10)
    assert t["top_record"] == "209" and t["top_s_beats"] == 100 and t["s_beats"] == 123
    assert t["rest_records"] == {"118": 10, "201": 10}  # "100" has too few S beats
    assert t["s_f1_vs_top"][0] == pytest.approx(1.0)
    assert t["top_vs_rest"][0] == pytest.approx(-1.0)  # rest means 0.9, 0.8, 0.6, 0.4, 0.2
    assert t["s_f1_vs_rest"][0] == pytest.approx(-1.0)
    assert t["top_recall_range"] == pytest.approx([0.1, 0.5])
    assert t["rest_recall_range"] == pytest.approx([0.2, 0.9])
    # one network and recipe over five seeds: the seed spread is the whole spread
    assert t["top_seed_sd"] == pytest.approx(t["top_sd"]) == pytest.approx(0.1581, abs=1e-4)
    mixed = [
        *rows,
        {**rows[0], "fidelity": "full_mph", "seed": 0},
        {**rows[0], "fidelity": "full_mph", "seed": 1},
    ]
    # a second rung, two equal seeds: the pooled seed variance is the mean of 0.025 and 0
    assert script.s_transfer(mixed)["top_seed_sd"] == pytest.approx(0.0125**0.5)
    assert script.s_transfer(rows[:4]) is None  # under five runs
    only_top = [{**r, "s_records": {"209": r["s_records"]["209"]}} for r in rows]
    assert script.s_transfer(only_top) is None  # no other record to compare with
    # rendered into the report, from summarise over the same rows
    text = script.render(
        {"refs": [], "rungs": [], "records": {"s_beats": {}}, "transfer": t}, "cmd"
    )
    assert "record 209 holds 100 of the 123 S beats" in text and "+1.00" in text


def test_icc1_known_answers(script: ModuleType) -> None:
    assert script.icc1([[0.0, 0.0], [1.0, 1.0]]) == pytest.approx(1.0)  # all between rungs
    assert script.icc1([[0.0, 1.0], [0.0, 1.0]]) == pytest.approx(-1.0)  # all within
    # unequal sizes: the one-way ANOVA mean squares and n0, by hand
    g = [[1.0, 2.0], [3.0, 4.0, 5.0]]
    grand = 3.0
    msb = (2 * (1.5 - grand) ** 2 + 3 * (4.0 - grand) ** 2) / 1
    msw = (0.5 + 2.0) / 3
    n0 = 5 - (4 + 9) / 5
    assert script.icc1(g) == pytest.approx((msb - msw) / (msb + (n0 - 1) * msw))
    assert script.icc1([[1.0, 2.0]]) is None and script.icc1([[1.0], [2.0]]) is None


def test_s_transfer_reports_each_scores_icc(script: ModuleType) -> None:
    # two networks, three seeds each: record 209's recall is pure seed noise (the same three
    # values in both), the other records' recall is the network's (constant within each)
    rows = []
    for arch, rest in (("a", 2), ("b", 8)):
        for seed, top in enumerate((10, 50, 90)):
            row = _transfer_row(seed, top, (rest, rest), top / 100)
            rows.append({**row, "arch": arch})
    t = script.s_transfer(rows, min_s=10)
    assert t["icc_rungs"] == 2
    assert t["icc"]["S recall, record 209 only"] == pytest.approx(-0.5)  # (0 - msw) / (0 + 2 msw)
    assert t["icc"]["S recall, records weighted equally, without 209"] == pytest.approx(1.0)
    assert "macro-F1 (four classes)" not in t["icc"]  # these rows carry no macro-F1
    text = script.render({"refs": [], "rungs": [], "records": {"s_beats": {}}, "transfer": t}, "c")
    assert "| S recall, records weighted equally, without 209 | 1.00 |" in text
