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


def test_hard_view_reaches_the_head_past_a_blind_encoder() -> None:
    """``hard_view`` feeds the path encoding to the head beside the soft embedding: with a
    frozen encoder that sees nothing (all weights zero), a score set by one macro gene of
    ``ecgjoint`` is learned only with it, and the pre-trained weights stay in use."""
    from dataclasses import replace

    import torch
    from scipy.stats import kendalltau

    from ecgnas.spaces.cell import N_EDGES

    space = get_space("ecgjoint")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(60)]
    context = N_EDGES + 3  # the context window's gene
    levels = np.array([a.ops[context] for a in archs], dtype=np.float64)
    scores = levels + 0.001 * np.arange(len(archs))
    pre = _tiny_pretrained(space)
    blind = replace(pre, state={k: torch.zeros_like(v) for k, v in pre.state.items()})
    clf = {"steps": 150, "lr": 1e-2}
    taus = {}
    for hard in (False, True):
        p = make_predictor("dcl", space, 0, pretrained=blind, clf={**clf, "hard_view": hard})
        p.fit(archs[:40], scores[:40])
        out = p.score(archs[40:])
        taus[hard] = 0.0 if np.ptp(out) < 1e-9 else kendalltau(out, levels[40:])[0]
    assert taus[False] == 0.0
    assert taus[True] > 0.5
    # with the real (non-zero) weights the soft encoder is loaded, not re-initialised
    p = make_predictor("dcl", space, 0, pretrained=pre, clf={**clf, "hard_view": True})
    p.fit(archs[:40], scores[:40])
    soft = p._scorer.encoders[0].soft
    assert all(torch.equal(soft.state_dict()[k], v) for k, v in pre.state.items())


def test_hard_view_defaults_on_for_macro_spaces_only() -> None:
    """``hard_view=None`` (the default) means on for ``ecgjoint`` (macro genes), off for the
    cell spaces; an explicit setting wins."""
    from ecgnas.predictor.finetune import CLFSettings
    from ecgnas.predictor.variants import uses_hard_view

    assert CLFSettings().hard_view is None
    assert uses_hard_view(None, get_space("ecgjoint"))
    from ecgnas.benchmarks.ecg_table import ECGTableSpace

    joint = get_space("ecgjoint")
    table = ECGTableSpace([joint.sample(np.random.default_rng(0))])
    assert uses_hard_view(None, table)  # the ECG benchmark's space: a restriction of ecgjoint
    assert not uses_hard_view(None, get_space("nb201"))
    assert not uses_hard_view(None, get_space("ecg1d"))
    assert not uses_hard_view(False, get_space("ecgjoint"))
    assert uses_hard_view(True, get_space("nb201"))


def test_the_dcl_head_is_linear_with_an_l2_prior_on_the_joint_ecg_space_only() -> None:
    """``DCL_HEAD_BY_SPACE``: the DCL predictors on ``ecgjoint`` (and the ECG table, whose
    encoder is the joint space's) get a linear head with a coupled L2 prior; other spaces
    and other predictors keep theirs; an explicit setting wins; reports show it."""
    from ecgnas.benchmarks.ecg_table import ECGTableSpace
    from ecgnas.predictor.variants import describe

    joint = get_space("ecgjoint")
    table = ECGTableSpace([joint.sample(np.random.default_rng(0))])
    for name in ("dcl", "dcl_eff"):
        for space in (joint, table):
            clf = make_predictor(name, space, 0).clf
            assert (clf.head_hidden, clf.l2, clf.lr) == (0, 0.1, 1e-2), (name, space.name)
        nb201 = make_predictor(name, get_space("nb201"), 0).clf
        assert (nb201.head_hidden, nb201.l2, nb201.lr) == (64, 0.0, 3e-3)
    for name in ("clp_mse", "path_mlp_rank", "gin_mse"):
        assert make_predictor(name, joint, 0).clf.head_hidden == 64, name
    assert make_predictor("dcl", joint, 0, clf={"head_hidden": 32}).clf.head_hidden == 32
    assert make_predictor("dcl", joint, 0, clf={"head_hidden": 32}).clf.l2 == 0.1
    assert describe("dcl", table)["clf"]["head_hidden"] == 0
    assert describe("dcl")["clf"]["head_hidden"] == 64
    assert describe("dcl", table, clf={"l2": 0.5})["clf"]["l2"] == 0.5
