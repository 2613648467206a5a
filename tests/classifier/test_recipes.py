"""Named recipes: the names, unknown names, and what ``r2`` is."""

from __future__ import annotations

import pytest

from ecgnas.classifier.recipe import Hyperparams, Setup
from ecgnas.classifier.recipes import LOW_FS, RECIPE_NAMES, get_recipe
from ecgnas.errors import ConfigError


def test_names_and_v1_is_the_default_recipe() -> None:
    assert RECIPE_NAMES == ("v1", "r1", "r2", "r3", "r3p8", "r3h", "r3mp", "r3mph")
    assert get_recipe("v1") == (Setup(), Hyperparams())
    for name in RECIPE_NAMES:
        setup, hp = get_recipe(name)
        assert isinstance(setup, Setup) and isinstance(hp, Hyperparams)


def test_unknown_recipe_lists_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"^unknown recipe 'r9'; known: v1, r1, r2, r3, r3p8, r3h, r3mp, r3mph$"
    ):
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


def test_r3p8_and_r3h_change_only_the_cell_network_head_and_older_setups_read_as_before() -> None:
    from dataclasses import replace

    r3, hp3 = get_recipe("r3")
    r3p8, hp = get_recipe("r3p8")
    r3h, hph = get_recipe("r3h")
    assert r3p8.pool_bins == 8 and r3h.head_hidden == 32
    assert replace(r3p8, pool_bins=None) == r3 == replace(r3h, head_hidden=None)
    assert hp == hph == hp3
    # older setups (and their hashes) are unchanged: the new keys are left out when unset
    assert "pool_bins" not in r3.to_json() and "head_hidden" not in r3.to_json()
    assert Setup.from_json(r3p8.to_json()) == r3p8 and Setup.from_json(r3h.to_json()) == r3h
    with pytest.raises(ConfigError, match="pool_bins must be >= 1"):
        Setup(pool_bins=0)
    with pytest.raises(ConfigError, match="head_hidden must be >= 0"):
        Setup(head_hidden=-1)
    with pytest.raises(ConfigError, match="reduction must be one of resblock, maxpool"):
        Setup(reduction="strided")


def test_r3mp_and_r3mph_change_only_the_cell_networks_reductions_and_head() -> None:
    from dataclasses import replace

    from ecgnas.classifier.recipe import model_settings
    from ecgnas.train.models import default_settings, parse_arch

    r3, hp3 = get_recipe("r3")
    r3h, _ = get_recipe("r3h")
    r3mp, hp = get_recipe("r3mp")
    r3mph, hph = get_recipe("r3mph")
    assert r3mp.reduction == r3mph.reduction == "maxpool" and hp == hph == hp3
    assert replace(r3mp, reduction=None) == r3 and replace(r3mph, reduction=None) == r3h
    assert "reduction" not in r3.to_json() and Setup.from_json(r3mp.to_json()) == r3mp
    joint = parse_arch("ecgjoint:4,1,0,6,0,6,1,0,0,1,0,1,0")
    assert "reduction" not in default_settings(joint)  # models from before it read the same
    assert "reduction" not in model_settings(joint, r3, 0.1)
    assert model_settings(joint, r3mp, 0.1) == model_settings(joint, r3, 0.1) | {
        "reduction": "maxpool"
    }
    manual = parse_arch("manual")
    assert model_settings(manual, r3mph, 0.1) == model_settings(manual, r3, 0.1)
