"""Run ``ecgnas benchmark nb201|nb101`` without the CLI root (same commands, same reports).

``python scripts/search_benchmark.py nb201 --dataset cifar10 --seeds 100 --jobs 2`` is
``ecgnas benchmark nb201 --dataset cifar10 --seeds 100 --jobs 2``; useful where the
``benchmark`` group does not register these commands yet.
"""

from __future__ import annotations

import logging
import sys

import typer

from ecgnas.cli.benchmark_search import register
from ecgnas.errors import EcgnasError


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    register(app)
    try:
        app(prog_name="ecgnas benchmark")
    except EcgnasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
