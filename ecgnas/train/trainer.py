"""Train one ECG beat classifier: in-memory batches, class-imbalance handling, AdamW with a
one-cycle/cosine schedule, early stopping on validation macro-F1, mixed precision on CUDA.

The trainer knows nothing about search spaces: it takes a factory that builds an
``nn.Module`` with ``forward(beats [B, 1, W], rr [B, n_rr]) -> logits [B, n_classes]`` and two
``BeatArrays`` (training and validation records; the caller guarantees they are split by
record). On CPU, training is deterministic for a seed (same weights, same metrics).

Time accounting: ``TrainResult.compute_seconds`` is the time inside forward/backward/step and
evaluation forward passes; ``TrainResult.seconds`` the whole wall time. Their difference is
the time spent outside model compute (batch assembly, augmentation, metrics, logging).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgnas.errors import ConfigError
from ecgnas.train.metrics import AAMI4, AAMI5, ClassMetrics, classification_metrics

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ecgnas.train.adversarial import RecordAdversary

log = logging.getLogger(__name__)

LOSSES = ("ce", "weighted_ce", "focal")
SELECT_MODES = ("best", "last")


@dataclass(frozen=True)
class BeatArrays:
    """Beats as numpy arrays: ``x`` float32 ``[n, 1, W]``, ``rr`` float32 ``[n, n_rr]``,
    ``y`` int64 ``[n]`` class indices, ``record`` ``[n]`` record of each beat."""

    x: np.ndarray
    rr: np.ndarray
    y: np.ndarray
    record: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.y)
        if not (len(self.x) == len(self.rr) == len(self.record) == n):
            raise ConfigError("BeatArrays: x, rr, y and record must have the same length")

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class TrainConfig:
    """Training settings. ``epochs`` is the maximum; early stopping may end sooner.

    loss: ``"ce"``, ``"weighted_ce"`` (class weights ``(n / n_c) ** class_weight_power``,
    normalised to mean 1 over present classes) or ``"focal"`` (the same weights, focusing
    ``focal_gamma``). ``max_majority_per_epoch``: if set, each epoch uses a fresh random
    subset of at most this many beats of the majority class (N) and every other beat
    (proxy training for search). ``augment``: strength in [0, 1] of random amplitude scaling
    (±20 %·s), additive Gaussian noise (std 0.05·s of the normalised signal) and baseline
    offset (±0.1·s). ``device``: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``,
    ``"cuda:1"``...; ``amp`` enables bfloat16 autocast on CUDA only. ``select``: ``"best"``
    keeps the weights of the best validation epoch and stops after ``patience`` epochs
    without a better one; ``"last"`` trains every epoch and keeps the last weights (the
    validation set is then only watched, so it stays an honest held-out estimate, as in
    cross-validation). ``adversarial``: weight of the record discriminator behind gradient
    reversal (``ecgnas.train.adversarial``; 0 turns it off). ``watch=False`` (with
    ``select="last"`` only) scores the validation set once, after the last epoch, instead of
    after every epoch: the same result, one validation pass instead of ``epochs`` (cheap
    proxies for search); ``history`` rows then carry ``nan`` validation macro-F1.
    ``fixed_batches``: every step takes exactly ``batch_size`` beats (the epoch's order is
    topped up from its own start), so every step has one shape (CUDA graphs and cuDNN
    autotuning reuse their plans; off by default, which keeps the shipped recipe's numbers).
    """

    epochs: int = 20
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-2
    loss: str = "weighted_ce"
    class_weight_power: float = 0.5
    focal_gamma: float = 2.0
    label_smoothing: float = 0.0
    max_majority_per_epoch: int | None = None
    patience: int = 5
    augment: float = 0.0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    eval_batch_size: int = 2048
    select: str = "best"
    adversarial: float = 0.0
    watch: bool = True
    fixed_batches: bool = False

    def __post_init__(self) -> None:
        if self.select not in SELECT_MODES:
            raise ConfigError(
                f"select must be one of {', '.join(SELECT_MODES)}, got {self.select!r}"
            )
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be at least 1")
        if self.adversarial < 0:
            raise ConfigError(f"adversarial must be >= 0, got {self.adversarial}")
        if not 0.0 <= self.augment <= 1.0:
            raise ConfigError(f"augment must lie in [0, 1], got {self.augment}")
        if not self.watch and self.select != "last":
            raise ConfigError(
                'watch=False needs select="last" (early stopping watches every epoch)'
            )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    """What one training run produced (the weights of the best validation epoch)."""

    best_epoch: int
    val_metrics: ClassMetrics
    state_dict: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    val_logits: np.ndarray | None = None
    """float64 ``[n_val, C]`` validation logits of the kept weights (eval mode)."""
    seconds: float = 0.0
    compute_seconds: float = 0.0
    beats_trained: int = 0
    device: str = "cpu"

    @property
    def score(self) -> float:
        """Validation macro-F1 of the best epoch (``nan`` becomes 0 so that search can rank)."""
        v = self.val_metrics.macro_f1
        return 0.0 if math.isnan(v) else float(v)

    @property
    def beats_per_second(self) -> float:
        return self.beats_trained / self.seconds if self.seconds > 0 else float("nan")

    @property
    def outside_compute_share(self) -> float:
        if self.seconds <= 0:
            return float("nan")
        return max(0.0, 1.0 - self.compute_seconds / self.seconds)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available; an unavailable CUDA device is a ``ConfigError``."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {name!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but CUDA is not available here")
    return device


def class_weights(y: np.ndarray, n_classes: int, power: float) -> np.ndarray:
    """``(n / n_c) ** power`` for present classes, normalised to mean 1; absent classes 0."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.zeros(n_classes)
    present = counts > 0
    w[present] = (counts.sum() / counts[present]) ** power
    w[present] /= w[present].mean()
    return w


def _loss_fn(config: TrainConfig, weights: torch.Tensor) -> Callable[..., torch.Tensor]:
    import torch
    import torch.nn.functional as F

    w = None if config.loss == "ce" else weights

    def ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, weight=w, label_smoothing=config.label_smoothing)

    def focal(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(logits.float(), dim=1)
        logp_t = logp.gather(1, y[:, None]).squeeze(1)
        p_t = logp_t.exp()
        loss = -((1 - p_t) ** config.focal_gamma) * logp_t
        wt = weights[y]
        return (loss * wt).sum() / wt.sum()

    return focal if config.loss == "focal" else ce


def _augment(
    x: torch.Tensor, strength: float, gen: torch.Generator
) -> torch.Tensor:  # pragma: no cover - exercised through training
    import torch

    b = x.shape[0]
    scale = 1.0 + 0.2 * strength * (2 * torch.rand(b, 1, 1, generator=gen, device=x.device) - 1)
    offset = 0.1 * strength * (2 * torch.rand(b, 1, 1, generator=gen, device=x.device) - 1)
    noise = 0.05 * strength * torch.randn(x.shape, generator=gen, device=x.device)
    return x * scale + offset + noise


def predict_logits(
    model: nn.Module,
    x: torch.Tensor,
    rr: torch.Tensor,
    batch_size: int = 2048,
    amp: bool = False,
) -> torch.Tensor:
    """Logits ``[n, n_classes]`` (float32, on the model's device) in eval mode, no grad."""
    import torch

    model.eval()
    outs = []
    device = x.device
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                outs.append(model(x[i : i + batch_size], rr[i : i + batch_size]).float())
    if not outs:
        return torch.zeros((0, 0), device=device)
    return torch.cat(outs)


@dataclass
class _Tensors:
    """The training and validation arrays on the device, and the per-epoch beat pools."""

    x_tr: torch.Tensor
    rr_tr: torch.Tensor
    y_tr: torch.Tensor
    x_va: torch.Tensor
    rr_va: torch.Tensor
    maj_idx: torch.Tensor
    rest_idx: torch.Tensor
    steps_per_epoch: int


def _to_device(
    train: BeatArrays, val: BeatArrays, n_classes: int, config: TrainConfig, device: torch.device
) -> _Tensors:
    import torch

    def put(a: np.ndarray, dtype: type) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=dtype)).to(device)

    majority = int(np.bincount(train.y, minlength=n_classes).argmax())
    maj_idx = torch.from_numpy(np.flatnonzero(train.y == majority))
    rest_idx = torch.from_numpy(np.flatnonzero(train.y != majority))
    cap = config.max_majority_per_epoch
    per_epoch = len(rest_idx) + (min(cap, len(maj_idx)) if cap is not None else len(maj_idx))
    return _Tensors(
        x_tr=put(train.x, np.float32),
        rr_tr=put(train.rr, np.float32),
        y_tr=put(train.y, np.int64),
        x_va=put(val.x, np.float32),
        rr_va=put(val.rr, np.float32),
        maj_idx=maj_idx,
        rest_idx=rest_idx,
        steps_per_epoch=max(1, math.ceil(per_epoch / config.batch_size)),
    )


def _epoch_order(
    t: _Tensors, cap: int | None, gen: torch.Generator, fill_to: int | None = None
) -> torch.Tensor:
    """This epoch's beats in random order: every minority beat and at most ``cap`` of the
    majority class (a fresh subset each epoch); with ``fill_to``, topped up from its own
    start to that length (fixed-shape batches)."""
    import torch

    if cap is not None and len(t.maj_idx) > cap:
        chosen = t.maj_idx[torch.randperm(len(t.maj_idx), generator=gen)[:cap]]
        idx = torch.cat([chosen, t.rest_idx])
    else:
        idx = torch.cat([t.maj_idx, t.rest_idx])
    idx = idx[torch.randperm(len(idx), generator=gen)]
    if fill_to is not None and len(idx) < fill_to:
        idx = idx.repeat(-(-fill_to // len(idx)))[:fill_to]
    return idx


@dataclass
class _Loop:
    """What one training run carries from epoch to epoch."""

    model: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    loss_fn: Callable[..., torch.Tensor]
    use_amp: bool
    sync: Callable[[], None]
    compute: float = 0.0
    beats: int = 0
    adversary: RecordAdversary | None = None


def _train_epoch(
    loop: _Loop, t: _Tensors, idx: torch.Tensor, config: TrainConfig, aug_gen: torch.Generator
) -> float:
    """One pass over ``idx``; returns the summed loss (times batch sizes)."""
    import torch

    device = t.x_tr.device
    loop.model.train()
    total_loss = torch.zeros((), device=device)
    for step in range(t.steps_per_epoch):
        b = idx[step * config.batch_size : (step + 1) * config.batch_size]
        if len(b) == 0:
            continue
        xb, rb, yb = t.x_tr[b], t.rr_tr[b], t.y_tr[b]
        if config.augment > 0:
            xb = _augment(xb, config.augment, aug_gen)
        loop.sync()
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=loop.use_amp):
            logits = loop.model(xb, rb)
        loss = loop.loss_fn(logits.float(), yb)
        if loop.adversary is not None:
            loss = loss + loop.adversary.loss(b)
        loop.opt.zero_grad(set_to_none=True)
        loss.backward()
        loop.opt.step()
        loop.sched.step()
        loop.sync()
        loop.compute += time.perf_counter() - t0
        total_loss += loss.detach() * len(b)
        loop.beats += len(b)
    return float(total_loss)


def _validate(
    loop: _Loop, t: _Tensors, y: np.ndarray, config: TrainConfig, class_names: tuple[str, ...]
) -> tuple[torch.Tensor, ClassMetrics, float]:
    """Validation logits, metrics and macro-F1 (``nan`` as 0) of the model as it is now."""
    t0 = time.perf_counter()
    logits = predict_logits(loop.model, t.x_va, t.rr_va, config.eval_batch_size, loop.use_amp)
    loop.sync()
    loop.compute += time.perf_counter() - t0
    metrics = classification_metrics(y, logits.argmax(1).cpu().numpy(), class_names)
    return logits, metrics, 0.0 if math.isnan(metrics.macro_f1) else metrics.macro_f1


def train_classifier(
    build: Callable[[], nn.Module],
    train: BeatArrays,
    val: BeatArrays,
    config: TrainConfig,
    class_names: tuple[str, ...] = AAMI4,
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``build()`` on ``train``, early-stop on ``val`` macro-F1; see the module docstring.

    Raises ``ConfigError`` for empty sets or labels outside ``class_names``.
    """
    import torch

    if class_names not in (AAMI4, AAMI5) and len(class_names) < 2:
        raise ConfigError("need at least two classes")
    n_classes = len(class_names)
    for name, part in (("training", train), ("validation", val)):
        if len(part) == 0:
            raise ConfigError(f"the {name} set is empty")
        if part.y.min() < 0 or part.y.max() >= n_classes:
            raise ConfigError(f"{name} labels outside 0..{n_classes - 1}")

    t_start = time.perf_counter()
    device = resolve_device(config.device)
    use_amp = bool(config.amp and device.type == "cuda")
    torch.manual_seed(config.seed)
    model = build().to(device)
    gen = torch.Generator(device="cpu").manual_seed(config.seed)
    aug_gen = torch.Generator(device=device).manual_seed(config.seed + 1)
    t = _to_device(train, val, n_classes, config, device)
    weights = torch.tensor(
        class_weights(train.y, n_classes, config.class_weight_power), dtype=torch.float32
    ).to(device)
    params = list(model.parameters())
    adversary = None
    if config.adversarial > 0:
        from ecgnas.train.adversarial import RecordAdversary

        steps = t.steps_per_epoch * config.epochs
        adversary = RecordAdversary(model, train.record, config.adversarial, steps, device)
        params += adversary.parameters()
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.lr, total_steps=t.steps_per_epoch * config.epochs, pct_start=0.15
    )
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    loop = _Loop(model, opt, sched, _loss_fn(config, weights), use_amp, sync, adversary=adversary)

    best: tuple[float, int, ClassMetrics | None, dict[str, Any]] = (-1.0, -1, None, {})
    kept_logits: np.ndarray | None = None
    history: list[dict[str, float]] = []
    stale = 0
    for epoch in range(config.epochs):
        t_epoch = time.perf_counter()
        compute_before = loop.compute
        fill = t.steps_per_epoch * config.batch_size if config.fixed_batches else None
        idx = _epoch_order(t, config.max_majority_per_epoch, gen, fill).to(device)
        total_loss = _train_epoch(loop, t, idx, config, aug_gen)
        last = epoch == config.epochs - 1
        logits_va, metrics, f1 = None, None, float("nan")
        if config.watch or last:
            logits_va, metrics, f1 = _validate(loop, t, val.y, config, class_names)
        row = {
            "epoch": float(epoch),
            "train_loss": total_loss / max(1, len(idx)),
            "val_macro_f1": f1,
            "epoch_seconds": time.perf_counter() - t_epoch,
            "compute_seconds": loop.compute - compute_before,
        }
        history.append(row)
        if progress is not None:
            progress(epoch, row)
        log.debug("epoch %d loss %.4f val macro-F1 %.4f", epoch, row["train_loss"], f1)
        if (config.select == "best" and f1 > best[0]) or (config.select == "last" and last):
            state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            best, stale = (f1, epoch, metrics, state), 0
            assert logits_va is not None
            kept_logits = logits_va.double().cpu().numpy()
        elif config.select == "best":
            stale += 1
            if stale >= config.patience:
                break
    if adversary is not None:
        adversary.close()
    assert best[2] is not None
    return TrainResult(
        best_epoch=best[1],
        val_metrics=best[2],
        state_dict=best[3],
        history=history,
        seconds=time.perf_counter() - t_start,
        compute_seconds=loop.compute,
        beats_trained=loop.beats,
        device=str(device),
        val_logits=kept_logits,
    )
