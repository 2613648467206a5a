"""ecgnas: DCL-ENAS neural architecture search for ECG arrhythmia classifiers.

Nothing heavy is imported here: ``import ecgnas`` stays cheap, and the sub-packages
(``ecgnas.data``, ``ecgnas.spaces``, ``ecgnas.predictor``, ``ecgnas.search``, ...) are
imported where they are used.
"""

from __future__ import annotations

from ecgnas.errors import EcgnasError

__version__ = "0.1.0"

__all__ = ["EcgnasError", "__version__"]
