"""``ecgnas worker --storage URL --study NAME``: evaluate for a distributed search.

A worker needs no other flag: it reads which evaluator to build from the study that the
coordinator (``ecgnas search ... --workers N --storage URL``) created, and evaluates waiting
trials until the run is finished. Run one per GPU (``CUDA_VISIBLE_DEVICES=i``) on as many
machines as reach the storage. ``python -m ecgnas.cli.worker`` runs the same command on its
own (the coordinator starts its local workers that way).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

from ecgnas.cli._common import CACHE_DIR_HELP, DATA_DIR_HELP
from ecgnas.errors import ConfigError, EcgnasError


def worker(
    storage: str = typer.Option(
        ...,
        "--storage",
        help="The run's storage: postgresql://user@host:port/db, or the journal file / run "
        "directory of the coordinator (shared file system).",
    ),
    study: str = typer.Option("run", "--study", help="The run's study name."),
    worker_id: str | None = typer.Option(
        None, "--worker-id", help="Name recorded on each trial (default: host:pid)."
    ),
    wait: float = typer.Option(60.0, "--wait", help="Seconds to wait for the study to appear."),
    idle_timeout: float | None = typer.Option(
        None, "--idle-timeout", help="Exit after this many seconds without work (default: never)."
    ),
    max_evals: int | None = typer.Option(
        None, "--max-evals", help="Exit after this many evaluations."
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help=CACHE_DIR_HELP),
    parent_pid: int | None = typer.Option(
        None, "--parent-pid", hidden=True, help="Exit when this process is gone (local workers)."
    ),
) -> None:
    """Evaluate architectures for a distributed search until the run is finished."""
    from ecgnas.search.distributed import run_worker

    if wait < 0:
        raise ConfigError(f"--wait must be >= 0, got {wait}")
    if idle_timeout is not None and idle_timeout <= 0:
        raise ConfigError(f"--idle-timeout must be positive, got {idle_timeout}")
    if max_evals is not None and max_evals < 1:
        raise ConfigError(f"--max-evals must be at least 1, got {max_evals}")
    report = run_worker(
        storage,
        study,
        worker_id=worker_id,
        data_dir=data_dir,
        cache_dir=cache_dir,
        wait_s=wait,
        idle_exit_s=idle_timeout,
        max_evals=max_evals,
        parent_pid=parent_pid,
        check_schema=parent_pid is None,  # local workers: their coordinator has checked
    )
    typer.echo(
        f"worker {report.worker_id}: {report.n_completed} evaluations, {report.n_failed} failed, "
        f"{report.n_lost} handed out again ({report.stop_reason})"
    )
    if report.stop_reason == "terminated":
        raise typer.Exit(130)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


def main(argv: list[str] | None = None) -> int:
    """``python -m ecgnas.cli.worker``: the worker command alone, with the CLI's error rules
    (a user error is one line ``error: ...`` on stderr and exit code 2)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    app.command()(worker)
    try:
        app(args=argv, prog_name="ecgnas worker")
    except EcgnasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
