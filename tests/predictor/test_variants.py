"""The predictor factory: names, settings, the protocol, and every space."""

from __future__ import annotations

import numpy as np
import pytest

from ecgnas.errors import ConfigError
from ecgnas.predictor.base import Predictor
from ecgnas.predictor.encoder import EncoderSettings
from ecgnas.predictor.finetune import CLFSettings
from ecgnas.predictor.pretrain import CLPSettings, Pretrained, pretrain
from ecgnas.predictor.variants import PREDICTOR_NAMES, make_predictor, onehot_features
from ecgnas.spaces.nb201 import NB201Space
from ecgnas.spaces.registry import get_space

FAST_CLF = {"steps": 40}


def _tiny_pretrained(space) -> Pretrained:
    settings = CLPSettings(
        encoder=EncoderSettings(hidden=8, layers=2, emb_dim=8),
        proj_dim=4,
        epochs=1,
        batch_size=32,
        pool_size=64,
        n_mutants=2,
    )
    return pretrain(space, settings, seed=0)


def test_names() -> None:
    required = {
        "dcl",
        "gin_mse",
        "clf_only",
        "clp_mse",
        "path_mlp",
        "onehot_mlp_rank",
        "onehot_mlp_mse",
    }
    assert required <= set(PREDICTOR_NAMES)
    assert PREDICTOR_NAMES[0] == "dcl"


def test_unknown_names_and_settings_are_config_errors() -> None:
    space = NB201Space()
    with pytest.raises(ConfigError, match="unknown predictor 'nope'"):
        make_predictor("nope", space, 0)
    with pytest.raises(ConfigError, match="unknown predictor setting"):
        make_predictor("dcl", space, 0, learning_rate=1.0)
    with pytest.raises(ConfigError, match="unknown CLF setting"):
        make_predictor("dcl", space, 0, clf={"stepz": 3})
    with pytest.raises(ConfigError, match="loss"):
        make_predictor("dcl", space, 0, clf={"loss": "hinge"})
    with pytest.raises(ConfigError, match="temperature"):
        make_predictor("dcl", space, 0, clp={"temperature": 0.0})
    with pytest.raises(ConfigError):
        CLFSettings(steps=0)


def test_overrides_apply() -> None:
    p = make_predictor("dcl", NB201Space(), 0, clf={"members": 3}, clp={"epochs": 2}, clp_seed=4)
    assert p.clf.members == 3 and p.clf.loss == "rank"
    assert p.clp.epochs == 2 and p.clp_seed == 4


def test_fit_errors_and_score_before_fit() -> None:
    space = NB201Space()
    archs = space.enumerate()[:5]
    p = make_predictor("onehot_mlp_rank", space, 0)
    assert isinstance(p, Predictor)
    with pytest.raises(RuntimeError, match="fit"):
        p.score(archs)
    with pytest.raises(ConfigError, match="5 archs but 4 scores"):
        p.fit(archs, [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ConfigError, match="at least 2"):
        p.fit(archs[:1], [1.0])
    with pytest.raises(ConfigError, match="finite"):
        p.fit(archs, [1.0, 2.0, float("nan"), 4.0, 5.0])


@pytest.mark.parametrize("space_name", ["nb201", "nb101", "ecg1d"])
def test_every_variant_fits_and_scores_on_every_space(space_name: str) -> None:
    space = get_space(space_name)
    rng = np.random.default_rng(0)
    archs = []
    seen = set()
    while len(archs) < 40:
        a = space.sample(rng)
        if space.canonical(a) not in seen:
            seen.add(space.canonical(a))
            archs.append(a)
    # a score the graph determines: the number of nodes of the first op type
    scores = np.array([space.to_graph(a).x[:, 1].sum() for a in archs], dtype=np.float64)
    scores += 0.01 * np.arange(len(archs))  # no ties
    pre = _tiny_pretrained(space)
    for name in PREDICTOR_NAMES:
        p = make_predictor(name, space, seed=1, pretrained=pre, clf=FAST_CLF)
        p.fit(archs[:30], scores[:30])
        out = p.score(archs[30:])
        assert out.shape == (10,) and np.all(np.isfinite(out)), name
        again = make_predictor(name, space, seed=1, pretrained=pre, clf=FAST_CLF)
        again.fit(archs[:30], scores[:30])
        assert np.array_equal(again.score(archs[30:]), out), name
        assert p.score([]).shape == (0,)


def test_onehot_features() -> None:
    space = NB201Space()
    a = space.make([0, 1, 2, 3, 4, 0])
    f = onehot_features(space, [a], width=6)
    assert f.shape == (1, 30)
    assert np.flatnonzero(f[0]).tolist() == [0, 6, 12, 18, 24, 25]
    nb101 = get_space("nb101")
    cell = nb101.sample(np.random.default_rng(1))
    g = onehot_features(nb101, [cell], width=7)
    assert g.shape == (1, 7 * 5 + 21)
    n = len(cell.ops)
    assert g[0, : 7 * 5].sum() == n  # one op per vertex
    assert g[0, 35:].sum() == sum(map(sum, cell.matrix))  # every edge
