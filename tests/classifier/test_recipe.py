"""``Setup`` and ``Hyperparams``: JSON round trips, validation, and ``read_setup`` errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecgnas.classifier.recipe import Hyperparams, Setup, read_setup, with_overrides
from ecgnas.classifier.recipes import get_recipe
from ecgnas.errors import ConfigError


@pytest.mark.parametrize("name", ["v1", "r1", "r2"])
def test_json_round_trips(name: str) -> None:
    setup, hp = get_recipe(name)
    assert Setup.from_json(json.loads(json.dumps(setup.to_json()))) == setup
    assert Hyperparams.from_json(json.loads(json.dumps(hp.to_json()))) == hp


@pytest.mark.parametrize(
    "bad", [{"dropout": 1.0}, {"epochs": 0}, {"loss": "hinge"}, {"dropout": -0.1}]
)
def test_bad_hyperparameters(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Hyperparams(**bad)


@pytest.mark.parametrize(
    "bad",
    [{"cv": "loo"}, {"final": "vote"}, {"cv": "kfold", "folds": 1}, {"max_majority": 0}],
)
def test_bad_setups(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Setup(**bad)


def test_read_setup_and_its_one_line_errors(tmp_path: Path) -> None:
    good = tmp_path / "setup.json"
    good.write_text(json.dumps({"folds": 3, "cv": "kfold"}))
    assert read_setup(good) == Setup(folds=3, cv="kfold")
    cases = {
        "missing.json": None,
        "bad.json": "{not json",
        "list.json": "[1, 2]",
        "unknown.json": json.dumps({"nosuch": 1}),
    }
    messages = []
    for name, text in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text)
        with pytest.raises(ConfigError) as exc:
            read_setup(tmp_path / name)
        messages.append(str(exc.value))
    assert all("\n" not in m for m in messages), messages
    assert all(name in m for name, m in zip(cases, messages))
    assert messages[0].startswith("cannot read setup file")
    assert "not valid JSON" in messages[1] and "one JSON object" in messages[2]
    assert messages[3].endswith("unknown.json: unknown setup key(s): nosuch")


def test_with_overrides_applies_only_given_values() -> None:
    setup = Setup()
    assert with_overrides(setup, folds=None) == setup
    assert with_overrides(setup, folds=7).folds == 7
