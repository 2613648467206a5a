"""Losses of the DCL predictor: contrastive (pre-training) and ranking (fine-tuning).

All functions take float tensors and return a scalar tensor (a mean over the terms that
exist); none has hidden state or randomness.

Notation: ``z`` are embeddings, L2-normalised inside the contrastive losses, ``s_ij = z_i . z_j``
their cosine similarity and ``t`` the temperature.

* ``multi_positive_nce`` (SupCon, Khosla et al. 2020; NT-Xent when each anchor has exactly
  one positive): for anchor ``i`` with positive set ``P(i)`` and candidate set ``A(i)`` (all
  other rows),
  ``l_i = -1/|P(i)| sum_{p in P(i)} log( exp(s_ip/t) / sum_{a in A(i)} exp(s_ia/t) )``;
  the loss is the mean of ``l_i`` over anchors with at least one positive.
* ``cross_view_nce``: the same between two views ``u`` (anchors) and ``v`` (candidates), made
  symmetric: ``(nce(u -> v) + nce(v -> u)) / 2`` with ``s_ij = u_i . v_j``; row ``i`` of ``u``
  and ``v`` are two views of the same arch, and ``positive`` may add more positives (e.g. other
  archs with an identical hard view, which must not be pushed apart).
* ``pairwise_logistic`` (RankNet): over every labelled pair with ``y_i > y_j``,
  ``softplus(-(f_i - f_j))``, optionally weighted by ``|y_i - y_j|``; weighted mean.
* ``list_mle`` (ListMLE, Xia et al. 2008), listwise: the negative log-likelihood of the
  true order under the Plackett-Luce model of the scores, ``1/n sum_k (log sum_{m >= k}
  exp f_(m) - f_(k))`` with ``(k)`` the item ranked ``k``-th by the target.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _nce_from_logits(logits: torch.Tensor, positive: torch.Tensor, self_mask: bool) -> torch.Tensor:
    """Mean multi-positive NCE loss from similarity logits ``[n, m]`` and a bool mask."""
    if self_mask:
        eye = torch.eye(logits.shape[0], logits.shape[1], dtype=torch.bool, device=logits.device)
        logits = logits.masked_fill(eye, float("-inf"))
        positive = positive & ~eye
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    n_pos = positive.sum(dim=1)
    has = n_pos > 0
    if not bool(has.any()):
        return logits.new_zeros(())
    pos_sum = torch.where(positive, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
    return -(pos_sum[has] / n_pos[has]).mean()


def multi_positive_nce(z: torch.Tensor, positive: torch.Tensor, temperature: float) -> torch.Tensor:
    """SupCon / NT-Xent within one set of views.

    z:
        float ``[n, d]`` embeddings (normalised here).
    positive:
        bool ``[n, n]``; ``positive[i, j]`` marks ``j`` as a positive of anchor ``i``. The
        diagonal is ignored (an anchor is never its own candidate).
    temperature:
        ``t > 0``.

    With ``n = 2b`` rows made of ``b`` pairs and ``positive`` the pairing, this is NT-Xent
    (SimCLR). Anchors without a positive do not contribute; the result is 0 if none has one.
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    zn = F.normalize(z, dim=1)
    return _nce_from_logits(zn @ zn.T / temperature, positive, self_mask=True)


def cross_view_nce(
    u: torch.Tensor,
    v: torch.Tensor,
    temperature: float,
    positive: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE between two views; row ``i`` of ``u`` and of ``v`` is one arch.

    u, v:
        float ``[n, d]`` (normalised here).
    positive:
        optional bool ``[n, n]`` of extra positives (``u_i`` with ``v_j``); the diagonal is
        always positive. Must be symmetric for the two directions to mean the same thing.
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    un = F.normalize(u, dim=1)
    vn = F.normalize(v, dim=1)
    logits = un @ vn.T / temperature
    eye = torch.eye(u.shape[0], dtype=torch.bool, device=u.device)
    pos = eye if positive is None else (positive | eye)
    forward = _nce_from_logits(logits, pos, self_mask=False)
    backward = _nce_from_logits(logits.T, pos.T, self_mask=False)
    return 0.5 * (forward + backward)


def pairwise_logistic(
    pred: torch.Tensor, target: torch.Tensor, weight_by_gap: bool = False
) -> torch.Tensor:
    """RankNet loss over every pair ``(i, j)`` with ``target_i > target_j``.

    pred, target:
        float ``[n]``. Ties in ``target`` give no pair.
    weight_by_gap:
        weight each pair by ``target_i - target_j`` (so near-ties matter less).

    Returns the (weighted) mean of ``softplus(pred_j - pred_i)``; 0 when there is no pair.
    """
    diff_pred = pred.unsqueeze(1) - pred.unsqueeze(0)  # [i, j] = f_i - f_j
    diff_true = target.unsqueeze(1) - target.unsqueeze(0)
    better = diff_true > 0
    if not bool(better.any()):
        return pred.new_zeros(())
    terms = F.softplus(-diff_pred[better])
    if weight_by_gap:
        w = diff_true[better]
        return (terms * w).sum() / w.sum()
    return terms.mean()


def list_mle(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """ListMLE: the mean Plackett-Luce negative log-likelihood of ``target``'s order.

    pred, target:
        float ``[n]``, ``n >= 1``. Tied targets are ordered by position (a stable sort), so
        the loss of a tie depends on the order the items were given in.

    Returns ``1/n sum_k (logsumexp(f_(k), ..., f_(n)) - f_(k))``, where ``(k)`` is the item
    ranked ``k``-th (best first) by ``target``; 0 for ``n = 1`` (one item has one order).
    """
    order = torch.argsort(target, descending=True, stable=True)
    f = pred[order]
    tail = torch.logcumsumexp(f.flip(0), dim=0).flip(0)  # [k] = logsumexp(f[k:])
    return (tail - f).mean()
