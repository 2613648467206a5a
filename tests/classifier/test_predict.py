"""``predict_record`` and ``ecgnas predict`` on real MIT-BIH records with a tiny trained bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgnas import load_classifier
from ecgnas.data.dataset import load_beats
from ecgnas.data.mitbih import quiet_wfdb, read_annotations
from ecgnas.errors import ConfigError, DataError

pytestmark = pytest.mark.realdata

RECORD = "100"  # a DS2 record: 2,273 annotated beats, 2 of them too close to the edges


@pytest.fixture(scope="module")
def classifier(trained_bundle: Path):
    return load_classifier(trained_bundle)


def test_reference_mode_gives_one_row_per_beat_with_the_training_preprocessing(
    classifier, mitdb_dir: Path, real_data_dir: Path, shared_cache_dir: Path
) -> None:
    pred = classifier.predict_record(mitdb_dir / RECORD)
    # the data pipeline's beats of the same record (what training and the DS2 test use)
    beats = load_beats([RECORD], data_dir=real_data_dir, cache_dir=shared_cache_dir)
    assert len(pred) == len(beats) == 2271 and pred.dropped_edge == 2
    assert np.array_equal(pred.sample, beats.sample)
    assert pred.reference is not None
    assert pred.reference.tolist() == [beats.classes[i] for i in beats.y]
    np.testing.assert_allclose(pred.probabilities.sum(axis=1), 1.0, atol=1e-5)
    want = classifier.probabilities(classifier.logits(beats.x, beats.rr))
    np.testing.assert_allclose(pred.probabilities, want, atol=1e-6)
    assert sum(pred.counts().values()) == len(pred)
    m = pred.metrics()
    assert m is not None and int(m.support.sum()) == len(pred)


def test_signal_at_250_hz_gives_positions_in_250_hz_samples(classifier, mitdb_dir: Path) -> None:
    import wfdb
    from scipy.signal import resample_poly

    with quiet_wfdb():
        rec = wfdb.rdrecord(str(mitdb_dir / RECORD), channels=[0])
    assert rec.sig_name == ["MLII"]
    sig250 = resample_poly(rec.p_signal[:, 0], 25, 36)
    pred = classifier.predict_record(signal=sig250, fs=250)
    assert pred.fs == 250 and pred.rpeaks == "detector" and pred.reference is None
    assert pred.sample.max() < sig250.size and np.all(np.diff(pred.sample) > 0)
    # every detection lies within 60 ms of an annotated beat position rescaled to 250 Hz
    ann, symbols = read_annotations(RECORD, mitdb_dir.parent)
    ref250 = np.sort(np.rint(ann[[s in "NAV" for s in symbols]] * 250 / 360))
    nearest = np.abs(
        ref250[np.clip(np.searchsorted(ref250, pred.sample), 0, ref250.size - 1)] - pred.sample
    )
    left = np.abs(
        ref250[np.clip(np.searchsorted(ref250, pred.sample) - 1, 0, ref250.size - 1)] - pred.sample
    )
    assert np.minimum(nearest, left).max() <= 0.06 * 250
    assert abs(len(pred) - 2271) <= 5
    np.testing.assert_allclose(pred.probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_a_record_at_250_hz_keeps_its_annotated_positions(
    classifier, mitdb_dir: Path, tmp_path: Path
) -> None:
    import wfdb
    from scipy.signal import resample_poly

    with quiet_wfdb():
        rec = wfdb.rdrecord(str(mitdb_dir / RECORD), channels=[0])
        atr = wfdb.rdann(str(mitdb_dir / RECORD), "atr")
    sig250 = resample_poly(rec.p_signal[:, 0], 25, 36)
    ann250 = np.rint(np.asarray(atr.sample) * 250 / 360).astype(np.int64)
    with quiet_wfdb():
        wfdb.wrsamp(
            "r250",
            fs=250,
            units=["mV"],
            sig_name=["MLII"],
            p_signal=sig250[:, None],
            fmt=["16"],
            write_dir=str(tmp_path),
        )
        wfdb.wrann("r250", "atr", ann250, symbol=list(atr.symbol), write_dir=str(tmp_path))
    pred = classifier.predict_record(tmp_path / "r250")
    assert pred.fs == 250 and pred.rpeaks == "reference"
    beat = np.isin(np.asarray(atr.symbol), list("NLRejAaJSVEF/fQ"))
    kept = ann250[beat][1:-1]  # the first and last beats' windows fall off the record
    assert np.array_equal(pred.sample, kept)
    assert len(pred) == 2271 and pred.reference is not None


def test_detector_mode_on_a_record_labels_matched_beats(classifier, mitdb_dir: Path) -> None:
    pred = classifier.predict_record(mitdb_dir / RECORD, rpeaks="detector")
    assert pred.rpeaks == "detector" and pred.reference is not None
    matched = pred.reference != ""
    assert matched.mean() > 0.99
    assert sum(pred.missed_reference.values()) <= 5


def test_bad_inputs_are_refused(classifier, mitdb_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="either a record path or a signal"):
        classifier.predict_record()
    with pytest.raises(ConfigError, match="sampling rate"):
        classifier.predict_record(signal=np.zeros(5000))
    with pytest.raises(ConfigError, match="no reference annotations"):
        classifier.predict_record(signal=np.sin(np.arange(20000) / 30), fs=360, rpeaks="reference")
    with pytest.raises(DataError, match="no WFDB record"):
        classifier.predict_record(tmp_path / "100")
    with pytest.raises(DataError, match="no V1 lead"):
        classifier.predict_record(mitdb_dir / RECORD, lead="V1")
    with pytest.raises(DataError, match="flat"):
        classifier.predict_record(signal=np.zeros(20000), fs=360)


def test_cli_predict_prints_a_summary_and_writes_one_csv_row_per_beat(
    cli, trained_bundle: Path, mitdb_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "beats.csv"
    argv = ["predict", str(mitdb_dir / RECORD), "--bundle", str(trained_bundle), "--out", str(out)]
    assert cli(argv) == 0
    text = capsys.readouterr().out
    assert f"record {RECORD}: 2271 beats (reference R peaks, 360 Hz)" in text
    assert "class  predicted  reference     Se     +P" in text
    rows = out.read_text().splitlines()
    assert rows[0] == "sample,time_s,predicted,p_N,p_S,p_V,p_F,reference"
    assert len(rows) == 2272
    first = rows[1].split(",")
    assert first[0] == "370" and first[-1] == "N"
    assert sum(float(v) for v in first[3:7]) == pytest.approx(1.0, abs=1e-4)


def test_cli_predict_takes_a_mitbih_record_number_from_the_data_dir(
    cli, trained_bundle: Path, mitdb_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["predict", RECORD, "--bundle", str(trained_bundle)]
    assert cli([*argv, "--data-dir", str(mitdb_dir.parent)]) == 0
    assert f"record {RECORD}: 2271 beats" in capsys.readouterr().out
    # a number that is no MIT-BIH record, and a data dir without the record: one-line errors
    assert cli(["predict", "99999", "--bundle", str(trained_bundle)]) == 2
    assert cli([*argv, "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 2 and str(tmp_path / "mitdb" / RECORD) in err


def test_cli_predict_with_the_shipped_tiny_bundle(
    cli, mitdb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["predict", str(mitdb_dir / RECORD), "--bundle", "tiny"]) == 0
    text = capsys.readouterr().out
    assert f"record {RECORD}: 2271 beats (reference R peaks, 360 Hz)" in text
    macro = float(text.split("macro-F1 ")[1].split()[0])
    assert 0.0 <= macro <= 1.0 and "over 2271 reference beats" in text
