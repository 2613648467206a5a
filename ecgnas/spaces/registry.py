"""Search spaces by name: ``get_space("nb201" | "nb101" | "ecg1d" | "ecgjoint" | "manual" | "tiny")``.

Each call builds a fresh space (spaces cache graph encodings per instance, so keep the one
you got). Space modules are imported on demand, so asking for ``nb201`` never imports the
NB101 code. ``SPACE_NAMES`` lists every space, ``ECG_SPACE_NAMES`` those whose archs are ECG
classifiers (what ``ecgnas search`` and the ECG trainer accept).
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import SearchSpace


class SpaceEntry(NamedTuple):
    """One space: where its class is (no-argument constructor), whether its archs are ECG
    classifiers, and one line for ``--help``."""

    module: str
    cls: str
    ecg: bool
    help: str


_SPACES: dict[str, SpaceEntry] = {
    "nb201": SpaceEntry("ecgnas.spaces.nb201", "NB201Space", False, "NAS-Bench-201 cells"),
    "nb101": SpaceEntry("ecgnas.spaces.nb101", "NB101Space", False, "NAS-Bench-101 cells"),
    "ecg1d": SpaceEntry("ecgnas.spaces.ecg1d", "ECG1DSpace", True, "the ECG 1-D cell space"),
    "ecgjoint": SpaceEntry(
        "ecgnas.spaces.ecgjoint",
        "ECGJointSpace",
        True,
        "the ECG cell plus macro and input choices (width, depth, stem, window, channels, RR, fs)",
    ),
    "manual": SpaceEntry("ecgnas.spaces.manual", "ManualSpace", True, "the manual baseline's grid"),
    "tiny": SpaceEntry(
        "ecgnas.spaces.tiny", "TinySpace", True, "the tiny matched-filter CNN's grid (Farag 2023)"
    ),
}

#: the known space names, in the order the CLI lists them
SPACE_NAMES: tuple[str, ...] = tuple(_SPACES)
#: the spaces of ECG classifiers (searched on MIT-BIH), the NAS space first
ECG_SPACE_NAMES: tuple[str, ...] = tuple(name for name, e in _SPACES.items() if e.ecg)


def space_entry(name: str) -> SpaceEntry:
    """The table entry of ``name`` (``ConfigError`` listing the known names if unknown)."""
    try:
        return _SPACES[name]
    except KeyError:
        raise ConfigError(
            f"unknown search space {name!r}; known spaces: {', '.join(SPACE_NAMES)}"
        ) from None


def get_space(name: str) -> SearchSpace:
    """A new instance of the space called ``name``.

    Raises ``ConfigError`` (listing the known names) for an unknown name.
    """
    module_name, class_name, _, _ = space_entry(name)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise ConfigError(
            f"search space {name!r} is not installed ({module_name} missing)"
        ) from exc
    space: SearchSpace = getattr(module, class_name)()
    return space
