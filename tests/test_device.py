"""Device-touching paths, on the device named by ``ECGNAS_TEST_DEVICE`` (default ``cpu``).

CI runs them on the CPU. ``scripts/device_check.sh`` runs them again with
``ECGNAS_TEST_DEVICE=cuda`` on a machine with a GPU: training with mixed precision, the
fast loop, DS1-CV scoring of a joint-space arch and an ECG search all keep their data on
that device.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ecgnas.train.trainer import BeatArrays, TrainConfig, resolve_device, train_classifier

DEVICE = os.environ.get("ECGNAS_TEST_DEVICE", "cpu")


@pytest.fixture(autouse=True)
def _device_available() -> None:
    if DEVICE.startswith("cuda") and not torch.cuda.is_available():
        pytest.fail(f"ECGNAS_TEST_DEVICE={DEVICE} but CUDA is not available")


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 8, 5, padding=2)
        self.head = nn.Linear(8 + 4, 4)

    def forward(self, x: torch.Tensor, rr: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([torch.relu(self.conv(x)).mean(dim=2), rr], dim=1))


def _beats(n: tuple[int, ...], seed: int) -> BeatArrays:
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(k, c) for c, k in enumerate(n)]).astype(np.int64)
    x = rng.normal(0, 0.1, (len(y), 1, 32)).astype(np.float32)
    x[:, 0, 14:18] += y[:, None]
    rr = np.eye(4, dtype=np.float32)[y] + rng.normal(0, 0.2, (len(y), 4)).astype(np.float32)
    return BeatArrays(x=x, rr=rr, y=y, record=rng.integers(0, 3, len(y)))


def test_training_runs_on_the_device_and_learns() -> None:
    train, val = _beats((400, 40, 60, 20), 1), _beats((200, 20, 30, 10), 2)
    config = TrainConfig(epochs=6, batch_size=64, lr=3e-2, device=DEVICE, select="last")
    result = train_classifier(Net, train, val, config)
    assert result.device == str(resolve_device(DEVICE))
    assert result.score > 0.85
    assert all(v.device.type == "cpu" for v in result.state_dict.values())  # weights come home
    fast = train_classifier(Net, train, val, TrainConfig(**{**config.to_json(), "watch": False}))
    assert fast.score > 0.85 and fast.val_logits is not None
    assert fast.val_logits.shape == (len(val), 4)


@pytest.mark.realdata
def test_a_joint_arch_is_scored_by_cv_on_the_device(
    real_data_dir: Path, shared_cache_dir: Path
) -> None:
    from ecgnas.classifier.proxy import BeatCache, CVEvaluator, Fidelity
    from ecgnas.spaces.ecgjoint import ECGJointSpace

    space = ECGJointSpace()
    evaluator = CVEvaluator(
        space,
        Fidelity(folds=2, epochs=1, max_majority=300, val_majority=500),
        device=DEVICE,
        beats=BeatCache(real_data_dir, shared_cache_dir),
    )
    result = evaluator.evaluate(space.make((5, 0, 0, 4, 6, 3), width=4, channels="raw+derivative"))
    assert 0.0 < result.score <= 1.0
    assert result.metrics["device"] == DEVICE


@pytest.mark.realdata
def test_an_ecg_search_runs_on_the_device(
    tmp_path: Path, real_data_dir: Path, shared_cache_dir: Path
) -> None:
    from ecgnas.ecg_search import ECGSearchSettings, run_ecg_search
    from ecgnas.train.ecg_evaluator import ProxySettings

    settings = ECGSearchSettings(
        gpu_days=1.0,
        max_evals=2,
        space="ecgjoint",
        method="random",
        proxy=ProxySettings(device=DEVICE),
        fidelity={"folds": 2, "epochs": 1, "max_majority": 300, "val_majority": 500},
    )
    result = run_ecg_search(
        settings, tmp_path / "run", data_dir=real_data_dir, cache_dir=shared_cache_dir
    )
    assert len(result.evaluations) == 2
    assert {e.metrics["device"] for e in result.evaluations} == {DEVICE}
