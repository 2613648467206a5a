"""Search spaces by name: ``get_space("nb201" | "nb101" | "ecg1d" | "manual")``.

Each call builds a fresh space (spaces cache graph encodings per instance, so keep the one
you got). Space modules are imported on demand, so asking for ``nb201`` never imports the
NB101 code.
"""

from __future__ import annotations

import importlib

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import SearchSpace

#: ``name -> (module, class)``; every class has a no-argument constructor
_SPACES: dict[str, tuple[str, str]] = {
    "nb201": ("ecgnas.spaces.nb201", "NB201Space"),
    "nb101": ("ecgnas.spaces.nb101", "NB101Space"),
    "ecg1d": ("ecgnas.spaces.ecg1d", "ECG1DSpace"),
    "manual": ("ecgnas.spaces.manual", "ManualSpace"),
}

#: the known space names, in the order the CLI lists them
SPACE_NAMES: tuple[str, ...] = tuple(_SPACES)


def get_space(name: str) -> SearchSpace:
    """A new instance of the space called ``name``.

    Raises ``ConfigError`` (listing the known names) for an unknown name.
    """
    try:
        module_name, class_name = _SPACES[name]
    except KeyError:
        raise ConfigError(
            f"unknown search space {name!r}; known spaces: {', '.join(SPACE_NAMES)}"
        ) from None
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
