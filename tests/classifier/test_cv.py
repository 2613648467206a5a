"""DS1 cross-validation, the CV ensemble, and the new input options end to end: the bundle
contract, ``predict`` and the exports agree, and neither CV nor k-fold tuning reads DS2."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ecgnas.classifier import load_classifier, save_bundle
from ecgnas.classifier.cv import cross_validate, fit_ensemble
from ecgnas.classifier.export import export_onnx, export_program
from ecgnas.classifier.final import contract_for
from ecgnas.classifier.recipe import Hyperparams, Setup, as_arrays
from ecgnas.classifier.tune import tune
from ecgnas.data import mitbih
from ecgnas.data.dataset import load_beats
from ecgnas.data.inputs import InputConfig
from ecgnas.data.splits import DS1, DS2
from ecgnas.errors import ConfigError
from ecgnas.train.models import parse_arch

pytestmark = pytest.mark.realdata

TOL = 1e-4
TINY_HP = Hyperparams(epochs=1, batch_size=256, lr=3e-3, class_weight_power=0.0)
TINY = Setup(max_majority=300, min_epochs=1, max_epochs=1, patience=1, folds=2, cv="kfold")
INPUT_OPTIONS = {
    "rhythm_morphology": InputConfig(rr_features="rhythm", morphology=True),
    "derivative_context": InputConfig(rr_features="both", derivative=True, context_beats=1),
    "derivative_only_canonical": InputConfig(
        rr_features="rhythm", raw=False, derivative=True, polarity="canonical"
    ),
}


@pytest.fixture
def records_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every record whose raw files the data layer opens (through its one door)."""
    seen: list[str] = []
    monkeypatch.setattr(mitbih, "on_record_access", lambda record, directory: seen.append(record))
    return seen


@pytest.fixture(scope="module")
def ensemble_fit(real_data_dir: Path, shared_cache_dir: Path):
    """A 2-fold CV ensemble of the manual baseline with rhythm inputs, one short epoch."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    setup = replace(TINY, final="ensemble", inputs=INPUT_OPTIONS["rhythm_morphology"])
    try:
        return fit_ensemble(
            parse_arch("manual"),
            TINY_HP,
            setup,
            seed=1,
            data_dir=real_data_dir,
            cache_dir=shared_cache_dir,
        )
    finally:
        torch.set_num_threads(before)


def test_cross_validation_pools_out_of_fold_predictions_and_reads_ds1_only(
    real_data_dir: Path, shared_cache_dir: Path, records_read: list[str]
) -> None:
    arch = parse_arch("manual")
    cv = cross_validate(arch, TINY_HP, TINY, 0, data_dir=real_data_dir, cache_dir=shared_cache_dir)
    assert records_read and set(records_read) <= set(DS1)
    assert len(cv.folds) == 2 and (cv.pred >= 0).all()  # every beat predicted once
    val = [r for f in cv.folds for r in f.split.val]
    assert sorted(val) == sorted(DS1)  # each record held out exactly once
    for fold in cv.folds:  # the fold model never trained on its held-out records
        assert not set(fold.split.train) & set(fold.split.val)
        assert fold.temperature > 0 and len(fold.history) == TINY_HP.epochs
    pooled = cv.metrics.confusion.sum()
    assert pooled == len(cv.y) == sum(len(f.val_logits) for f in cv.folds)
    assert np.trace(cv.metrics.confusion) == int((cv.pred == cv.y).sum())


def test_cross_validation_refuses_ds2_beats(real_data_dir: Path, shared_cache_dir: Path) -> None:
    beats = load_beats(["100"], TINY.preprocess, data_dir=real_data_dir, cache_dir=shared_cache_dir)
    with pytest.raises(ConfigError, match="outside DS1"):
        cross_validate(parse_arch("manual"), TINY_HP, TINY, beats=beats)


def test_beats_of_another_preprocessing_are_refused(
    tmp_path: Path, real_data_dir: Path, shared_cache_dir: Path
) -> None:
    """Beats passed in must be prepared as the setup says: a joint arch's rate and window
    genes change the setup, so beats loaded for the recipe are refused, not trained on."""
    from ecgnas.classifier.final import fit_final
    from ecgnas.classifier.recipes import LOW_FS

    beats = load_beats(["101"], LOW_FS, data_dir=real_data_dir, cache_dir=shared_cache_dir)
    arch = parse_arch("manual")
    assert TINY.preprocess.fs != LOW_FS.fs
    mismatch = r"prepared otherwise than the setup says: fs 128.0 \(setup: 360.0\), window_before"
    with pytest.raises(ConfigError, match=mismatch):
        cross_validate(arch, TINY_HP, TINY, beats=beats)
    with pytest.raises(ConfigError, match=mismatch):
        tune(arch, 1, tmp_path, setup=TINY, beats=beats)
    with pytest.raises(ConfigError, match=mismatch):
        fit_final(arch, TINY_HP, replace(TINY, cv="holdout"), beats=beats)


def test_kfold_tuning_reads_no_ds2_record(
    tmp_path: Path, real_data_dir: Path, shared_cache_dir: Path, records_read: list[str]
) -> None:
    setup = replace(TINY, inputs=INPUT_OPTIONS["rhythm_morphology"])
    result = tune(
        parse_arch("manual"),
        1,
        tmp_path,
        setup=setup,
        seed=0,
        data_dir=real_data_dir,
        cache_dir=shared_cache_dir,
    )
    assert result.n_complete == 1 and 0.0 <= result.best_value <= 1.0
    assert records_read and not set(records_read) & set(DS2)


def test_ensemble_bundle_predict_and_exports_agree(
    ensemble_fit, tmp_path: Path, real_data_dir: Path, shared_cache_dir: Path
) -> None:
    import onnxruntime as ort
    import torch

    fit = ensemble_fit
    assert fit.ensemble is not None and fit.ensemble["members"] == 2 and fit.temperature == 1.0
    bundle = save_bundle(tmp_path / "b", fit.state_dict, contract_for(fit, None, "ens"), "# e\n")
    clf = load_classifier(bundle)
    assert clf.inputs == fit.setup.inputs
    # predict on a DS2 record path equals the model applied to the training pipeline's inputs
    pred = clf.predict_record(real_data_dir / "mitdb" / "100")
    beats = load_beats(
        ["100"], fit.setup.preprocess, data_dir=real_data_dir, cache_dir=shared_cache_dir
    )
    arrays = as_arrays(beats, fit.setup.inputs)
    want = clf.probabilities(clf.logits(arrays.x, arrays.rr))
    assert len(pred) == len(beats)
    assert np.abs(pred.probabilities - want).max() < TOL
    np.testing.assert_allclose(want.sum(axis=1), 1.0, atol=1e-5)
    # one ONNX graph for the whole ensemble
    session = ort.InferenceSession(str(export_onnx(clf, tmp_path / "m.onnx")))
    logits = clf.logits(arrays.x[:300], arrays.rr[:300])
    got, probs = session.run(None, {"beats": arrays.x[:300], "rr": arrays.rr[:300]})
    assert np.abs(got - logits).max() < TOL and np.abs(probs - want[:300]).max() < TOL
    program = torch.export.load(str(export_program(clf, tmp_path / "m.pt2"))).module()
    with torch.no_grad():
        out, _ = program(torch.from_numpy(arrays.x[:50]), torch.from_numpy(arrays.rr[:50]))
    assert np.abs(out.numpy() - logits[:50]).max() < TOL


@pytest.mark.parametrize("option", sorted(INPUT_OPTIONS))
def test_each_input_option_round_trips_through_bundle_predict_and_onnx(
    option: str, make_tiny, tmp_path: Path, real_data_dir: Path, shared_cache_dir: Path
) -> None:
    import onnxruntime as ort

    from ecgnas.classifier import preprocessing_contract
    from ecgnas.data.preprocess import PreprocessConfig
    from ecgnas.train.models import build_ecg_model, default_settings

    inputs = INPUT_OPTIONS[option]
    arch = parse_arch("ecg1d:5,0,0,4,6,3")
    settings = default_settings(arch, n_rr=inputs.n_rr, in_channels=inputs.n_channels)
    settings["width"] = 4
    model = build_ecg_model(arch, settings, seed=0).eval()
    _, contract = make_tiny()
    contract.update(
        arch=arch.to_json(),
        model_settings=settings,
        preprocessing=preprocessing_contract(PreprocessConfig(), inputs=inputs),
    )
    clf = load_classifier(save_bundle(tmp_path / "b", model.state_dict(), contract, "# t\n"))
    assert clf.inputs == inputs
    beats = load_beats(
        ["100"], PreprocessConfig(), data_dir=real_data_dir, cache_dir=shared_cache_dir
    )
    arrays = as_arrays(beats, inputs)
    assert arrays.x.shape[1:] == (inputs.n_channels, beats.window)
    assert arrays.rr.shape[1] == inputs.n_rr
    pred = clf.predict_record(real_data_dir / "mitdb" / "100")
    want = clf.probabilities(clf.logits(arrays.x, arrays.rr))
    assert np.abs(pred.probabilities - want).max() < TOL
    session = ort.InferenceSession(str(export_onnx(clf, tmp_path / "m.onnx")))
    logits, _ = session.run(None, {"beats": arrays.x[:200], "rr": arrays.rr[:200]})
    assert np.abs(logits - clf.logits(arrays.x[:200], arrays.rr[:200])).max() < TOL


def test_inverted_lead_gives_the_same_predictions_with_canonical_polarity(
    make_tiny, tmp_path: Path, real_data_dir: Path
) -> None:
    from ecgnas.classifier import preprocessing_contract
    from ecgnas.data.mitbih import read_record
    from ecgnas.data.preprocess import PreprocessConfig
    from ecgnas.train.models import build_ecg_model, default_settings

    inputs = InputConfig(rr_features="rhythm", derivative=True, polarity="canonical")
    arch = parse_arch("manual")
    settings = default_settings(arch, n_rr=inputs.n_rr, in_channels=inputs.n_channels)
    model = build_ecg_model(arch, settings, seed=0).eval()
    _, contract = make_tiny()
    contract.update(
        model_settings=settings,
        preprocessing=preprocessing_contract(PreprocessConfig(), inputs=inputs),
    )
    clf = load_classifier(save_bundle(tmp_path / "b", model.state_dict(), contract, "# t\n"))
    rec = read_record("100", real_data_dir)
    up = clf.predict_record(signal=rec.signal, fs=rec.fs, rpeaks="detector")
    down = clf.predict_record(signal=-rec.signal, fs=rec.fs, rpeaks="detector")
    same = np.intersect1d(up.sample, down.sample)
    assert len(same) > 0.95 * len(up)  # the detector finds (almost) the same beats
    a = up.probabilities[np.isin(up.sample, same)]
    b = down.probabilities[np.isin(down.sample, same)]
    assert np.mean(a.argmax(1) == b.argmax(1)) > 0.99
