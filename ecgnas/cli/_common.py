"""Options shared by several command groups."""

from __future__ import annotations

import typer

DATA_DIR_HELP = "Data directory (default: $ECGNAS_DATA_DIR, else ~/.cache/ecgnas/data)."
CACHE_DIR_HELP = (
    "Cache directory for derived arrays (default: $ECGNAS_CACHE_DIR, else ~/.cache/ecgnas)."
)


def data_dir_option() -> typer.models.OptionInfo:
    return typer.Option(None, "--data-dir", help=DATA_DIR_HELP, show_default=False)


def cache_dir_option() -> typer.models.OptionInfo:
    return typer.Option(None, "--cache-dir", help=CACHE_DIR_HELP, show_default=False)
