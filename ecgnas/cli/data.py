"""``ecgnas data ...``: download and inspect datasets. (Filled in by the data pipeline.)"""

from __future__ import annotations

import typer

app = typer.Typer(help="Download and inspect datasets.", no_args_is_help=True)
