"""Stage 2, contrastive fine-tuning (CLF): learn the order of the few evaluated archs.

A scalar *score head* sits on an encoder (the CLP-pre-trained GIN, a GIN from scratch, or an
MLP on fixed features) and is trained on the labelled ``(arch, score)`` pairs with one of

* ``"rank"``: the pairwise logistic (RankNet) loss over every labelled pair
  (``ecgnas.predictor.losses.pairwise_logistic``); only the order of the scores is used;
* ``"listmle"``: the listwise ListMLE loss (``ecgnas.predictor.losses.list_mle``) over the
  whole labelled list; also only the order;
* ``"mse"``: mean squared error on the standardised scores (the regression baselines).

Schedule: full batch (at most a few hundred labels), ``steps`` Adam steps with a cosine
decay of the learning rate to 0, no early stopping (nothing to hold out with 20 labels).
The encoder is fine-tuned with ``lr * encoder_lr_scale``, or frozen when that is 0, in which
case the embeddings are computed once and only the head trains (much faster). An ensemble of
``members`` independently initialised heads (each with its own copy of the encoder when it is
fine-tuned) averages the outputs; ``FittedScorer.score_members`` gives every member's
output, whose spread across members is the ensemble's uncertainty.

Everything is deterministic for a seed: weights are initialised under
``torch.random.fork_rng`` so neither the global RNG state before the call matters nor is it
changed by the call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ecgnas.errors import ConfigError
from ecgnas.predictor.losses import list_mle, pairwise_logistic


class RowInputs(Protocol):
    """Inputs an encoder consumes: ``ArchTensors`` or ``FeatureTensors``."""

    def __len__(self) -> int: ...

    def rows(self, index: Any) -> RowInputs: ...


@dataclass(frozen=True)
class FeatureTensors:
    """A fixed float32 feature matrix ``[n, d]`` with the ``rows`` interface of ``ArchTensors``."""

    features: torch.Tensor

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def rows(self, index: Any) -> FeatureTensors:
        idx = torch.as_tensor(np.asarray(index, dtype=np.int64))
        return FeatureTensors(self.features[idx])


class FeatureMLP(nn.Module):
    """Encoder of ``FeatureTensors``: Linear-ReLU-Linear-ReLU, ``[B, d] -> [B, hidden]``."""

    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )

    def forward(self, t: FeatureTensors) -> torch.Tensor:
        out: torch.Tensor = self.net(t.features)
        return out


#: the fine-tuning losses (see the module docstring)
CLF_LOSSES: tuple[str, ...] = ("rank", "listmle", "mse")


@dataclass(frozen=True)
class CLFSettings:
    """Fine-tuning settings (see the module docstring).

    loss:
        ``"rank"`` (pairwise logistic), ``"listmle"`` (listwise) or ``"mse"`` (on
        standardised scores); one of ``CLF_LOSSES``.
    steps:
        Full-batch Adam steps (cosine learning-rate decay to 0).
    lr:
        Learning rate of the head (and of a from-scratch encoder).
    encoder_lr_scale:
        Encoder learning rate = ``lr * encoder_lr_scale``; 0 freezes the encoder.
    weight_decay:
        Adam (decoupled, AdamW) weight decay on every trained parameter. It shrinks a weight
        by ``lr * weight_decay`` a step: over a 300-step fit at lr 1e-3 even 1.0 barely
        regularises.
    l2:
        Coupled L2 penalty ``l2 * sum(w ** 2)`` over the head's weight matrices (not biases),
        added to the loss: the prior of a ranking SVM or ridge regression, which holds at any
        learning rate and step count. 0 (the default) adds none. A linear head
        (``head_hidden`` 0) on a frozen encoder with ``l2`` > 0 is a strictly convex fit:
        given enough steps its ensemble members converge to the same head, so they carry
        no uncertainty for the ``ucb`` / ``thompson`` acquisitions.
    head_hidden:
        Hidden width of the MLP score head (0: a linear head).
    members:
        Ensemble size.
    weight_by_gap:
        Weight ranking pairs by their standardised score gap.
    effective:
        Graph encoders on cell spaces: encode every arch (labelled or scored) as its
        *effective* cell, every dead edge set to ``none`` (``ecgnas.spaces.cell.effective_ops``),
        so cells computing the same function get the same score. No effect elsewhere.
    hard_view:
        Graph encoders: the head reads the soft embedding concatenated with the arch's hard
        view (its fixed path encoding, ``ArchTensors.path``), both views of CLP, so a choice
        the frozen embedding blurs (e.g. a macro gene of ``ecgjoint``) still reaches the head.
        ``None`` (the default) turns it on exactly for spaces with macro genes (a non-empty
        ``space.macro_sizes``: ``ecgjoint``), where it ranked better on the ECG tuning seeds
        (``reports/predictor_hard_view.md``); the cell spaces keep their measured setting (off).
    """

    loss: str = "rank"
    steps: int = 300
    lr: float = 1e-3
    encoder_lr_scale: float = 1.0
    weight_decay: float = 1e-4
    l2: float = 0.0
    head_hidden: int = 64
    members: int = 1
    weight_by_gap: bool = False
    effective: bool = False
    hard_view: bool | None = None

    def __post_init__(self) -> None:
        if self.loss not in CLF_LOSSES:
            raise ConfigError(f"CLF loss must be one of {CLF_LOSSES}, not {self.loss!r}")
        if self.steps < 1 or self.members < 1 or self.lr <= 0 or self.encoder_lr_scale < 0:
            raise ConfigError("CLF steps, members and lr must be positive, encoder_lr_scale >= 0")
        if self.l2 < 0:
            raise ConfigError("CLF l2 must be >= 0")


def _head(in_dim: int, hidden: int) -> nn.Module:
    if hidden <= 0:
        return nn.Linear(in_dim, 1)
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))


def _loss(settings: CLFSettings, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if settings.loss == "mse":
        return torch.mean((pred - y) ** 2)
    if settings.loss == "listmle":
        return list_mle(pred, y)
    return pairwise_logistic(pred, y, weight_by_gap=settings.weight_by_gap)


def _weight_norm2(head: nn.Module) -> torch.Tensor:
    """The sum of squares of ``head``'s weight matrices (biases excluded)."""
    return sum(
        (torch.sum(p**2) for name, p in head.named_parameters() if name.endswith("weight")),
        torch.zeros(()),
    )


class FittedScorer:
    """The result of ``fit_scorer``: ``score(inputs)`` gives float64 ``[n]``, higher = better."""

    def __init__(self, encoders: list[nn.Module], heads: list[nn.Module], frozen: bool) -> None:
        self.encoders = encoders
        self.heads = heads
        self.frozen = frozen

    def score(self, inputs: RowInputs, batch_size: int = 8192) -> np.ndarray:
        """The ensemble's score: the mean of ``score_members`` over members."""
        out: np.ndarray = self.score_members(inputs, batch_size).mean(axis=0)
        return out

    @torch.no_grad()
    def score_members(self, inputs: RowInputs, batch_size: int = 8192) -> np.ndarray:
        """float64 ``[members, n]``: every member's score of every input row."""
        rows: list[torch.Tensor] = []
        embeddings: torch.Tensor | None = None
        for enc, head in zip(self.encoders, self.heads):
            enc.eval()
            head.eval()
            if embeddings is None or not self.frozen:
                embeddings = _embed(enc, inputs, batch_size)
            rows.append(head(embeddings).squeeze(-1).to(torch.float64))
        return torch.stack(rows).numpy()


def _embed(encoder: nn.Module, inputs: RowInputs, batch_size: int) -> torch.Tensor:
    out = []
    for start in range(0, len(inputs), batch_size):
        out.append(encoder(inputs.rows(np.arange(start, min(start + batch_size, len(inputs))))))
    return torch.cat(out, dim=0)


def fit_scorer(
    make_encoder: Callable[[], nn.Module],
    emb_dim: int,
    inputs: RowInputs,
    scores: np.ndarray,
    settings: CLFSettings,
    seed: int,
    encoder_state: dict[str, torch.Tensor] | None = None,
) -> FittedScorer:
    """Train ``settings.members`` score models on the labelled ``inputs`` (one row per score).

    make_encoder:
        Builds a fresh encoder mapping ``inputs`` rows to ``[B, emb_dim]``; its weights are
        replaced by ``encoder_state`` (pre-trained) when given.
    scores:
        float ``[len(inputs)]``, higher is better; must be finite.
    Raises ``ValueError`` on a length mismatch or non-finite scores.
    """
    y_np = np.asarray(scores, dtype=np.float64)
    if y_np.shape != (len(inputs),):
        raise ValueError(f"{len(inputs)} archs but scores of shape {y_np.shape}")
    if not np.all(np.isfinite(y_np)):
        raise ValueError("scores must be finite")
    std = float(y_np.std())
    y = torch.as_tensor((y_np - y_np.mean()) / (std if std > 0 else 1.0), dtype=torch.float32)
    frozen = settings.encoder_lr_scale == 0.0
    encoders: list[nn.Module] = []
    heads: list[nn.Module] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        base: nn.Module | None = None
        fixed_emb: torch.Tensor | None = None
        for _ in range(settings.members):
            if base is None or not frozen:
                enc = make_encoder()
                if encoder_state is not None:
                    enc.load_state_dict(encoder_state)
                base = enc
            enc = base
            head = _head(emb_dim, settings.head_hidden)
            if frozen:
                for p in enc.parameters():
                    p.requires_grad_(False)
                if fixed_emb is None:
                    enc.eval()
                    with torch.no_grad():
                        fixed_emb = enc(inputs)
                groups = [{"params": list(head.parameters()), "lr": settings.lr}]
            else:
                enc.train()
                groups = [
                    {"params": list(head.parameters()), "lr": settings.lr},
                    {
                        "params": list(enc.parameters()),
                        "lr": settings.lr * settings.encoder_lr_scale,
                    },
                ]
            opt = torch.optim.AdamW(groups, weight_decay=settings.weight_decay)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=settings.steps)
            head.train()
            for _step in range(settings.steps):
                emb = fixed_emb if frozen else enc(inputs)
                loss = _loss(settings, head(emb).squeeze(-1), y)
                if settings.l2 > 0:
                    loss = loss + settings.l2 * _weight_norm2(head)
                opt.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
                opt.step()
                sched.step()
            encoders.append(enc)
            heads.append(head)
    return FittedScorer(encoders, heads, frozen)
