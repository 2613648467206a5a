"""Search spaces: the ``Arch`` genotype, the ``SearchSpace`` contract and the spaces.

* ``nb201`` -- NAS-Bench-201 (``NB201Space``), 15,625 cells, tabular benchmark.
* ``nb101`` -- NAS-Bench-101 (``ecgnas.spaces.nb101.NB101Space``, imported on demand).
* ``ecg1d`` -- the ECG 1-D cell space (``ECG1DSpace``), 117,649 cells; build a network with
  ``ecgnas.spaces.ecg1d_model.build_model`` (that module imports torch; this package does not).
* ``manual`` and ``tiny`` -- small hyperparameter grids (``ecgnas.spaces.grid.GridSpace``)
  around two hand-designed baselines, the CNN of Acharya et al. 2017 (``spaces.manual``) and
  a tiny matched-filter CNN after Farag 2023 (``spaces.tiny``); imported on demand.

Use ``get_space(name)`` to get a space by name (``ecgnas.spaces.registry`` is the table).
"""

from __future__ import annotations

from ecgnas.spaces.base import Arch, ArchGraph, SearchSpace
from ecgnas.spaces.cell import CellSpace
from ecgnas.spaces.ecg1d import ECG1D_OPS, ECG1DSpace
from ecgnas.spaces.nb201 import NB201_OPS, NB201Space
from ecgnas.spaces.registry import ECG_SPACE_NAMES, SPACE_NAMES, SpaceEntry, get_space, space_entry

__all__ = [
    "ECG1D_OPS",
    "ECG_SPACE_NAMES",
    "NB201_OPS",
    "SPACE_NAMES",
    "Arch",
    "ArchGraph",
    "CellSpace",
    "ECG1DSpace",
    "NB201Space",
    "SearchSpace",
    "SpaceEntry",
    "get_space",
    "space_entry",
]
