"""Reports and the model card: the card renders from a bundle contract alone, and says what
kind of model it is (single model or cross-validation ensemble)."""

from __future__ import annotations

import json

import pytest

from ecgnas.classifier import load_classifier, shipped_bundle_path
from ecgnas.classifier.report import _inputs_text, model_card_from_contract
from ecgnas.data.inputs import InputConfig


def test_the_shipped_card_is_the_card_of_its_contract() -> None:
    path = shipped_bundle_path()
    contract = json.loads((path / "contract.json").read_text())
    card = (path / "MODEL_CARD.md").read_text()
    model = load_classifier(path).model
    params = sum(p.numel() for p in model.parameters())
    assert model_card_from_contract(contract, params) == card


def test_the_card_describes_an_ensemble_and_a_single_model_differently() -> None:
    contract = json.loads((shipped_bundle_path() / "contract.json").read_text())
    if "ensemble" not in contract:
        pytest.skip("the shipped bundle is a single model")
    card = model_card_from_contract(contract, 1000)
    assert "ensemble of 5 DS1 cross-validation folds" in card
    assert "early stopping" not in card
    single = {k: v for k, v in contract.items() if k != "ensemble"}
    single["training"] = {**contract["training"], "train_records": ["101"], "val_records": ["106"]}
    card1 = model_card_from_contract(single, 1000)
    assert "held-out DS1 records 106 for early stopping" in card1
    assert "ensemble" not in card1


def test_inputs_text_names_each_option() -> None:
    text = _inputs_text(
        InputConfig(
            rr_features="both",
            morphology=True,
            derivative=True,
            context_beats=2,
            polarity="canonical",
        )
    )
    for part in (
        "six RR-interval",
        "eight rhythm",
        "QRS width",
        "derivative",
        "2 neighbouring",
        "polarity",
    ):
        assert part in text
