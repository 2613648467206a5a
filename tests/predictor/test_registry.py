"""The predictor table matches the variants; unknown names are ``ConfigError``."""

from __future__ import annotations

import pytest

from ecgnas.errors import ConfigError
from ecgnas.predictor.registry import ENCODERS, PREDICTOR_NAMES, predictor_entry


def test_predictor_table_matches_the_variants() -> None:
    from ecgnas.predictor.finetune import CLFSettings
    from ecgnas.predictor.variants import VARIANTS

    assert tuple(VARIANTS) == PREDICTOR_NAMES
    assert PREDICTOR_NAMES[0] == "dcl"
    for name in PREDICTOR_NAMES:
        entry = predictor_entry(name)
        assert entry.encoder in ENCODERS
        assert VARIANTS[name].clf == CLFSettings(**entry.clf)
        assert VARIANTS[name].pretrained == entry.pretrained
    assert VARIANTS["dcl"].clf == CLFSettings(
        loss="rank", steps=300, lr=3e-3, encoder_lr_scale=0.0, members=1
    )
    with pytest.raises(ConfigError, match="unknown predictor 'x'; known: dcl, clf_only"):
        predictor_entry("x")
