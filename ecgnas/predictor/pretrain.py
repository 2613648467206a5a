"""Stage 1, contrastive pre-training (CLP) of the GIN soft encoder, without labels.

Data
----
The *pool* is every arch of the space when it has at most ``pool_size`` archs (NB201:
15,625; the ECG cell space), else ``pool_size`` distinct archs drawn by ``space.sample``
(NB101). For every pool arch ``a`` a *positive view* ``a+`` is drawn once: the arch, among
``n_mutants`` one-step mutants (``space.mutate``), whose path encoding is nearest to ``a``'s
in Hamming distance (ties: the first drawn). Distance 0 means a function-preserving view
(e.g. an op changed on a dead edge of a cell); otherwise it is the nearest neighbour that
behaves alike. Nothing here reads a score. With ``effective`` (cell spaces; off by default)
the pool holds each distinct *effective* cell once (every dead edge set to ``none``:
NB201's 15,625 cells compute 9,445 functions) and the views are effective too, to be used
with ``CLFSettings(effective=True)``, which encodes every arch the same way.

Loss ("dual": two contrasts), on a batch of ``b`` anchors and their ``b`` positive views,
``2b`` archs in all:

1. Soft-hard (cross-view) InfoNCE, ``ecgnas.predictor.losses.cross_view_nce``: the projected
   GIN embedding of each of the ``2b`` archs against the projected path encoding (an MLP on
   the fixed binary path encoding, the *hard* view) of the same arch; the other ``2b - 1``
   hard views are negatives, except archs with an identical path encoding, which are
   positives (they compute the same function).
2. Soft-soft NT-Xent/SupCon, ``ecgnas.predictor.losses.multi_positive_nce``: the projected
   GIN embeddings of ``a`` and ``a+`` are positives, and so is every pair in the batch whose
   path encodings differ in at most ``positive_radius`` bits; the rest are negatives.

``loss = cross_weight * (1) + soft_weight * (2)``, temperature ``temperature`` (0.2 by
default) in both. Schedule: ``epochs`` passes over the shuffled pool in batches of
``batch_size`` anchors, AdamW (``lr``, ``weight_decay``), cosine decay of the learning rate to
0 over all steps. The projection heads and the hard-view MLP are discarded afterwards; only
the GIN is kept. Deterministic for a seed on one machine (the pool, the views, the weights
and the batch order come from ``seed``; run under ``torch.random.fork_rng``, in one torch
thread by default, since the thread count changes float reductions).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ecgnas.errors import ConfigError
from ecgnas.predictor.encoder import (
    ArchTensors,
    EncoderSettings,
    PathEncoder,
    build_encoder,
    projection_head,
    torch_threads,
)
from ecgnas.predictor.losses import cross_view_nce, multi_positive_nce
from ecgnas.spaces.base import Arch, SearchSpace
from ecgnas.spaces.cell import CellSpace, effective_ops

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CLPSettings:
    """Pre-training settings (see the module docstring for what each one does)."""

    encoder: EncoderSettings = field(default_factory=EncoderSettings)
    proj_dim: int = 32
    temperature: float = 0.2
    epochs: int = 30
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-5
    cross_weight: float = 1.0
    soft_weight: float = 1.0
    n_mutants: int = 8
    positive_radius: int = 0
    pool_size: int = 100_000
    effective: bool = False

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ConfigError("CLP temperature must be positive")
        if self.epochs < 1 or self.batch_size < 2 or self.pool_size < 2 or self.n_mutants < 1:
            raise ConfigError("CLP epochs, n_mutants >= 1 and batch_size, pool_size >= 2")
        if (
            self.cross_weight < 0
            or self.soft_weight < 0
            or self.cross_weight + self.soft_weight == 0
        ):
            raise ConfigError("CLP loss weights must be >= 0 and not both 0")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        # defaults of fields added later are left out, so older keys stay valid
        if data["encoder"]["kind"] == "gin":
            del data["encoder"]["kind"]
        if not data["effective"]:
            del data["effective"]
        return data

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> CLPSettings:
        data = dict(obj)
        data["encoder"] = EncoderSettings(**data.get("encoder", {}))
        return cls(**data)


@dataclass
class Pretrained:
    """A pre-trained soft encoder and how it was made."""

    space: str
    settings: CLPSettings
    seed: int
    state: dict[str, torch.Tensor]
    n_node_types: int
    losses: list[float]
    seconds: float

    def encoder(self) -> nn.Module:
        """A fresh soft encoder (``build_encoder``) with the pre-trained weights (eval mode)."""
        enc = build_encoder(self.n_node_types, self.settings.encoder)
        enc.load_state_dict(self.state)
        enc.eval()
        return enc


def effective_arch(space: SearchSpace, arch: Arch) -> Arch:
    """``arch`` with every dead edge set to ``none`` in a cell space; ``arch`` elsewhere."""
    if not isinstance(space, CellSpace):
        return arch
    return space.make(effective_ops(arch.ops, space.none_index))


def _distinct_effective(space: SearchSpace, archs: list[Arch]) -> list[Arch]:
    seen: set[Arch] = set()
    out: list[Arch] = []
    for arch in archs:
        eff = effective_arch(space, arch)
        if eff not in seen:
            seen.add(eff)
            out.append(eff)
    return out


def pretrain_pool(space: SearchSpace, settings: CLPSettings, seed: int) -> list[Arch]:
    """The unlabeled archs CLP trains on (see the module docstring), deterministic in ``seed``.

    With ``settings.effective`` (cell spaces), each arch of that pool is replaced by its
    effective cell and repeats are dropped (first appearance kept): NB201's 15,625 cells
    compute 9,445 distinct functions.
    """
    if space.size() <= settings.pool_size:
        every = space.enumerate()
        return _distinct_effective(space, every) if settings.effective else every
    rng = np.random.default_rng([seed, 1])
    seen: set[str] = set()
    pool: list[Arch] = []
    tries = 0
    while len(pool) < settings.pool_size and tries < 20 * settings.pool_size:
        arch = space.sample(rng)
        tries += 1
        key = space.canonical(arch)
        if key not in seen:
            seen.add(key)
            pool.append(arch)
    return _distinct_effective(space, pool) if settings.effective else pool


def positive_views(
    space: SearchSpace,
    pool: list[Arch],
    pool_paths: np.ndarray,
    n_mutants: int,
    seed: int,
    chunk: int = 4096,
    effective: bool = False,
) -> list[Arch]:
    """For each pool arch, the one-step mutant (of ``n_mutants`` draws) nearest in path encoding.

    Ties go to the first drawn. Mutants are drawn from one generator seeded by ``seed``, arch
    by arch in pool order, so the views are a deterministic function of (pool, seed). With
    ``effective`` (an effective pool, see ``pretrain_pool``), every mutant is made effective
    and one equal to its anchor is passed over unless all are (then the view is the anchor).
    """
    rng = np.random.default_rng([seed, 2])
    out: list[Arch] = []
    for start in range(0, len(pool), chunk):
        archs = pool[start : start + chunk]
        mutants = [space.mutate(a, rng) for a in archs for _ in range(n_mutants)]
        if effective:
            mutants = [effective_arch(space, m) for m in mutants]
        paths = space.path_encoding(mutants).reshape(len(archs), n_mutants, -1)
        dist = np.count_nonzero(paths != pool_paths[start : start + chunk, None, :], axis=2)
        if effective:
            same = np.array([m == archs[i // n_mutants] for i, m in enumerate(mutants)])
            dist = np.where(same.reshape(len(archs), n_mutants), paths.shape[2] + 1, dist)
        best = np.argmin(dist, axis=1)
        out.extend(mutants[i * n_mutants + int(b)] for i, b in enumerate(best))
    return out


def _hamming(path: torch.Tensor) -> torch.Tensor:
    """Pairwise Hamming distances of binary float rows ``[n, L]`` -> ``[n, n]``."""
    ones = path.sum(dim=1)
    return ones[:, None] + ones[None, :] - 2.0 * (path @ path.T)


def pretrain(space: SearchSpace, settings: CLPSettings, seed: int, threads: int = 1) -> Pretrained:
    """Run CLP on ``space`` (see the module docstring); about 100 s on one core for NB201.

    threads:
        Torch threads to train with (restored afterwards). The weights are bit-identical
        for a given (settings, seed, threads) on one machine; the cache and the shipped
        encoders use 1.
    """
    with torch_threads(threads):
        return _pretrain(space, settings, seed)


def _pretrain(space: SearchSpace, settings: CLPSettings, seed: int) -> Pretrained:
    start = time.perf_counter()
    pool = pretrain_pool(space, settings, seed)
    anchors = ArchTensors.build(space, pool)
    views = ArchTensors.build(
        space,
        positive_views(
            space,
            pool,
            anchors.path.numpy(),
            settings.n_mutants,
            seed,
            effective=settings.effective,
        ),
    )
    n = len(pool)
    batch = min(settings.batch_size, n)
    steps_per_epoch = max(1, n // batch)
    total_steps = steps_per_epoch * settings.epochs
    losses: list[float] = []
    log.info(
        "CLP on %s: %d unlabeled archs, %d epochs of %d steps",
        space.name,
        n,
        settings.epochs,
        steps_per_epoch,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enc_settings = settings.encoder
        encoder = build_encoder(space.n_node_types, enc_settings)
        soft_cross = projection_head(enc_settings.emb_dim, settings.proj_dim)
        soft_soft = projection_head(enc_settings.emb_dim, settings.proj_dim)
        hard = PathEncoder(space.path_length, enc_settings.hidden, settings.proj_dim)
        params = [p for m in (encoder, soft_cross, soft_soft, hard) for p in m.parameters()]
        opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
        order_gen = torch.Generator().manual_seed(seed)
        for epoch in range(settings.epochs):
            perm = torch.randperm(n, generator=order_gen)
            epoch_loss = 0.0
            for step in range(steps_per_epoch):
                idx = perm[step * batch : (step + 1) * batch]
                a = anchors.rows(idx)
                v = views.rows(idx)
                both = ArchTensors(
                    torch.cat([a.x, v.x]),
                    torch.cat([a.adj, v.adj]),
                    torch.cat([a.mask, v.mask]),
                    torch.cat([a.out_index, v.out_index]),
                    torch.cat([a.path, v.path]),
                )
                path = both.path_float()
                dist = _hamming(path)
                emb = encoder(both)
                loss = emb.new_zeros(())
                if settings.cross_weight > 0:
                    same = dist < 0.5
                    loss = loss + settings.cross_weight * cross_view_nce(
                        soft_cross(emb), hard(path), settings.temperature, positive=same
                    )
                if settings.soft_weight > 0:
                    m = len(idx)
                    pair = torch.zeros(2 * m, 2 * m, dtype=torch.bool)
                    ar = torch.arange(m)
                    pair[ar, ar + m] = True
                    pair[ar + m, ar] = True
                    positive = pair | (dist <= settings.positive_radius + 0.5)
                    loss = loss + settings.soft_weight * multi_positive_nce(
                        soft_soft(emb), positive, settings.temperature
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                epoch_loss += loss.item()
            losses.append(epoch_loss / steps_per_epoch)
            log.debug("CLP epoch %d/%d loss %.4f", epoch + 1, settings.epochs, losses[-1])
        encoder.eval()
        state = {k: v.detach().clone().contiguous() for k, v in encoder.state_dict().items()}
    seconds = time.perf_counter() - start
    log.info(
        "CLP on %s: %d archs, %d epochs, final loss %.4f, %.1f s",
        space.name,
        n,
        settings.epochs,
        losses[-1],
        seconds,
    )
    return Pretrained(space.name, settings, seed, state, space.n_node_types, losses, seconds)
