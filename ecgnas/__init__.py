"""ecgnas: DCL-ENAS neural architecture search for ECG arrhythmia classifiers.

Nothing heavy is imported here: ``import ecgnas`` stays cheap, and the sub-packages
(``ecgnas.data``, ``ecgnas.spaces``, ``ecgnas.predictor``, ``ecgnas.search``, ...) are
imported where they are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ecgnas.errors import EcgnasError

if TYPE_CHECKING:
    from ecgnas.classifier import load_classifier

__version__ = "0.1.0"

__all__ = ["EcgnasError", "__version__", "load_classifier"]


def __getattr__(name: str) -> Any:
    # ``ecgnas.load_classifier`` imports the classifier module (and torch) on first use only
    if name == "load_classifier":
        from ecgnas.classifier import load_classifier

        return load_classifier
    raise AttributeError(f"module 'ecgnas' has no attribute {name!r}")
