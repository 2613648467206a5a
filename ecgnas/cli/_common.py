"""Options and help texts shared by several command groups.

Help texts list choices with ``one_of`` / ``any_of`` from the registries
(``ecgnas.search.registry``, ``ecgnas.spaces.registry``, ``ecgnas.predictor.registry``),
never by hand, so ``--help`` cannot disagree with what the library accepts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import typer

DATA_DIR_HELP = "Data directory (default: $ECGNAS_DATA_DIR, else ~/.cache/ecgnas/data)."
CACHE_DIR_HELP = (
    "Cache directory for derived arrays (default: $ECGNAS_CACHE_DIR, else ~/.cache/ecgnas)."
)


def one_of(names: Iterable[str]) -> str:
    """``"one of: a, b, c"``: a single choice among ``names`` (tests read the names back)."""
    return "one of: " + ", ".join(names)


def any_of(names: Iterable[str]) -> str:
    """``"any of: a, b, c"``: a comma-separated choice of ``names``."""
    return "any of: " + ", ".join(names)


# typer reads the option from the default value, so the type checker is told ``Any``
def data_dir_option() -> Any:
    return typer.Option(None, "--data-dir", help=DATA_DIR_HELP, show_default=False)


def cache_dir_option() -> Any:
    return typer.Option(None, "--cache-dir", help=CACHE_DIR_HELP, show_default=False)


def quiet_logging(quiet: bool) -> None:
    """With ``--quiet``, drop INFO (and DEBUG) log messages too: only warnings and errors."""
    if quiet:
        logging.getLogger().setLevel(logging.WARNING)
