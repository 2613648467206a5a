from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from ecgnas.errors import ConfigError
from ecgnas.train.trainer import BeatArrays, TrainConfig, class_weights, train_classifier


class TinyNet(nn.Module):
    def __init__(self, n_classes: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 5, padding=2)
        self.head = nn.Linear(4 + 4, n_classes)

    def forward(self, x: torch.Tensor, rr: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x)).mean(dim=2)
        return self.head(torch.cat([h, rr], dim=1))


def synthetic(n_per_class: tuple[int, ...], seed: int, records: int = 3) -> BeatArrays:
    """Class c = a bump of height c at the centre plus an RR cue; separable by design."""
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(n, c) for c, n in enumerate(n_per_class)]).astype(np.int64)
    x = rng.normal(0, 0.1, (len(y), 1, 32)).astype(np.float32)
    x[:, 0, 14:18] += y[:, None].astype(np.float32)
    rr = np.eye(4, dtype=np.float32)[y] + rng.normal(0, 0.2, (len(y), 4)).astype(np.float32)
    rec = rng.integers(0, records, len(y))
    return BeatArrays(x=x, rr=rr, y=y, record=rec)


def test_learns_a_separable_problem_and_is_deterministic() -> None:
    train = synthetic((400, 40, 60, 20), seed=1)
    val = synthetic((200, 20, 30, 10), seed=2)
    cfg = TrainConfig(epochs=8, batch_size=64, lr=3e-2, seed=3, device="cpu", patience=8)
    a = train_classifier(TinyNet, train, val, cfg)
    b = train_classifier(TinyNet, train, val, cfg)
    assert a.score > 0.9
    assert a.best_epoch == b.best_epoch
    assert a.score == b.score
    for k in a.state_dict:
        assert torch.equal(a.state_dict[k], b.state_dict[k])
    assert a.beats_trained > 0 and a.compute_seconds <= a.seconds


def test_majority_subsampling_trains_on_fewer_beats() -> None:
    train = synthetic((400, 40, 60, 20), seed=1)
    val = synthetic((100, 20, 30, 10), seed=2)
    full = train_classifier(TinyNet, train, val, TrainConfig(epochs=2, patience=5, device="cpu"))
    sub = train_classifier(
        TinyNet,
        train,
        val,
        TrainConfig(epochs=2, patience=5, device="cpu", max_majority_per_epoch=100),
    )
    assert full.beats_trained == 2 * 520
    assert sub.beats_trained == 2 * (100 + 120)


def test_focal_loss_and_augment_run_and_learn() -> None:
    train = synthetic((300, 60, 60, 30), seed=4)
    val = synthetic((100, 20, 30, 10), seed=5)
    cfg = TrainConfig(epochs=8, batch_size=64, lr=3e-2, loss="focal", augment=0.5, device="cpu")
    assert train_classifier(TinyNet, train, val, cfg).score > 0.8


def test_class_weights() -> None:
    w = class_weights(np.array([0] * 90 + [1] * 10), 4, power=1.0)
    assert w[2] == 0 and w[3] == 0
    assert w[0] + w[1] == pytest.approx(2.0)
    assert w[1] / w[0] == pytest.approx(9.0)


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        TrainConfig(loss="hinge")
    with pytest.raises(ConfigError):
        TrainConfig(augment=2.0)
    empty = BeatArrays(
        x=np.zeros((0, 1, 32), np.float32),
        rr=np.zeros((0, 4), np.float32),
        y=np.zeros(0, np.int64),
        record=np.zeros(0),
    )
    with pytest.raises(ConfigError):
        train_classifier(TinyNet, empty, synthetic((5, 5, 5, 5), 0), TrainConfig(device="cpu"))


def test_unwatched_training_scores_once_and_equals_the_watched_result() -> None:
    train = synthetic((300, 40, 60, 20), seed=6)
    val = synthetic((100, 20, 30, 10), seed=7)
    cfg = TrainConfig(epochs=3, batch_size=64, lr=3e-2, seed=1, device="cpu", select="last")
    watched = train_classifier(TinyNet, train, val, cfg)
    quiet = train_classifier(TinyNet, train, val, replace(cfg, watch=False))
    assert quiet.score == watched.score and quiet.best_epoch == watched.best_epoch == 2
    for k in watched.state_dict:
        assert torch.equal(watched.state_dict[k], quiet.state_dict[k])
    assert [np.isnan(r["val_macro_f1"]) for r in quiet.history] == [True, True, False]
    assert not any(np.isnan(r["val_macro_f1"]) for r in watched.history)
    # the kept validation logits are the model's eval-mode outputs
    assert quiet.val_logits is not None and quiet.val_logits.shape == (len(val), 4)
    assert np.array_equal(quiet.val_logits, watched.val_logits)
    assert (quiet.val_logits.argmax(1) == val.y).mean() > 0.5
    with pytest.raises(ConfigError, match="watch=False needs"):
        TrainConfig(watch=False)


def test_fixed_batches_give_every_step_one_shape() -> None:
    train = synthetic((100, 10, 10, 10), seed=8)  # 130 beats: 64 + 64 + 2
    val = synthetic((40, 10, 10, 10), seed=9)
    shapes: list[int] = []

    class Recording(TinyNet):
        def forward(self, x: torch.Tensor, rr: torch.Tensor) -> torch.Tensor:
            if self.training:
                shapes.append(x.shape[0])
            return super().forward(x, rr)

    base = TrainConfig(epochs=2, batch_size=64, seed=0, device="cpu", select="last")
    plain = train_classifier(Recording, train, val, base)
    assert shapes == [64, 64, 2, 64, 64, 2] and plain.beats_trained == 260
    shapes.clear()
    fixed = train_classifier(Recording, train, val, replace(base, fixed_batches=True))
    assert shapes == [64] * 6 and fixed.beats_trained == 6 * 64
