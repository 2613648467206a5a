"""Fidelities of DS1 cross-validation: the full recipe, cheap proxies of it, and the
``mitbih_cv`` search evaluator (the joint ECG space's)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ecgnas.classifier.cv import cross_validate
from ecgnas.classifier.proxy import (
    FIDELITIES,
    FULL,
    PROXY,
    SIGNALS,
    BeatCache,
    CVEvaluator,
    Fidelity,
    build_cv_evaluator,
    cv_signals,
    cv_spec,
    get_fidelity,
)
from ecgnas.classifier.recipe import Hyperparams, Setup
from ecgnas.classifier.recipes import get_recipe
from ecgnas.data import mitbih
from ecgnas.data.splits import DS2
from ecgnas.errors import ConfigError
from ecgnas.evaluate import evaluator_kind
from ecgnas.spaces.ecgjoint import ECGJointSpace
from ecgnas.spaces.registry import get_space
from ecgnas.train.models import parse_arch

CELL = (5, 0, 0, 4, 6, 3)
TINY = Fidelity(folds=2, epochs=1, max_majority=200, val_majority=300)


def test_full_is_the_recipe_and_proxies_cut_costs() -> None:
    setup, hp = get_recipe("r3")
    arch, s, h = FULL.plan(parse_arch("manual"))
    assert arch == parse_arch("manual") and s == setup and h == hp
    assert PROXY in FIDELITIES and get_fidelity("full") is FULL
    # the signal-only variants train exactly as their base fidelity (tables rescore freely)
    for name, base, signal in (
        ("e2k2_n2v_ba", "e2k2_n2v", "balanced_accuracy"),
        ("e2k2_n2v_auc", "e2k2_n2v", "mean_auc"),
        ("e3k2_n2v_ba", "e3k2_n2v", "balanced_accuracy"),
    ):
        assert FIDELITIES[name] == replace(FIDELITIES[base], signal=signal)
    joint = ECGJointSpace().make(CELL, width=12, fs=96, channels="raw+derivative", rr="both")
    arch, s, h = Fidelity(
        folds=3, epochs=2, max_majority=0, width_divisor=4, fs=128, batch_size=256
    ).plan(joint)
    values = ECGJointSpace().values(arch)
    assert values["fs"] == 128 and values["width"] == 12 and arch.ops[:6] == CELL
    assert s.preprocess.fs == 128 and s.preprocess.window == 96
    assert s.inputs.derivative and s.inputs.raw and s.inputs.rr_features == "both"
    assert s.folds == 3 and s.max_majority is None and s.width == 3
    assert h.epochs == 2 and h.batch_size == 256 and h.lr == pytest.approx(2 * hp.lr)
    assert s.inputs.morphology == setup.inputs.morphology  # the recipe's own choices stay
    own = FULL.plan(joint)[1]
    assert own.preprocess.fs == 96 and own.preprocess.window == 72 and own.width is None


def test_bad_fidelities_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="at least 2 folds"):
        Fidelity(folds=1)
    with pytest.raises(ConfigError, match="unknown recipe"):
        Fidelity(recipe="r9")
    with pytest.raises(ConfigError, match="unknown fidelity"):
        get_fidelity("e9k9")
    with pytest.raises(ConfigError, match="not one of the ecgjoint rates"):
        Fidelity(fs=250).plan(ECGJointSpace().make(CELL))
    with pytest.raises(ConfigError, match="signal must be one of"):
        Fidelity(signal="accuracy")
    with pytest.raises(ConfigError, match="fidelity key"):
        Fidelity.from_json({"epochs": 2, "speed": "max"})
    assert Fidelity.from_json(TINY.to_json()) == TINY


def test_the_joint_space_evaluates_through_the_cv_kind() -> None:
    spec = cv_spec("ecgjoint", TINY, seed=2)
    assert evaluator_kind(spec).name == "mitbih_cv"
    assert evaluator_kind(spec).space_of(spec).name == "ecgjoint"
    with pytest.raises(ConfigError, match="needs an ECG space"):
        CVEvaluator(get_space("nb201"), TINY)


@pytest.mark.realdata
def test_evaluator_scores_a_joint_arch_on_ds1_only(
    real_data_dir: Path, shared_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    monkeypatch.setattr(mitbih, "on_record_access", lambda record, directory: seen.append(record))
    spec = cv_spec("ecgjoint", TINY, seed=2)
    evaluator = build_cv_evaluator(spec, real_data_dir, shared_cache_dir)
    arch = ECGJointSpace().make(CELL, width=4, context="neighbours", channels="raw+derivative")
    result = evaluator.evaluate(arch)
    assert 0.0 < result.score <= 1.0 and result.cost_seconds > 0
    assert {"cv_f1_N", "cv_f1_S", "cv_f1_V", "cv_f1_F", "params"} <= set(result.metrics)
    assert result.score == result.metrics["cv_macro_f1"]
    assert all(0.0 <= float(result.metrics[f"cv_f1_{c}"]) <= 1.0 for c in "NSVF")
    assert result.metrics["params"] > 1000
    assert not set(seen) & set(DS2)
    again = evaluator.evaluate(arch)  # the beat cache is reused, the run is deterministic
    assert again.score == result.score
    with pytest.raises(ConfigError, match="not a ecgjoint arch"):
        evaluator.evaluate(parse_arch("manual"))


@pytest.mark.realdata
def test_scoring_a_sample_of_held_out_n_beats_estimates_the_pooled_counts(
    real_data_dir: Path, shared_cache_dir: Path
) -> None:
    setup = Setup(max_majority=200, min_epochs=1, max_epochs=1, folds=2, cv="kfold")
    hp = Hyperparams(epochs=1, batch_size=256)
    beats = BeatCache(real_data_dir, shared_cache_dir).get(setup)
    arch = parse_arch("tiny")
    full = cross_validate(arch, hp, setup, 0, beats=beats, fast=True)
    sampled = cross_validate(arch, hp, setup, 0, beats=beats, fast=True, val_majority=2000)
    n = int((beats.y == 0).sum())
    assert (full.pred >= 0).all()
    assert (sampled.pred == -1).sum() == n - 2 * 2000  # two folds, 2,000 N beats scored each
    assert (sampled.pred[beats.y != 0] >= 0).all()
    # the same models (same seeds): S, V, F counts agree exactly, N is estimated
    assert np.array_equal(full.metrics.confusion[1:], sampled.metrics.confusion[1:])
    assert sampled.metrics.confusion[0].sum() == pytest.approx(n, abs=2)
    assert sampled.score == pytest.approx(full.score, abs=0.05)
    signals = cv_signals(full)
    assert set(signals) == set(SIGNALS) and signals["macro_f1"] == full.score
    assert signals["macro_f1_nsv"] == pytest.approx(np.nanmean(full.metrics.f1[:3]))
    assert signals["balanced_accuracy"] == pytest.approx(np.nanmean(full.metrics.se))
    assert 0.0 <= signals["mean_auc"] <= 1.0 and 0.0 <= cv_signals(sampled)["mean_auc"] <= 1.0


def test_signals_on_hand_made_predictions() -> None:
    from types import SimpleNamespace

    from ecgnas.train.metrics import classification_metrics

    y = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    record = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])
    perfect = np.eye(4)[y] * 5.0
    fold_a = SimpleNamespace(
        split=SimpleNamespace(val=("a",)), val_logits=perfect[:4], temperature=1.0
    )
    fold_b = SimpleNamespace(
        split=SimpleNamespace(val=("b",)), val_logits=perfect[4:], temperature=2.0
    )
    metrics = classification_metrics(y, y)
    cv = SimpleNamespace(
        pred=y.copy(),
        y=y,
        record=record,
        setup=SimpleNamespace(classes=("N", "S", "V", "F")),
        folds=[fold_a, fold_b],
        metrics=metrics,
        score=metrics.macro_f1,
    )
    assert cv_signals(cv) == {  # type: ignore[arg-type]
        "macro_f1": 1.0,
        "macro_f1_nsv": 1.0,
        "mean_auc": 1.0,
        "balanced_accuracy": 1.0,
    }
    fold_a.val_logits = -perfect[:4]
    fold_b.val_logits = -perfect[4:]
    assert cv_signals(cv)["mean_auc"] == 0.0  # type: ignore[arg-type]


def test_s_beats_per_record_on_hand_made_predictions() -> None:
    from types import SimpleNamespace

    from ecgnas.classifier.proxy import s_by_record
    from ecgnas.train.metrics import classification_metrics

    # record a: two S beats (one called S) and an N beat called S; record b: no S at all;
    # record c: one S beat called V
    y = np.array([1, 1, 0, 0, 2, 0, 1])
    pred = np.array([1, 0, 1, 0, 2, 0, 2])
    record = np.array(["a", "a", "a", "b", "b", "c", "c"])
    metrics = classification_metrics(y, pred, class_names=("N", "S", "V", "F"))
    cv = SimpleNamespace(y=y, pred=pred, record=record, metrics=metrics)
    assert s_by_record(cv) == {"a": [2, 1, 1], "c": [1, 0, 0]}  # type: ignore[arg-type]
    no_s = SimpleNamespace(
        y=y, pred=pred, record=record, metrics=replace(metrics, class_names=("N", "V"))
    )
    assert s_by_record(no_s) == {}  # type: ignore[arg-type]
