"""``scripts/ecg_robustness.py``: the perturbations do what the report says, the matching
counts add up, and a small run on record 100 writes a well-formed report."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from ecgnas.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ecg_robustness.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script(SCRIPT)


def _ecg_like(n: int = 360 * 600) -> np.ndarray:
    t = np.arange(n) / 360.0
    beats = np.exp(-(((t % 0.8) - 0.4) ** 2) / (2 * 0.01**2))  # a spike every 0.8 s
    return 1.2 * beats + 0.1 * np.sin(2 * np.pi * 1.1 * t) - 0.3


@pytest.mark.parametrize("snr", [24, 12, 6])
def test_noise_has_the_target_snr(script: ModuleType, snr: int) -> None:
    x = _ecg_like()
    y, fs = script.perturb(f"noise_{snr}db", x, 360.0, seed=1, record="100")
    assert fs == 360.0
    noise = y - x
    measured = 10 * np.log10(script.signal_power(x) / np.mean(noise**2))
    assert abs(measured - snr) < 0.2
    assert abs(noise.mean()) < 0.01 * noise.std()
    again, _ = script.perturb(f"noise_{snr}db", x, 360.0, seed=1, record="100")
    other, _ = script.perturb(f"noise_{snr}db", x, 360.0, seed=1, record="103")
    assert np.array_equal(y, again) and not np.array_equal(y, other)


def test_gain_inversion_and_resampling(script: ModuleType) -> None:
    x = _ecg_like()
    assert np.array_equal(script.perturb("inverted", x, 360.0, 0, "100")[0], -x)
    assert np.array_equal(script.perturb("gain_0.5", x, 360.0, 0, "100")[0], 0.5 * x)
    assert np.array_equal(script.perturb("gain_2", x, 360.0, 0, "100")[0], 2 * x)
    assert np.array_equal(script.perturb("clean", x, 360.0, 0, "100")[0], x)
    for new_fs in (250, 500):
        y, fs = script.perturb(f"fs_{new_fs}", x, 360.0, 0, "100")
        assert fs == new_fs
        assert y.size == -(-x.size * new_fs // 360)  # ceil(n * new / 360)
        # a spike stays where it was in seconds
        peak_s = np.argmax(y[: new_fs * 2]) / new_fs
        assert abs(peak_s - np.argmax(x[:720]) / 360.0) < 2.0 / new_fs


def test_wander_and_hum(script: ModuleType) -> None:
    x = _ecg_like()
    wander = script.perturb("baseline_wander", x, 360.0, 0, "100")[0] - x
    assert np.abs(wander).max() <= sum(script.WANDER_MV) + 1e-9
    assert np.abs(wander).max() > 0.5
    spectrum = np.abs(np.fft.rfft(wander))
    freqs = np.fft.rfftfreq(wander.size, 1 / 360.0)
    top = sorted(freqs[np.argsort(spectrum)[-3:]])
    assert np.allclose(top, script.WANDER_HZ, atol=2 / 600)
    hum = script.perturb("mains_hum", x, 360.0, 0, "100")[0] - x
    assert np.isclose(np.abs(hum).max(), script.MAINS_MV, rtol=0.02)
    spectrum = np.abs(np.fft.rfft(hum))
    assert np.isclose(np.fft.rfftfreq(hum.size, 1 / 360.0)[spectrum.argmax()], 60.0)


def test_score_detections_counts(script: ModuleType) -> None:
    ref = np.array([100, 400, 700, 1000, 1300])
    ref_class = np.array([0, 1, 4, 2, 0])  # N S Q V N
    det = np.array([105, 395, 702, 860, 1290])  # 1000 missed, 860 a false positive
    pred = np.array([0, 0, 0, 2, 0])
    y, p, missed, fp = script.score_detections(det, pred, ref, ref_class, ("N", "S", "V", "F"), 54)
    assert y.tolist() == [0, 1, 0]  # the Q beat is matched but not scored
    assert p.tolist() == [0, 0, 0]
    assert missed.tolist() == [0, 0, 1, 0, 0] and fp == 1


def test_small_run_writes_the_report(
    script: ModuleType, real_data_dir: Path, tmp_path: Path
) -> None:
    argv = ["--records", "100", "--conditions", "clean,inverted,fs_250", "--seconds", "240"]
    argv += ["--out", str(tmp_path), "--threads", "1", "--data-dir", str(real_data_dir)]
    script.main(argv)
    report = json.loads((tmp_path / "ecg_robustness.json").read_text())
    rows = ["reference_peaks", "clean", "inverted", "fs_250"]
    assert report["conditions"] == rows and sorted(report["results"]) == sorted(rows)
    assert report["records"] == ["100"] and report["split"] == "DS2"
    bundle = report["bundle"]
    assert bundle["weights_sha256"] == bundle["contract_weights_sha256"]
    assert set(report["definitions"]) == {"clean", "inverted", "fs_250"}
    for name in rows:
        row = report["results"][name]
        m = row["metrics"]
        assert m["class_names"] == ["N", "S", "V", "F"]
        support = sum(m["per_class"][c]["support"] for c in m["class_names"])
        assert support == row["matched"] == int(np.sum(m["confusion"]))
        assert row["matched"] == sum(r["matched"] for r in row["per_record"].values())
        assert row["matched"] > 250  # 240 s of record 100, ~75 beats a minute
        if name != "reference_peaks":
            assert row["matched"] + row["false_positives"] <= row["detections"]
            assert row["missed"] == sum(row["missed_per_class"].values())
    clean = report["results"]["clean"]
    assert 0.0 <= clean["metrics"]["macro_f1"] <= 1.0
    assert clean["delta_macro_f1"] == 0.0
    assert clean["missed"] <= 2 and clean["false_positives"] <= 2
    text = (tmp_path / "ecg_robustness.md").read_text()
    assert "DS2 test figures" in text and "--conditions clean,inverted,fs_250" in text
    assert bundle["weights_sha256"] in text
