"""``scripts/ecg_shortlist.py``: which archs it scores (the run's top k, every seed, each once
across shards and reruns), which it chooses (best mean over complete seeds) and its errors.
The scoring itself is stubbed: it is ``ecgnas.classifier.proxy.scored_row``, tested with
the ECG table."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ecgnas.benchmarks.ecg_table import table_archs
from ecgnas.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ecg_shortlist.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script(SCRIPT)


# full-recipe macro-F1 by (search rank, seed): rank 2 has the best mean, rank 1 the best seed 0
FULL = {(1, 0): 0.56, (1, 1): 0.50, (2, 0): 0.55, (2, 1): 0.54, (3, 0): 0.52, (3, 1): 0.53}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    archs = table_archs(4, seed=7)
    top = [
        {"arch": a.to_json(), "key": a.key(), "score": 0.5 - 0.01 * i, "index": i}
        for i, a in enumerate(archs)
    ]
    run = tmp_path / "run"
    run.mkdir()
    (run / "result.json").write_text(json.dumps({"top": top}))
    return run


@pytest.fixture
def scored(script: ModuleType, run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[tuple[int, int]] = []
    keys = [t["key"] for t in json.loads((run_dir / "result.json").read_text())["top"]]

    def fake_row(arch: Any, fidelity: str, seed: int, beats: Any) -> dict[str, Any]:
        rank = keys.index(arch.key()) + 1
        calls.append((rank, seed))
        v = FULL[(rank, seed)]
        f1 = {"N": 0.9, "S": v - 0.2, "V": v + 0.3, "F": None}
        row = {"arch": arch.key(), "fidelity": fidelity, "seed": seed, "macro_f1": v, "f1": f1}
        return row | {"seconds": 1.0}

    monkeypatch.setattr(script, "scored_row", fake_row)
    monkeypatch.setattr(script, "BeatCache", lambda: None)
    return calls


def test_scores_the_top_archs_once_and_chooses_the_best_mean(
    script: ModuleType,
    run_dir: Path,
    scored: list[Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    final = tmp_path / "ecg_final.json"
    seeds = [{"ds1_cv_macro_f1": v} for v in (0.53, 0.55, 0.57)]
    final.write_text(json.dumps({"models": {"manual": {"seeds": seeds}}}))
    monkeypatch.setattr(script, "FINAL_JSON", final)
    out = tmp_path / "reports"
    base = ["--run", str(run_dir), "--top", "3", "--seeds", "0", "1", "--out", str(out)]
    assert script.main([*base, "--shard", "0/2"]) == 0
    assert script.main([*base, "--shard", "1/2"]) == 0
    assert sorted(scored) == sorted(FULL)  # each (arch, seed) once over both shards
    summary = json.loads((out / "ecg_shortlist.json").read_text())
    assert summary["chosen"] == summary["archs"][1]["arch"]
    assert [a["rank"] for a in summary["archs"]] == [1, 2, 3]
    second = summary["archs"][1]
    assert second["mean"] == pytest.approx(0.545) and second["sd"] == pytest.approx(0.00707, 1e-3)
    assert second["f1_mean"]["S"] == pytest.approx(0.345) and second["f1_mean"]["F"] == 0.0
    assert summary["references"]["manual"]["mean"] == pytest.approx(0.55)
    md = (out / "ecg_shortlist.md").read_text()
    assert f"**Chosen: `{second['arch']}`**" in md
    assert "| 2 | `" in md and "| 0.5500 | 0.5400 | 0.5450 ± 0.007 |" in md
    assert "- manual: 0.5500 ± 0.020 over 3 seeds" in md

    scored.clear()  # a rerun scores nothing again; report-only reads the rows back
    assert script.main(base) == 0 and scored == []
    assert script.main(["report", *base]) == 0
    assert json.loads((out / "ecg_shortlist.json").read_text())["chosen"] == second["arch"]


def test_nothing_chosen_until_an_arch_has_every_seed(
    script: ModuleType,
    run_dir: Path,
    scored: list[Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "reports"
    monkeypatch.setattr(script, "FINAL_JSON", tmp_path / "absent.json")
    base = ["--run", str(run_dir), "--top", "2", "--out", str(out)]
    assert script.main([*base, "--seeds", "0"]) == 0  # seed 0 only so far
    summary = script.summarise(
        script.read_rows(run_dir / script.ROWS_FILE), "full", [0, 1], script.FINAL_JSON
    )
    assert summary["chosen"] is None and summary["references"] == {}
    assert all(not a["complete"] and a["sd"] is None for a in summary["archs"])
    assert "nothing chosen" in script.render(summary, "run", "x")
    # the report's command names a fidelity other than the default full recipe
    assert "--seeds 0 1 --report-name x`" in script.render(summary, "run", "x")
    other = summary | {"fidelity": "full_h"}
    assert "--seeds 0 1 --fidelity full_h --report-name x`" in script.render(other, "run", "x")


def test_errors(script: ModuleType, run_dir: Path, tmp_path: Path, capsys: Any) -> None:
    assert script.main(["report", "--run", str(tmp_path / "nowhere")]) == 1
    assert "no result.json" in capsys.readouterr().err
    assert script.main(["--run", str(run_dir), "--top", "5", "--out", str(tmp_path)]) == 1
    assert "lists 4 top archs, fewer than --top 5" in capsys.readouterr().err
    (run_dir / "result.json").write_text("{}")
    assert script.main(["--run", str(run_dir), "--out", str(tmp_path)]) == 1
    assert "no readable list of top archs" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--top must be at least 1"):
        script.main(["--run", str(run_dir), "--top", "0"])
