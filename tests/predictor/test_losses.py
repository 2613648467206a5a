"""The contrastive and ranking losses on tiny inputs whose values are computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from ecgnas.predictor.losses import (
    cross_view_nce,
    list_mle,
    multi_positive_nce,
    pairwise_logistic,
)


def test_nt_xent_one_pair_by_hand() -> None:
    # rows 0 and 2 point the same way (cosine 1), row 1 is orthogonal (cosine 0).
    # Anchor 0: candidates 1 (s=0) and 2 (s=1, positive): -log(e / (1 + e)) = log(1 + e^-1).
    # Anchor 2 likewise; anchor 1 has no positive and does not count. Norms do not matter.
    z = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.5, 0.0]])
    positive = torch.tensor([[False, False, True], [False, False, False], [True, False, False]])
    loss = multi_positive_nce(z, positive, temperature=1.0)
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-6)


def test_supcon_two_positives_and_temperature_by_hand() -> None:
    # Four unit vectors: e1, e1, e1, e2. Anchor 0 has positives 1 and 2 (both s=1), the
    # negative 3 (s=0). With t=0.5 the logits are 2, 2, 0, so each positive has
    # log p = 2 - log(2 e^2 + 1), and l_0 = log(2 e^2 + 1) - 2; anchors 1 and 2 alike.
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    positive = torch.zeros(4, 4, dtype=torch.bool)
    positive[:3, :3] = True  # the diagonal is ignored by the loss
    loss = multi_positive_nce(z, positive, temperature=0.5)
    expected = math.log(2 * math.exp(2) + 1) - 2
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_multi_positive_without_any_positive_is_zero() -> None:
    z = torch.randn(3, 4)
    assert float(multi_positive_nce(z, torch.zeros(3, 3, dtype=torch.bool), 0.2)) == 0.0
    with pytest.raises(ValueError):
        multi_positive_nce(z, torch.zeros(3, 3, dtype=torch.bool), 0.0)


def test_cross_view_infonce_by_hand() -> None:
    # u = v = (e1, e2), t = 0.5: logits [[2, 0], [0, 2]], each row -log(e^2 / (e^2 + 1)),
    # both directions equal: log(1 + e^-2).
    u = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert float(cross_view_nce(u, v, 0.5)) == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-6)
    # every pair positive: l = -(log p_same + log p_other) / 2 = log(e^2 + 1) - 1
    allpos = torch.ones(2, 2, dtype=torch.bool)
    got = float(cross_view_nce(u, v, 0.5, positive=allpos))
    assert got == pytest.approx(math.log(math.exp(2) + 1) - 1, rel=1e-6)


def test_cross_view_is_symmetric_in_its_views() -> None:
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    assert float(cross_view_nce(u, v, 0.3)) == pytest.approx(float(cross_view_nce(v, u, 0.3)))


def test_pairwise_logistic_by_hand() -> None:
    pred = torch.tensor([0.0, 1.0, 3.0])
    target = torch.tensor([1.0, 2.0, 3.0])
    # pairs (better, worse): (1,0) margin 1, (2,0) margin 3, (2,1) margin 2
    terms = [math.log(1 + math.exp(-m)) for m in (1.0, 3.0, 2.0)]
    assert float(pairwise_logistic(pred, target)) == pytest.approx(sum(terms) / 3, rel=1e-6)
    # weighted by the score gaps 1, 2, 1
    target2 = torch.tensor([0.0, 1.0, 2.0])
    weighted = (1 * terms[0] + 2 * terms[1] + 1 * terms[2]) / 4
    got = float(pairwise_logistic(pred, target2, weight_by_gap=True))
    assert got == pytest.approx(weighted, rel=1e-6)


def test_pairwise_logistic_ties_and_order() -> None:
    # tied targets make no pair: only (2,0) and (2,1) count
    pred = torch.tensor([0.0, 2.0, 1.0])
    target = torch.tensor([1.0, 1.0, 5.0])
    expected = (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(1))) / 2
    assert float(pairwise_logistic(pred, target)) == pytest.approx(expected, rel=1e-6)
    assert float(pairwise_logistic(pred, torch.ones(3))) == 0.0
    # a correct order scores lower than the reverse order
    t = torch.arange(5.0)
    assert float(pairwise_logistic(t, t)) < float(pairwise_logistic(-t, t))


def test_list_mle_by_hand() -> None:
    # Target order: item 1 (best), item 2, item 0. Scores f = (0, 1, 2) in that order are
    # 1, 2, 0: terms log(e^1 + e^2 + e^0) - 1, log(e^2 + e^0) - 2, log(e^0) - 0; mean of 3.
    pred = torch.tensor([0.0, 1.0, 2.0])
    target = torch.tensor([0.1, 0.9, 0.5])
    expected = (math.log(math.e + math.e**2 + 1) - 1 + math.log(math.e**2 + 1) - 2 + 0.0) / 3
    assert float(list_mle(pred, target)) == pytest.approx(expected, rel=1e-6)


def test_list_mle_prefers_the_true_order_and_ignores_target_scale() -> None:
    target = torch.tensor([3.0, 1.0, 2.0, 0.0])
    right = torch.tensor([3.0, 1.0, 2.0, 0.0])
    wrong = torch.tensor([0.0, 2.0, 1.0, 3.0])
    assert float(list_mle(right, target)) < float(list_mle(wrong, target))
    assert float(list_mle(right, target)) == float(list_mle(right, torch.exp(target)))
    assert float(list_mle(torch.tensor([5.0]), torch.tensor([1.0]))) == 0.0
