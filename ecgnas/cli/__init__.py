"""The ``ecgnas`` command line (typer). Thin: parse flags, call the library, print.

Each command group lives in its own module of this package (``data``, ``space``, ...) and
imports heavy libraries inside its commands, so ``ecgnas --help`` is fast.

Every error a user can cause (``EcgnasError``, a bad flag) is printed as one line on stderr,
``error: ...``, with exit code 2. No tracebacks.
"""

from __future__ import annotations

import logging
import sys

import typer

from ecgnas.cli import benchmark as benchmark_cmds
from ecgnas.cli import classifier as classifier_cmds
from ecgnas.cli import data as data_cmds
from ecgnas.cli import search as search_cmds
from ecgnas.cli import space as space_cmds
from ecgnas.cli import worker as worker_cmds
from ecgnas.errors import EcgnasError

app = typer.Typer(
    name="ecgnas",
    help="DCL-ENAS neural architecture search for ECG arrhythmia classifiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(data_cmds.app, name="data")
app.add_typer(space_cmds.app, name="space")
search_cmds.register(app)
worker_cmds.register(app)
classifier_cmds.register(app)
app.add_typer(benchmark_cmds.app, name="benchmark")


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the app; user errors become one line on stderr, exit code 2."""
    try:
        app(args=argv, prog_name="ecgnas")
    except EcgnasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    return 0


__all__ = ["app", "main"]

if __name__ == "__main__":
    sys.exit(main())
