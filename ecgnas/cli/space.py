"""``ecgnas space ...``: inspect search spaces. (Filled in with the spaces.)"""

from __future__ import annotations

import typer

app = typer.Typer(help="Inspect search spaces.", no_args_is_help=True)
