"""Named recipes: the names, unknown names, and what ``r2`` is."""

from __future__ import annotations

import pytest

from ecgnas.classifier.recipe import Hyperparams, Setup
from ecgnas.classifier.recipes import LOW_FS, RECIPE_NAMES, get_recipe
from ecgnas.errors import ConfigError


def test_names_and_v1_is_the_default_recipe() -> None:
    assert RECIPE_NAMES == ("v1", "r1", "r2", "r3")
    assert get_recipe("v1") == (Setup(), Hyperparams())
    for name in RECIPE_NAMES:
        setup, hp = get_recipe(name)
        assert isinstance(setup, Setup) and isinstance(hp, Hyperparams)


def test_unknown_recipe_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"^unknown recipe 'r9'; known: v1, r1, r2, r3$"):
        get_recipe("r9")


def test_r2_is_an_ensemble_of_kfold_models_with_rhythm_inputs() -> None:
    setup, hp = get_recipe("r2")
    assert setup.final == "ensemble" and setup.cv == "kfold" and setup.folds == 5
    assert setup.inputs.rr_features == "rhythm" and setup.inputs.morphology
    assert setup.preprocess == LOW_FS and setup.preprocess.fs == 128.0
    assert setup.min_epochs == setup.max_epochs == hp.epochs
    r1, _ = get_recipe("r1")
    assert r1.final != "ensemble" and r1.inputs.rr_features == "rhythm"


def test_r3_is_r2_with_a_band_pass() -> None:
    from dataclasses import replace

    r2, hp2 = get_recipe("r2")
    r3, hp3 = get_recipe("r3")
    assert r3.preprocess.bandpass and not r2.preprocess.bandpass
    assert replace(r3, preprocess=r2.preprocess) == r2 and hp3 == hp2
