"""Subject-invariant training: a record discriminator behind gradient reversal."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def test_adversarial_option_trains_a_record_discriminator_and_leaves_no_hook() -> None:
    import torch
    from torch import nn

    from ecgnas.train.adversarial import RecordAdversary
    from ecgnas.train.trainer import BeatArrays, TrainConfig, train_classifier

    rng = np.random.default_rng(0)
    n = 240
    y = np.repeat([0, 1], n // 2)
    x = (rng.normal(size=(n, 1, 16)) + 2.0 * y[:, None, None]).astype(np.float32)
    rr = rng.normal(size=(n, 2)).astype(np.float32)
    rec = np.array(["a", "b", "c"] * (n // 3))
    data = BeatArrays(x=x, rr=rr, y=y, record=rec)

    def build() -> nn.Module:
        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.body = nn.Linear(18, 8)
                self.head = nn.Linear(8, 2)

            def forward(self, beats: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
                z = torch.relu(self.body(torch.cat([beats.flatten(1), r], 1)))
                return self.head(z)

        return Net()

    config = TrainConfig(epochs=10, batch_size=32, lr=0.02, device="cpu", adversarial=0.5)
    result = train_classifier(build, data, data, config, ("N", "S"))
    plain = train_classifier(
        build, data, data, TrainConfig(epochs=10, batch_size=32, lr=0.02, device="cpu"), ("N", "S")
    )
    assert result.val_metrics.macro_f1 > 0.8  # the separable task is still learnt
    assert set(result.state_dict) == set(plain.state_dict)  # no discriminator in the weights
    model = build()
    adv = RecordAdversary(model, rec, weight=1.0, total_steps=10, device=torch.device("cpu"))
    model(torch.from_numpy(x[:4]), torch.from_numpy(rr[:4]))
    assert adv.features is not None and adv.features.shape == (4, 8)
    assert adv.lam() == 0.0
    loss = adv.loss(torch.arange(4))
    loss.backward()
    # gradient reversal: the model's body gets the negated discriminator gradient
    assert model.body.weight.grad is not None and adv.lam() > 0
    adv.close()
    assert not model.head._forward_pre_hooks
