"""CLF learns the order of a perfectly ordered toy problem; fits are deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

from ecgnas.predictor.encoder import EncoderSettings
from ecgnas.predictor.pretrain import CLPSettings, Pretrained, pretrain
from ecgnas.predictor.variants import make_predictor
from ecgnas.spaces.nb201 import NB201Space


@pytest.fixture(scope="module")
def toy() -> tuple[NB201Space, list, np.ndarray, np.ndarray, np.ndarray]:
    """NB201 cells scored by a known rule: conv3x3 count + 0.3 * conv1x1 count."""
    space = NB201Space()
    archs = space.enumerate()
    ops = space.ops_array(archs)
    score = (ops == 3).sum(axis=1) + 0.3 * (ops == 2).sum(axis=1)
    perm = np.random.default_rng(0).permutation(len(archs))
    return space, archs, score, perm[:100], perm[100:2100]


@pytest.fixture(scope="module")
def tiny_encoder(toy) -> Pretrained:
    space = toy[0]
    settings = CLPSettings(
        encoder=EncoderSettings(hidden=32, layers=4, emb_dim=32, readout="sum"),
        epochs=2,
        batch_size=128,
        pool_size=1024,
    )
    return pretrain(space, settings, seed=0)


def _tau(predictor, toy) -> float:
    space, archs, score, lab, test = toy
    predictor.fit([archs[i] for i in lab], score[lab])
    pred = predictor.score([archs[i] for i in test])
    assert pred.shape == (len(test),) and pred.dtype == np.float64
    return float(kendalltau(pred, score[test]).statistic)


def test_clf_learns_a_perfect_order_from_100_labels(toy) -> None:
    # Counting ops needs the sum readout (the default mean readout reaches ~0.84 here; it
    # ranks the real NB201 cells better, see reports/predictor_nb201_cifar10-valid.md).
    counting = {"encoder": {"readout": "sum"}}
    assert _tau(make_predictor("clf_only", toy[0], seed=0, clp=counting), toy) > 0.9


def test_clf_on_a_pretrained_encoder_learns_the_order(toy, tiny_encoder) -> None:
    predictor = make_predictor(
        "dcl", toy[0], seed=0, pretrained=tiny_encoder, clf={"encoder_lr_scale": 1.0}
    )
    assert _tau(predictor, toy) > 0.9


def test_fit_is_deterministic_and_ignores_global_rng(toy, tiny_encoder) -> None:
    space, archs, score, lab, test = toy
    few = [archs[i] for i in lab[:30]]
    probe = [archs[i] for i in test[:200]]
    outs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        p = make_predictor("dcl", space, seed=4, pretrained=tiny_encoder)
        p.fit(few, score[lab[:30]])
        outs.append(p.score(probe))
    assert outs[0].tobytes() == outs[1].tobytes()
    other = make_predictor("dcl", space, seed=5, pretrained=tiny_encoder)
    other.fit(few, score[lab[:30]])
    assert not np.array_equal(other.score(probe), outs[0])


def test_only_the_order_of_scores_matters_for_ranking_variants(toy, tiny_encoder) -> None:
    """A monotone transform of the labels gives exactly the same ranking fit."""
    space, archs, score, lab, test = toy
    few = [archs[i] for i in lab[:40]]
    probe = [archs[i] for i in test[:300]]
    a = make_predictor("dcl", space, seed=0, pretrained=tiny_encoder)
    a.fit(few, score[lab[:40]])
    b = make_predictor("dcl", space, seed=0, pretrained=tiny_encoder)
    b.fit(few, np.exp(score[lab[:40]]))  # same order, different values
    assert a.score(probe).tobytes() == b.score(probe).tobytes()


def test_effective_cells_share_one_score(toy, tiny_encoder) -> None:
    """Cells differing only on a dead edge compute one function: with ``effective`` they get
    one score, without it (the default) the encoder sees two graphs."""
    space, archs, score, lab, _ = toy
    a = space.make((0, 3, 2, 3, 0, 3))  # node 1 receives nothing, so edge 1->2 is dead
    b = space.make((0, 3, 1, 3, 0, 3))
    few = [archs[i] for i in lab[:30]]
    scores = {}
    for effective in (False, True):
        p = make_predictor(
            "dcl", space, seed=0, pretrained=tiny_encoder, clf={"effective": effective}
        )
        p.fit(few, score[lab[:30]])
        scores[effective] = p.score([a, b])
    assert scores[True][0] == scores[True][1]
    assert scores[False][0] != scores[False][1]


def test_ensemble_members_spread_and_mean(toy, tiny_encoder) -> None:
    space, archs, score, lab, test = toy
    p = make_predictor("dcl", space, seed=0, pretrained=tiny_encoder, clf={"members": 3})
    p.fit([archs[i] for i in lab[:30]], score[lab[:30]])
    probe = [archs[i] for i in test[:50]]
    members = p.score_members(probe)
    assert members.shape == (3, 50) and members.dtype == np.float64
    np.testing.assert_allclose(members.mean(axis=0), p.score(probe), rtol=1e-12)
    assert members.std(axis=0).min() > 0  # independently initialised heads disagree
    assert p.score_members([]).shape == (3, 0)


def test_listmle_head_learns_the_order(toy, tiny_encoder) -> None:
    predictor = make_predictor(
        "dcl",
        toy[0],
        seed=0,
        pretrained=tiny_encoder,
        clf={"loss": "listmle", "encoder_lr_scale": 1.0},
    )
    assert _tau(predictor, toy) > 0.85


def test_l2_shrinks_the_head_and_must_not_be_negative(toy, tiny_encoder) -> None:
    """``CLFSettings.l2`` adds a coupled L2 penalty on the head's weights: the fitted
    linear head is smaller with it, and the order is still learned."""
    from ecgnas.errors import ConfigError
    from ecgnas.predictor.finetune import CLFSettings

    norms = {}
    for l2 in (0.0, 1.0):
        clf = {"head_hidden": 0, "l2": l2, "lr": 1e-2}
        predictor = make_predictor("dcl", toy[0], seed=0, pretrained=tiny_encoder, clf=clf)
        tau = _tau(predictor, toy)
        norms[l2] = float(torch.linalg.norm(predictor._scorer.heads[0].weight.detach()))
        assert tau > 0.5, l2
    assert norms[1.0] < 0.5 * norms[0.0]
    with pytest.raises(ConfigError, match="l2 must be >= 0"):
        CLFSettings(l2=-0.1)
