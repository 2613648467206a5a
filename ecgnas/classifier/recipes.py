"""Named recipes: a ``Setup`` and ``Hyperparams`` pair for ``ecgnas tune|train --recipe NAME``.

- ``v1``: the first release's recipe (360 Hz window, the six RR ratios to the record's mean
  RR, 4,000 N beats per epoch, one model early-stopped and calibrated on a DS1 holdout
  split). The shipped bundle of 2026-11-28 was trained with it.
- ``r1``: round 1 of the recipe ablation (``reports/ecg_recipe.md``): 128 Hz, rhythm
  features over the patient's running RR averages, k-fold DS1 cross-validation.
- ``r2``: chosen from round 1 on DS1 cross-validation only: rhythm features, morphology
  (QRS width, template correlation, amplitude), the neighbouring beats as channels, lead
  polarity canonicalised per record, 12,000 N beats per epoch; the final model is the
  ensemble of the 5 DS1 cross-validation fold models.
- ``r3``: ``r2`` with a 0.5-40 Hz zero-phase band-pass, which removes mains hum (60 Hz)
  and costs nothing on DS1 cross-validation (``reports/ecg_recipe.md``). The shipped
  classifier's recipe.
- ``r3p8``: ``r3`` with the cell network's final pooling over 8 time bins instead of the
  whole window (``Setup.pool_bins``); the manual and tiny CNNs are unchanged by it.
- ``r3h``: ``r3`` with the manual baselines' head on the cell network (max and mean
  pooling, the RR features joined before a hidden layer of 32 units; ``Setup.head_hidden``).
- ``r3mp``: ``r3`` with the manual CNN's reductions in the cell network (a convolution
  to the new width, then max pooling, instead of NB201's stride-2 ResNet block;
  ``Setup.reduction``).
- ``r3mph``: ``r3mp`` with ``r3h``'s head: the cell network with both the manual CNN's
  reductions and its head, the cell in place of its convolutions.

Every recipe reads DS1 only for training, tuning and selection.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from ecgnas.classifier.recipe import Hyperparams, Setup
from ecgnas.data.inputs import InputConfig
from ecgnas.data.preprocess import PreprocessConfig
from ecgnas.errors import ConfigError

LOW_FS: Final = PreprocessConfig(fs=128.0, window_before=32, window_after=64)
"""128 Hz, a 0.25 s + 0.5 s window (96 samples)."""

_FIXED_EPOCHS: Final = 8

RECIPES: dict[str, tuple[Setup, Hyperparams]] = {
    "v1": (Setup(), Hyperparams()),
    "r1": (
        Setup(
            preprocess=LOW_FS,
            inputs=InputConfig(rr_features="rhythm"),
            cv="kfold",
            folds=5,
            min_epochs=_FIXED_EPOCHS,
            max_epochs=_FIXED_EPOCHS,
        ),
        Hyperparams(epochs=_FIXED_EPOCHS),
    ),
    "r2": (
        Setup(
            preprocess=LOW_FS,
            inputs=InputConfig(
                rr_features="rhythm", morphology=True, context_beats=1, polarity="canonical"
            ),
            cv="kfold",
            final="ensemble",
            folds=5,
            max_majority=12000,
            min_epochs=_FIXED_EPOCHS,
            max_epochs=_FIXED_EPOCHS,
        ),
        Hyperparams(epochs=_FIXED_EPOCHS),
    ),
}
RECIPES["r3"] = (
    replace(RECIPES["r2"][0], preprocess=replace(LOW_FS, bandpass=True)),
    RECIPES["r2"][1],
)
RECIPES["r3p8"] = (replace(RECIPES["r3"][0], pool_bins=8), RECIPES["r3"][1])
RECIPES["r3h"] = (replace(RECIPES["r3"][0], head_hidden=32), RECIPES["r3"][1])
RECIPES["r3mp"] = (replace(RECIPES["r3"][0], reduction="maxpool"), RECIPES["r3"][1])
RECIPES["r3mph"] = (replace(RECIPES["r3h"][0], reduction="maxpool"), RECIPES["r3"][1])
"""Recipe name -> (setup, default hyperparameters)."""

RECIPE_NAMES: Final = tuple(RECIPES)


def get_recipe(name: str) -> tuple[Setup, Hyperparams]:
    """The named recipe (``ConfigError`` listing the names for an unknown one)."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ConfigError(f"unknown recipe {name!r}; known: {', '.join(RECIPE_NAMES)}") from None
