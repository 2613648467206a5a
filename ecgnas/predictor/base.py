"""The predictor contract: ``fit(archs, scores)`` then ``score(archs)``.

Only the *order* of the predicted scores is used by the search, so a predictor may return
any monotone transform of its estimate of the true score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt

from ecgnas.spaces.base import Arch

#: true scores for ``Predictor.fit``: a list, or a float array such as ``History.scores()``
Scores: TypeAlias = Sequence[float] | npt.NDArray[np.floating]


@runtime_checkable
class Predictor(Protocol):
    """Learns from evaluated archs, ranks unevaluated ones."""

    def fit(self, archs: Sequence[Arch], scores: Scores) -> None:
        """(Re)train on all evaluated ``archs`` and their true ``scores`` (higher is better).

        Called again with the growing history after each batch of true evaluations; an
        implementation may warm-start from its previous state.
        """

    def score(self, archs: Sequence[Arch]) -> np.ndarray:
        """float64 ``[len(archs)]``: higher means predicted better."""


@runtime_checkable
class EnsemblePredictor(Predictor, Protocol):
    """A predictor made of members whose disagreement is an uncertainty."""

    def score_members(self, archs: Sequence[Arch]) -> np.ndarray:
        """float64 ``[members, len(archs)]``; ``score`` is the mean over members."""
