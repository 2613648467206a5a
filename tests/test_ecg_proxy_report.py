"""``scripts/ecg_proxy.py``'s report: the full recipe's noise section (seed sd from paired
joint archs or from the shipped final runs, reliability, tau estimates), the per-signal,
per-seed-signal and per-class tau tables, and ``--only``. Synthetic rows with known
answers; nothing trains."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from ecgnas.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ecg_proxy.py"
SIGNALS = ("macro_f1", "macro_f1_nsv", "mean_auc", "balanced_accuracy")


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script(SCRIPT)


FULL = [0.40, 0.44, 0.47, 0.50, 0.52, 0.58]
"""The full recipe's seed-0 macro-F1 of archs a0..a5 (strictly increasing)."""
FULL_SEED1 = {"a0": 0.42, "a2": 0.46, "a4": 0.55}
"""Seed-1 scores of three of them: differences -0.02, 0.01, -0.03."""
MANUAL = [0.50, 0.54, 0.52]
"""The final runs' DS1-CV macro-F1 of one model over three seeds (sd 0.02)."""


def _row(arch: str, fidelity: str, seed: int, macro_f1: float, **extra: Any) -> dict[str, Any]:
    return {"arch": arch, "fidelity": fidelity, "seed": seed, "macro_f1": macro_f1, **extra}


def _proxy_row(i: int, seed: int) -> dict[str, Any]:
    """A proxy whose macro-F1 ranks the archs backwards and whose balanced accuracy ranks
    them forwards; it ranks V forwards and S backwards; seed 1 repeats seed 0's
    balanced accuracy and reverses its mean AUC."""
    up, down = float(i), float(10 - i)
    signals = {
        "macro_f1": down / 20,
        "macro_f1_nsv": down / 20,
        "mean_auc": (down if seed == 0 else up) / 20,
        "balanced_accuracy": up / 20,
    }
    f1 = {"N": 0.9, "S": down / 20, "V": up / 20, "F": None if i == 0 else up / 40}
    return _row(
        f"a{i}",
        "e2k2_n2v",
        seed,
        signals["macro_f1"],
        signals=signals,
        f1=f1,
        seconds=10.0,
        cpu_seconds=8.0,
    )


def _rows(pairs: int = 3) -> list[dict[str, Any]]:
    f1 = {"N": 0.9, "S": 0.1, "V": 0.5, "F": 0.2}
    rows = [
        _row(f"a{i}", "full", 0, v, f1={**f1, "S": v, "V": v}, seconds=300.0)
        for i, v in enumerate(FULL)
    ]
    rows += [_row(a, "full", 1, v, f1=f1) for a, v in list(FULL_SEED1.items())[:pairs]]
    rows += [_proxy_row(i, seed) for seed in (0, 1) for i in range(len(FULL))]
    return rows


@pytest.fixture
def final_json(tmp_path: Path) -> Path:
    path = tmp_path / "ecg_final.json"
    seeds = [{"seed": s, "ds1_cv_macro_f1": v} for s, v in enumerate(MANUAL)]
    one = [{"seed": 0, "ds1_cv_macro_f1": 0.3}]  # one seed: no spread to measure
    path.write_text(json.dumps({"models": {"manual": {"seeds": seeds}, "tiny": {"seeds": one}}}))
    return path


def test_full_noise_uses_the_paired_joint_archs(script: ModuleType, final_json: Path) -> None:
    noise = script.full_noise(_rows(), script.read_final(final_json))
    pair_var = (0.02**2 + 0.01**2 + 0.03**2) / 3 / 2
    spread_var = float(np.var(FULL, ddof=1))
    r = 1 - pair_var / spread_var
    assert noise["seed_sd_by_model"] == {"manual": pytest.approx(0.02)}
    assert noise["seeds_by_model"] == {"manual": 3}
    assert noise["joint_pairs"] == 3
    assert noise["seed_sd_joint_pairs"] == pytest.approx(math.sqrt(pair_var))
    assert noise["seed_sd"] == pytest.approx(math.sqrt(pair_var))
    assert noise["arch_spread_sd"] == pytest.approx(math.sqrt(spread_var))
    assert noise["archs"] == 6
    assert noise["reliability"] == pytest.approx(r)
    assert noise["tau_full_vs_full_est"] == pytest.approx(2 / math.pi * math.asin(r))
    assert noise["tau_ceiling_est"] == pytest.approx(2 / math.pi * math.asin(math.sqrt(r)))
    assert noise["tau_full_vs_full_est"] < noise["tau_ceiling_est"] < 1
    r2 = 2 * r / (1 + r)  # the mean of two seeds is the more reliable target
    assert noise["tau_ceiling_mean2_est"] == pytest.approx(2 / math.pi * math.asin(math.sqrt(r2)))
    assert noise["tau_ceiling_est"] < noise["tau_ceiling_mean2_est"] < 1


def test_full_noise_falls_back_to_the_final_runs(script: ModuleType, final_json: Path) -> None:
    noise = script.full_noise(
        _rows(pairs=2), script.read_final(final_json)
    )  # two pairs are too few
    assert noise["seed_sd_joint_pairs"] is None and noise["joint_pairs"] == 2
    assert noise["seed_sd"] == pytest.approx(0.02)
    assert noise["reliability"] == pytest.approx(1 - 0.02**2 / np.var(FULL, ddof=1))


def test_full_noise_needs_its_inputs(script: ModuleType, final_json: Path, tmp_path: Path) -> None:
    assert script.full_noise(_rows(), script.read_final(tmp_path / "missing.json")) is None
    five = [r for r in _rows() if not (r["fidelity"] == "full" and r["arch"] == "a5")]
    noise = script.full_noise(five, script.read_final(final_json))
    assert noise is not None and noise["archs"] == 5  # five archs are enough
    four = [r for r in five if not (r["fidelity"] == "full" and r["arch"] == "a4")]
    assert script.full_noise(four, script.read_final(final_json)) is None
    # a seed noise above the whole spread: reliability floors at 0, both taus at 0
    flat = [_row(f"a{i}", "full", 0, 0.5 + 0.001 * i) for i in range(5)]
    noise = script.full_noise(flat, script.read_final(final_json))
    assert noise["reliability"] == 0.0 and noise["tau_ceiling_est"] == 0.0


def test_summary_tau_tables(
    script: ModuleType, final_json: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(script, "FINAL_JSON", final_json)
    summary = script.summarise(_rows())
    assert summary["full_archs"] == 6
    assert set(summary["proxies"]) == {"full", "e2k2_n2v"}
    proxy = summary["proxies"]["e2k2_n2v"]
    assert proxy["n_vs_full"] == 6 and proxy["tau_vs_full"] == pytest.approx(-1.0)
    assert proxy["cpu_seconds_mean"] == 8.0
    assert proxy["tau_per_cpu_second"] == pytest.approx(-1.0 / 8.0)
    assert proxy["tau_vs_full_by_signal"] == pytest.approx(
        {"macro_f1": -1.0, "macro_f1_nsv": -1.0, "mean_auc": -1.0, "balanced_accuracy": 1.0}
    )
    assert proxy["tau_seed_by_signal"] == pytest.approx(
        {"macro_f1": 1.0, "macro_f1_nsv": 1.0, "mean_auc": -1.0, "balanced_accuracy": 1.0}
    )
    assert proxy["n_vs_full_by_signal"] == 6 and proxy["n_seed_by_signal"] == proxy["n_seed"]
    by_class = proxy["tau_vs_full_by_class"]
    assert by_class["S"] == pytest.approx(-1.0) and by_class["V"] == pytest.approx(1.0)
    # F: the full recipe's F1 is the same for every arch, so there is no order to match
    assert math.isnan(by_class["F"])
    # the full recipe is the target, not a proxy: no tau against itself by signal or class
    full = summary["proxies"]["full"]
    assert "tau_vs_full" not in full and "tau_vs_full_by_class" not in full
    assert "n_seed" not in full  # three seed-1 archs are too few for a tau
    assert summary["full_noise"]["joint_pairs"] == 3


def test_tau_table_rendering(script: ModuleType) -> None:
    proxies = {
        "p1": {"tau_vs_full_by_class": {"S": -0.25, "V": 0.5, "F": None}},
        "p2": {"archs": 3},
    }
    columns = {"S": "S F1", "V": "V F1", "F": "F F1"}
    lines = script._tau_table(proxies, "tau_vs_full_by_class", "Title:", columns)
    assert lines == [
        "",
        "Title:",
        "",
        "| fidelity | S F1 | V F1 | F F1 |",
        "|---|---|---|---|",
        "| p1 | -0.250 | 0.500 | – |",
    ]
    assert script._tau_table(proxies, "tau_seed_by_signal", "Other:", {"S": "S"}) == []
    # with an n column: the number of archs each row is over, "–" when the row lacks it
    proxies["p1"]["n_by_class"] = 7
    proxies["p3"] = {"tau_vs_full_by_class": {"S": 0.0, "V": 0.0, "F": 0.0}}
    lines = script._tau_table(proxies, "tau_vs_full_by_class", "T:", columns, "n_by_class")
    assert lines[3:] == [
        "| fidelity | archs | S F1 | V F1 | F F1 |",
        "|---|---|---|---|---|",
        "| p1 | 7 | -0.250 | 0.500 | – |",
        "| p3 | – | 0.000 | 0.000 | 0.000 |",
    ]


def test_rendered_report(
    script: ModuleType, final_json: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(script, "FINAL_JSON", final_json)
    out = tmp_path / "reports"
    out.mkdir()
    (out / script.RUNS_FILE).write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    assert script.main(["report", "--out", str(out)]) == 0
    md = (out / "ecg_proxy.md").read_text()
    saved = json.loads((out / "ecg_proxy.json").read_text())
    noise = saved["full_noise"]
    assert "## How noisy the target is" in md
    assert "Reliability (share of that spread due to the archs" in md
    assert f"{noise['reliability']:.2f}." in md
    assert f"tau ~ {noise['tau_full_vs_full_est']:.2f};" in md
    assert f"reaches tau ~ {noise['tau_ceiling_est']:.2f}" in md
    assert "manual 0.020 (3 seeds)" in md and "tiny" not in md.split("## How noisy")[1]
    assert f"(3 archs; sd = rms(seed 0 - seed 1) / sqrt 2): {noise['seed_sd']:.3f}" in md
    assert "| fidelity | archs | " + " | ".join(SIGNALS) + " |" in md
    assert "(no arch has the full recipe under a second seed yet)." in md
    assert "| e2k2_n2v | 6 | -1.000 | -1.000 | -1.000 | 1.000 |" in md  # vs full, by signal
    assert "| e2k2_n2v | 6 | 1.000 | 1.000 | -1.000 | 1.000 |" in md  # vs itself, seed 1
    assert "| fidelity | S F1 | V F1 | F F1 |" in md
    assert "| e2k2_n2v | -1.000 | 1.000 | nan |" in md
    assert "Full-recipe archs scored: 6." in md

    # without the final runs' file the noise section is left out, the tables stay
    monkeypatch.setattr(script, "FINAL_JSON", tmp_path / "absent.json")
    script.main(["report", "--out", str(out)])
    md = (out / "ecg_proxy.md").read_text()
    assert "How noisy" not in md and "| fidelity | S F1 | V F1 | F F1 |" in md
    assert json.loads((out / "ecg_proxy.json").read_text())["full_noise"] is None


def test_only_scores_the_named_sample_indices(
    script: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``--only`` scores just those indices of the fixed sample, under each seed, and a
    rerun skips what is already there (a resumable second-seed run)."""
    scored: list[tuple[int, str]] = []
    archs = list(script.sample_archs(6))

    def fake_row(arch: Any, fidelity: str, seed: int, beats: Any) -> dict[str, Any]:
        scored.append((seed, arch.key()))
        f1 = {"N": 0.9, "S": 0.1, "V": 0.5, "F": None}
        signals = {name: 0.5 + seed / 10 for name in SIGNALS}
        return _row(
            arch.key(), fidelity, seed, 0.5 + seed / 10, f1=f1, signals=signals, seconds=1.0
        )

    monkeypatch.setattr(script, "scored_row", fake_row)
    monkeypatch.setattr(script, "BeatCache", lambda: None)
    argv = ["run", "--fidelity", "full", "--archs", "6", "--only", "4", "1", "--seeds", "1", "2"]
    out = tmp_path / "reports"
    assert script.main([*argv, "--out", str(out)]) == 0
    keys = {a.key(): i for i, a in enumerate(archs)}
    assert [(seed, keys[k]) for seed, k in scored] == [(1, 1), (1, 4), (2, 1), (2, 4)]
    rows = [json.loads(line) for line in (out / script.RUNS_FILE).read_text().splitlines()]
    assert [(r["seed"], r["index"]) for r in rows] == [(1, 1), (1, 4), (2, 1), (2, 4)]
    assert all(r["macro_f1"] == 0.5 + r["seed"] / 10 for r in rows)
    assert all(r["fidelity_settings"] == script.FIDELITIES["full"].to_json() for r in rows)
    scored.clear()
    script.main([*argv, "--out", str(out)])
    assert scored == []


def test_a_recipe_variant_is_compared_with_the_full_recipe_pair_by_pair(
    script: ModuleType, final_json: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``full_h`` rows (the full recipe with another head) are paired with ``full`` by arch
    and seed, kept out of the proxy table, and rendered with their paired differences."""
    monkeypatch.setattr(script, "FINAL_JSON", final_json)
    rows = [r | {"cpu_seconds": 10.0} if r["fidelity"] == "full" else r for r in _rows()]
    full_f1 = {(r["arch"], r["seed"]): r["f1"] for r in rows if r["fidelity"] == "full"}
    # a0-a2 at seed 0 and a0 at seed 1 (paired with FULL and FULL_SEED1); a5 has no pair
    plus = {("a0", 0): 0.03, ("a1", 0): -0.01, ("a2", 0): 0.05, ("a0", 1): 0.02}
    base = {(f"a{i}", 0): v for i, v in enumerate(FULL)} | {
        (a, 1): v for a, v in FULL_SEED1.items()
    }
    variant = [
        _row(a, "full_h", s, base[a, s] + d, f1=full_f1[a, s] | {"S": full_f1[a, s]["S"] + d})
        | {"cpu_seconds": 20.0}
        for (a, s), d in plus.items()
    ]
    variant.append(_row("a9", "full_h", 0, 0.9, f1=full_f1["a0", 0]) | {"cpu_seconds": 20.0})
    summary = script.summarise(rows + variant)
    assert "full_h" not in summary["proxies"]
    v = summary["variants"]["full_h"]
    assert (v["pairs"], v["archs"], v["seeds"], v["wins"]) == (4, 3, [0, 1], 3)
    assert v["diff_mean"] == pytest.approx(0.0225)
    assert v["class_f1_diff"]["S"] == pytest.approx(0.0225)
    assert v["class_f1_diff"]["V"] == pytest.approx(0.0)
    assert v["cpu_seconds_mean"] == 20.0 and v["full_cpu_seconds_mean"] == 10.0
    assert 0 < v["wilcoxon_p"] <= 1
    md = script.render(summary)
    assert "## The full recipe with another cell network" in md
    assert (
        "| full_h | r3h | the manual CNNs' head | 4 (3 x 2) |" in md
        and "| +0.023 (" in md
        and "| 3/4 |" in md
    )
    from scipy.stats import sem, t

    d = np.array(list(plus.values()))
    assert v["s_f1_diff_ci95"] == pytest.approx(
        list(t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sem(d)))
    )
    assert (v["nsv_pairs"], v["nsv_diff_mean"]) == (0, None)  # no run here kept N/S/V
    assert "- full_h: S F1 +0.023 [" in md and "; N/S/V macro-F1" not in md
    # with N/S/V macro-F1 in the runs (variant rows 0.1 above their full pair's, 2x the gain)
    for r in rows + variant:
        if r["fidelity"] in ("full", "full_h"):
            gain = 2 * plus.get((r["arch"], r["seed"]), 0.0) if r["fidelity"] == "full_h" else 0
            r["signals"] = {"macro_f1_nsv": 0.5 + gain}
    v = script.variant_entry("full_h", rows + variant)
    assert v["nsv_pairs"] == 4 and v["nsv_diff_mean"] == pytest.approx(0.045)
    # fewer than three pairs: no comparison
    assert script.variant_entry("full_h", rows + variant[:2]) is None


def test_a_proxy_is_also_ranked_against_the_full_recipes_seed_mean(
    script: ModuleType, final_json: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the full recipe ran under seeds 0 and 1, each proxy is also ranked against the
    mean of the two; archs without a seed-1 run are left out of that tau."""
    monkeypatch.setattr(script, "FINAL_JSON", final_json)
    seed0 = [0.40, 0.50, 0.45, 0.60, 0.55, 0.70]
    seed1 = [0.40, 0.36, 0.55, 0.44, 0.70, None]  # means 0.40, 0.43, 0.50, 0.52, 0.625
    f1 = {"N": 0.9, "S": 0.1, "V": 0.5, "F": 0.2}
    rows = [_row(f"a{i}", "full", 0, v, f1=f1) for i, v in enumerate(seed0)]
    rows += [_row(f"a{i}", "full", 1, v) for i, v in enumerate(seed1) if v is not None]
    # the proxy orders a0..a5 by index: the seed means' order, not seed 0's
    rows += [
        _row(f"a{i}", "e2k2_n2v", 0, i / 10, signals={s: i / 10 for s in SIGNALS}, f1=f1)
        for i in range(6)
    ]
    summary = script.summarise(rows)
    assert summary["full_mean_archs"] == 5
    assert summary["space_vs_manual"]["by_macro"] == {}  # not joint-space keys: no genes
    proxy = summary["proxies"]["e2k2_n2v"]
    assert proxy["n_vs_full_mean"] == 5 and proxy["tau_vs_full_mean"] == pytest.approx(1.0)
    assert proxy["tau_vs_full_mean_by_signal"] == pytest.approx({s: 1.0 for s in SIGNALS})
    assert proxy["n_vs_full"] == 6 and proxy["tau_vs_full"] < 1.0
    assert "tau_vs_full_mean" not in summary["proxies"]["full"]
    text = script.render(summary)
    assert "## Against the full recipe's mean over two training seeds" in text
    assert "| e2k2_n2v | 1.000 (5) |" in text
    full_self = summary["proxies"]["full"]["tau_seed"]
    assert f"is the measured value ({full_self:.3f} over 5 archs)." in text
    # no seed-1 full runs: no such section
    only0 = [r for r in rows if not (r["fidelity"] == "full" and r["seed"] == 1)]
    assert "two training seeds" not in script.render(script.summarise(only0))


def test_reliability_bounds_a_proxys_agreement_by_both_sides_seed_noise(
    script: ModuleType,
) -> None:
    """Per signal: the proxy's retest r, its r with the full recipe, Spearman's attenuation
    ceiling sqrt(retest r x the full recipe's retest r), and tau over all four pairings of
    proxy seed and full seed; archs need both seeds on both sides and the proxy's signals."""
    full0 = [0.40, 0.44, 0.47, 0.50, 0.52, 0.58]
    full1 = [0.42, 0.41, 0.50, 0.49, 0.56, 0.55]
    rows = [_row(f"a{i}", "full", 0, v) for i, v in enumerate(full0)]
    rows += [_row(f"a{i}", "full", 1, v) for i, v in enumerate(full1)]
    # the proxy's macro-F1 repeats seed 0 exactly; its mean AUC is reversed under seed 1
    for seed in (0, 1):
        for i in range(6):
            sig = {s: full0[i] for s in SIGNALS}
            if seed == 1:
                sig["mean_auc"] = -full0[i]
            rows.append(_row(f"a{i}", "e2k2_n2v", seed, sig["macro_f1"], signals=sig))
    rows.append(_row("a6", "e2k2_n2v", 0, 0.9, signals={s: 0.9 for s in SIGNALS}))
    by: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for r in rows:
        by.setdefault((r["fidelity"], r["seed"]), {})[r["arch"]] = r
    rel = script.reliability(by)
    assert set(rel) == {"e2k2_n2v"}
    full_r = float(np.corrcoef(full0, full1)[0, 1])
    f1 = rel["e2k2_n2v"]["macro_f1"]
    assert f1["archs"] == 6  # a6 has no full-recipe runs
    assert f1["retest_r"] == pytest.approx(1.0) and f1["retest_tau"] == pytest.approx(1.0)
    assert f1["full_retest_r"] == pytest.approx(full_r)
    assert f1["r_full"] == pytest.approx(1.0)  # seed 0 is the full recipe's seed 0
    assert f1["ceiling"] == pytest.approx(math.sqrt(full_r))
    tau_01 = script.kendall_tau(full0, full1)
    assert f1["tau_pairs"] == pytest.approx(
        {"p0f0": 1.0, "p0f1": tau_01, "p1f0": 1.0, "p1f1": tau_01}
    )
    assert f1["tau_pairs_mean"] == pytest.approx((1 + tau_01) / 2)
    auc = rel["e2k2_n2v"]["mean_auc"]
    assert auc["retest_r"] == pytest.approx(-1.0) and auc["ceiling"] == 0.0
    assert auc["tau_pairs"]["p1f0"] == pytest.approx(-1.0)
    assert f1["seeds"] == [0, 1]
    # averaging two identical seeds changes nothing
    assert f1["tau_mean2"] == pytest.approx((1 + tau_01) / 2)
    md = "\n".join(script._reliability_lines(rel))
    assert "| e2k2_n2v | macro_f1 | 6 | 0, 1 | 1.00 | 1.000 | 1.00 (above its ceiling) |" in md
    assert f"own retest r over these archs: {full_r:.2f}." in md
    # a third proxy seed counts once it covers every arch: here it reverses the order
    third = {f"a{i}": _row(f"a{i}", "e2k2_n2v", 2, -full0[i]) for i in range(6)}
    for r in third.values():
        r["signals"] = {sig: r["macro_f1"] for sig in SIGNALS}
    partial = by | {("e2k2_n2v", 2): dict(list(third.items())[:5])}
    assert script.reliability(partial)["e2k2_n2v"]["macro_f1"]["seeds"] == [0, 1]
    rel3 = script.reliability(by | {("e2k2_n2v", 2): third})["e2k2_n2v"]["macro_f1"]
    assert rel3["seeds"] == [0, 1, 2]
    assert rel3["retest_r"] == pytest.approx((1 - 1 - 1) / 3)  # pairs 01, 02, 12
    assert rel3["tau_pairs"]["p2f0"] == pytest.approx(-1.0) and len(rel3["tau_pairs"]) == 6
    # the mean of seeds 0 and 2 is constant: no order, so its tau is nan, as is the mean
    assert math.isnan(rel3["tau_mean2"])
    # fewer than five archs with both full seeds: nothing to bound against
    only4 = {k: dict(list(v.items())[:4]) if k[0] == "full" else v for k, v in by.items()}
    assert script.reliability(only4) == {}
    assert script._reliability_lines({}) == []


def test_the_space_is_placed_against_the_manual_cnns(
    script: ModuleType, final_json: Path, tmp_path: Path
) -> None:
    """The two-seed means of the paired archs, their spread with the seed noise taken out,
    and the normal-tail share of the space above each manual model (and above it plus the
    issue's margin)."""
    from scipy.stats import norm

    full0 = [0.40, 0.44, 0.47, 0.50, 0.52, 0.58]
    full1 = [0.42, 0.41, 0.50, 0.49, 0.56, 0.55]
    # joint archs: widths 4, 4, 8, 8, 8, 4 (the first macro gene); no arch has width 12
    width = [0, 0, 1, 1, 1, 0]
    key = [f"ecgjoint:{i},0,0,0,0,0,{w},0,0,0,0,0,{i % 2}" for i, w in enumerate(width)]
    rows = [_row(key[i], "full", 0, v) for i, v in enumerate(full0)]
    rows += [_row(key[i], "full", 1, v) for i, v in enumerate(full1)]
    rows.append(_row("ecgjoint:6,0,0,0,0,0,2,0,0,0,0,0,0", "full", 0, 0.99))  # one seed only
    space = script.space_vs_manual(rows, script.read_final(final_json))
    means = (np.array(full0) + np.array(full1)) / 2
    seed_var = np.mean(np.square(np.array(full0) - np.array(full1))) / 2
    sd = math.sqrt(np.var(means, ddof=1) - seed_var / 2)
    assert space["archs"] == 6 and space["best"] == pytest.approx(0.565)
    assert space["mean"] == pytest.approx(means.mean()) and space["arch_sd"] == pytest.approx(sd)
    manual = space["models"]["manual"]
    assert manual["ds1_cv_macro_f1"] == pytest.approx(0.52) and manual["seeds"] == 3
    assert manual["share_above"] == pytest.approx(norm.sf((0.52 - means.mean()) / sd))
    assert manual["share_above_margin"] == pytest.approx(norm.sf((0.545 - means.mean()) / sd))
    assert manual["share_above_margin"] < manual["share_above"]
    mean = means.tolist()
    width_by = space["by_macro"]["width"]
    assert set(width_by) == {"4", "8"}  # no arch has width 12
    assert width_by["4"] == pytest.approx([(mean[0] + mean[1] + mean[5]) / 3, 3])
    assert width_by["8"] == pytest.approx([(mean[2] + mean[3] + mean[4]) / 3, 3])
    fs_by = space["by_macro"]["fs"]
    assert fs_by["96"] == pytest.approx([np.mean(mean[0::2]), 3])
    assert fs_by["128"] == pytest.approx([np.mean(mean[1::2]), 3])
    assert space["means_sd"] == pytest.approx(np.std(means, ddof=1))
    # the manual model under the archs' own two seeds, for a seed-paired reading
    assert manual["at_pair_seeds"] == pytest.approx(0.52)  # (0.50 + 0.54) / 2
    assert space["models"]["tiny"]["at_pair_seeds"] is None  # tiny ran seed 0 only
    lines = "\n".join(script._space_lines(space))
    assert "| manual | 3 | 0.520 |" in lines and "| 0.520 |\n" in lines
    w4, w8 = space["by_macro"]["width"]["4"][0], space["by_macro"]["width"]["8"][0]
    assert f"| width | 4 {w4:.3f} (3), 8 {w8:.3f} (3) |" in lines
    # no paired archs, or no final runs: no section
    assert script.space_vs_manual(rows[:6], script.read_final(final_json)) is None
    assert script.space_vs_manual(rows, script.read_final(tmp_path / "missing.json")) is None
    assert script._space_lines(None) == []
    # archs whose spread is all seed noise: no share to extrapolate
    flat = [
        _row(f"ecgjoint:{i},0,0,0,0,0,0,0,0,0,0,0,0", "full", s, 0.5 + (0.01 if s else -0.01))
        for i in range(5)
        for s in (0, 1)
    ]
    flat_space = script.space_vs_manual(flat, script.read_final(final_json))
    assert flat_space["arch_sd"] == 0.0 and flat_space["models"]["manual"]["share_above"] is None
    assert "| – | – |" in "\n".join(script._space_lines(flat_space))


def test_the_space_at_the_manual_cnns_inputs_comes_from_an_additive_fit(
    script: ModuleType,
) -> None:
    """Scores that are exactly additive in the macro choices: the fit recovers each effect,
    and the estimate at the recipe's inputs is the intercept plus the data genes' effects
    plus the network genes' effects averaged over their choices."""
    from ecgnas.spaces.ecgjoint import MACRO, ECGJointSpace

    effects = {
        "width": [0.0, 0.01, -0.02],
        "cells": [0.0, 0.03],
        "stem_kernel": [0.0, 0.0, 0.006],
        "context": [0.0, 0.02, -0.01],
        "channels": [0.0, -0.004, 0.002],
        "rr": [0.0, 0.02, 0.01],
        "fs": [0.0, 0.015],
    }
    space = ECGJointSpace()
    rng = np.random.default_rng(3)
    archs = [space.sample(rng) for _ in range(60)]
    base = 0.47
    scores = np.array(
        [base + sum(effects[g][i] for (g, _), i in zip(MACRO, a.ops[6:])) for a in archs]
    )
    fit = script.at_recipe_data([a.key() for a in archs], scores)
    assert fit["intercept"] == pytest.approx(base)
    assert fit["coefficients"]["cells=2"] == pytest.approx(0.03)
    assert fit["coefficients"]["context=wide"] == pytest.approx(-0.01)
    assert fit["resid_sd"] == pytest.approx(0.0, abs=1e-9) and fit["se"] < 1e-9
    network = np.mean([0.0, 0.01, -0.02]) + np.mean([0.0, 0.03]) + np.mean([0.0, 0.0, 0.006])
    data = 0.02 + 0.0 + 0.02 + 0.015  # neighbours, raw, rhythm, 128 Hz
    assert fit["estimate"] == pytest.approx(base + network + data)
    tails = {"share_above": 0.01, "share_above_margin": 0.001}
    summary = {
        "archs": 60,
        "mean": 0.5,
        "best": 0.55,
        "arch_sd": 0.02,
        "means_sd": 0.03,
        "by_macro": {},
        "at_recipe_data": fit,
        "models": {
            "manual": {"ds1_cv_macro_f1": 0.56, "seeds": 4, "seed_sd": 0.02, **tails},
            "tiny": {"ds1_cv_macro_f1": 0.50, "seeds": 1, "seed_sd": None, **tails},
        },
    }
    lines = "\n".join(script._space_lines(summary))
    assert f"at **{fit['estimate']:.3f} ± 0.000**" in lines
    # the manual CNN's gap carries the standard error of its mean over seeds (0.02 / 2)
    assert f"| manual | 0.560 | {0.56 - fit['estimate']:+.3f} ± 0.010 |" in lines
    assert f"| tiny | 0.500 | {0.50 - fit['estimate']:+.3f} ± 0.000 |" in lines
    # too few archs for the 13 coefficients, or archs of another space: no fit
    assert script.at_recipe_data([a.key() for a in archs[:14]], scores[:14]) is None
    assert script.at_recipe_data(["ecg1d:1,2,3,4,5,6"] * 20, scores[:20]) is None


def test_the_recipe_data_choices_are_the_full_recipes_own_inputs(script: ModuleType) -> None:
    """``RECIPE_DATA`` names the joint space's data choices that feed a joint arch exactly
    what r3 feeds the manual CNNs (sampling rate, window, neighbouring beats, channels, RR
    set), so the additive estimate compares like with like."""
    from ecgnas.classifier.recipe import setup_for
    from ecgnas.classifier.recipes import get_recipe
    from ecgnas.spaces.ecgjoint import ECGJointSpace

    r3, _ = get_recipe("r3")
    arch = ECGJointSpace().make([2, 0, 0, 0, 0, 0], **script.RECIPE_DATA)
    assert setup_for(arch, r3) == r3


def test_recipe_data_archs_keep_their_cell_and_network_genes(script: ModuleType) -> None:
    from ecgnas.spaces.ecgjoint import ECGJointSpace

    space = ECGJointSpace()
    for arch in script.sample_archs(5):
        moved = script.with_recipe_data(arch)
        before, after = space.values(arch), space.values(moved)
        assert moved.ops[:6] == arch.ops[:6]
        assert {g: after[g] for g in ("width", "cells", "stem_kernel")} == {
            g: before[g] for g in ("width", "cells", "stem_kernel")
        }
        assert {g: after[g] for g in script.RECIPE_DATA} == script.RECIPE_DATA
    parser = script.build_parser()
    assert parser.parse_args(["--recipe-data"]).recipe_data
    assert not parser.parse_args([]).recipe_data


def test_archs_under_more_seeds_are_paired_with_the_manual_cnns_seed_by_seed(
    script: ModuleType, final_json: Path, tmp_path: Path
) -> None:
    """Per arch run under three or more seeds: its scores, the mean on the fresh seeds (not
    those it was shortlisted under), and per manual model the seed-paired differences with a
    95 % t interval; archs with fewer seeds, and models with fewer than two common seeds, are
    left out."""
    from scipy.stats import t

    arch = "ecgjoint:0,0,0,0,0,0,0,0,0,0,0,0,0"
    scores = {0: 0.56, 1: 0.53, 2: 0.55, 3: 0.60}  # manual (MANUAL): 0.50, 0.54, 0.52
    rows = [_row(arch, "full", s, v) for s, v in scores.items()]
    rows += [_row("two-seeds", "full", s, 0.9) for s in (0, 1)]
    rows.append(_row(arch, "e2k2_n2v", 2, 0.1))  # a proxy row: not the full recipe
    conf = script.confirmed(rows, script.read_final(final_json))
    assert set(conf) == {arch}
    e = conf[arch]
    assert e["seeds"] == [0, 1, 2, 3] and e["scores"] == pytest.approx(list(scores.values()))
    assert e["mean"] == pytest.approx(0.56) and e["fresh_seeds"] == [2, 3]
    assert e["fresh_mean"] == pytest.approx(0.575)
    assert set(e["against"]) == {"manual"}  # tiny ran one seed only
    m = e["against"]["manual"]
    diffs = np.array([0.06, -0.01, 0.03])
    assert m["seeds"] == [0, 1, 2] and m["diffs"] == pytest.approx(diffs.tolist())
    assert m["mean_diff"] == pytest.approx(diffs.mean())
    half = t.ppf(0.975, 2) * diffs.std(ddof=1) / math.sqrt(3)
    assert m["ci95"] == pytest.approx([diffs.mean() - half, diffs.mean() + half])
    # seed 3 has no manual run: only seed 2 is fresh and common
    assert m["fresh_mean_diff"] == pytest.approx(0.03) and m["fresh_model_mean"] is None
    lines = "\n".join(script._confirmed_lines(conf))
    assert f"| `{arch}` | 0,1,2,3 | 0.560, 0.530, 0.550, 0.600 | 0.560 | 0.575 | manual |" in lines
    assert script.confirmed(rows[:2], script.read_final(final_json)) is None  # three seeds needed
    assert script.confirmed(rows, script.read_final(tmp_path / "missing.json")) is None
    assert script._confirmed_lines(None) == []


def test_manual_rows_extend_the_pairing_and_stay_out_of_the_space(
    script: ModuleType, final_json: Path, tmp_path: Path
) -> None:
    """Full-recipe rows of a manual CNN (``--arch manual``) add its scores on the seeds the
    final runs lack (the final runs' own seeds keep their figures), and are left out of every
    statistic over the sampled archs."""
    arch = "ecgjoint:0,0,0,0,0,0,0,0,0,0,0,0,0"
    rows = [_row(arch, "full", s, v) for s, v in enumerate([0.56, 0.53, 0.55, 0.60])]
    refs = [
        _row("manual:0,0,0,0,0,0", "full", 0, 0.99),  # the final runs' seed 0 (0.50) stands
        _row("manual:0,0,0,0,0,0", "full", 3, 0.58),
        _row("tiny:1,1,1,0", "full", 3, 0.61),
        _row("manual:0,0,0,0,1,0", "full", 3, 0.70),  # not the published network
    ]
    m = script.confirmed(rows, script.read_final(final_json), refs)[arch]["against"]
    assert m["manual"]["seeds"] == [0, 1, 2, 3]
    assert m["manual"]["diffs"] == pytest.approx([0.06, -0.01, 0.03, 0.02])
    assert m["manual"]["fresh_mean_diff"] == pytest.approx(0.025)
    assert m["manual"]["fresh_model_mean"] == pytest.approx(0.55)  # (0.52 + 0.58) / 2
    assert m["tiny"]["seeds"] == [0, 3] and m["tiny"]["diffs"] == pytest.approx([0.26, -0.01])
    assert "manual:0,0,0,0,1,0" not in m  # one common seed only: no pairing
    # without the final runs the references alone pair, and with neither nothing does
    alone = script.confirmed(rows, script.read_final(tmp_path / "missing.json"), refs)[arch][
        "against"
    ]
    assert alone["manual"]["seeds"] == [0, 3] and alone["manual"]["diffs"][0] == pytest.approx(
        -0.43
    )
    assert script.confirmed(rows, script.read_final(tmp_path / "missing.json")) is None
    # in the summary the manual rows are references only: not an arch of the full recipe
    summary = script.summarise(rows + refs)
    assert summary["full_archs"] == 1 and set(summary["confirmed"]) == {arch}


def test_named_archs_are_scored_instead_of_the_sample(
    script: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``--arch`` scores the named archs (a baseline by its name) under each seed, once."""
    calls: list[tuple[str, str, int]] = []

    def fake_row(arch: Any, fidelity: str, seed: int, beats: Any = None) -> dict[str, Any]:
        calls.append((arch.key(), fidelity, seed))
        return {
            "arch": arch.key(),
            "fidelity": fidelity,
            "seed": seed,
            "macro_f1": 0.5,
            "signals": {},
            "f1": {},
            "seconds": 1.0,
        }

    monkeypatch.setattr(script, "scored_row", fake_row)
    argv = [
        "run",
        "--fidelity",
        "full",
        "--arch",
        "manual",
        "--seeds",
        "5",
        "6",
        "--out",
        str(tmp_path),
    ]
    script.main(argv)
    script.main(argv)  # resumed: nothing scored twice
    assert [c[2] for c in calls] == [5, 6] and calls[0][0].startswith("manual:")
    rows = script._rows(tmp_path / script.RUNS_FILE)
    assert [r["index"] for r in rows] == [0, 0]
    with pytest.raises(SystemExit, match="--recipe-data sets the data genes"):
        script.main([*argv, "--recipe-data"])


def test_the_class_view_sets_each_class_against_the_manual_cnns(script: ModuleType) -> None:
    """Per arch the mean over its runs of each column; over archs their mean and best; per
    reference its mean and how many archs beat it column by column; nothing without
    references."""

    def row(arch: str, seed: int, macro: float, nsv: float, s_f1: float) -> dict[str, Any]:
        f1 = {"N": 0.9, "S": s_f1, "V": 0.8, "F": 0.1}
        return _row(arch, "full", seed, macro, f1=f1, signals={"macro_f1_nsv": nsv})

    rows = [row("a", 0, 0.50, 0.60, 0.20), row("a", 1, 0.54, 0.64, 0.30)]  # means .52 .62 .25
    rows.append(row("b", 0, 0.58, 0.66, 0.28))
    refs = [row("manual:0,0,0,0,0,0", s, 0.55, 0.70, 0.40) for s in (0, 1, 2)]
    variant = "manual:0,0,0,0,1,0"  # another network of the manual grid: its own row
    variant_row = row(variant, 0, 0.60, 0.72, 0.45)
    view = script.class_view(rows, [*refs, variant_row])
    assert set(view["references"]) == {"manual", variant}
    assert view["references"][variant]["archs_above"] == [0, 0, 0, 0, 0, 0]
    assert view["columns"] == ["macro_f1", "macro_f1_nsv", "N", "S", "V", "F"]
    assert view["archs"] == 2
    assert view["space_mean"] == pytest.approx([0.55, 0.64, 0.9, 0.265, 0.8, 0.1])
    assert view["space_best"] == pytest.approx([0.58, 0.66, 0.9, 0.28, 0.8, 0.1])
    manual = view["references"]["manual"]
    assert manual["runs"] == 3 and manual["values"] == pytest.approx(
        [0.55, 0.70, 0.9, 0.4, 0.8, 0.1]
    )
    # b beats it on the four-class score only; ties (N, V, F) are not "above"
    assert manual["archs_above"] == [1, 0, 0, 0, 0, 0]
    lines = "\n".join(script._class_view_lines(view))
    assert "| manual | 3 | 0.550 (1) | 0.700 (0) | 0.900 (0) | 0.400 (0) |" in lines
    assert script.class_view(rows, []) is None and script._class_view_lines(None) == []
    # with parameter counts: each reference's, and the archs' rank correlation per column
    counts = {"a": 100, "b": 5000, "manual:0,0,0,0,0,0": 3616, variant: 3686}
    sized = script.class_view(rows, [*refs, variant_row], counts)
    assert sized["params_range"] == [100, 5000]
    assert sized["references"]["manual"]["params"] == 3616
    # b, the larger, leads on the four-class and N/S/V scores and S: +1; N, V, F tie: nan
    assert sized["params_spearman"][:2] == pytest.approx([1.0, 1.0])
    assert sized["params_spearman"][3] == pytest.approx(1.0)
    # the variant ran seed 0 only: the references again over that shared seed
    assert sized["shared_seeds"] == [0]
    assert sized["references"]["manual"]["values_shared_seeds"] == pytest.approx(
        [0.55, 0.70, 0.9, 0.4, 0.8, 0.1]
    )
    sized_lines = "\n".join(script._class_view_lines(sized))
    assert "over the training seeds all of them ran (0), like for like" in sized_lines
    assert "| manual | 1 | 0.550 | 0.700 |" in sized_lines
    assert "| manual, 3,616 parameters | 3 |" in sized_lines
    assert "Spearman with parameters (100-5,000)" in sized_lines
