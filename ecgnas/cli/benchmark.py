"""``ecgnas benchmark ...``: measurements that write ``reports/``.

``benchmark predictor nb201|nb101|ecg``: how well each predictor ranks NB201 / NB101 cells
(or the ECG table's archs) from
few labels (``ecgnas.benchmarks.predictor_bench``; NB101 ranks by seed-0 test accuracy). Heavy imports happen inside the commands.
"""

from __future__ import annotations

import shlex
import sys
import time

import typer

from ecgnas.cli._common import any_of, cache_dir_option, data_dir_option, quiet_logging
from ecgnas.errors import ConfigError
from ecgnas.predictor.registry import PREDICTOR_NAMES

app = typer.Typer(help="Benchmarks that write reports (markdown, JSON, PNG).", no_args_is_help=True)


def _int_list(text: str, flag: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{flag} must be comma-separated whole numbers, got {text!r}") from None
    if not values:
        raise ConfigError(f"{flag} needs at least one value")
    return values


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


@app.command("predictor")
def predictor(
    benchmark: str = typer.Argument(
        "nb201", help="Benchmark table: nb201, nb101 or ecg (the ECG search benchmark's table)."
    ),
    dataset: str | None = typer.Option(
        None,
        "--dataset",
        help="NB201 only: cifar10-valid (default), cifar10, cifar100 or ImageNet16-120. "
        "nb101 has one (cifar10).",
    ),
    labels: str = typer.Option(
        "20,50,100,200", "--labels", help="Labelled archs, comma-separated."
    ),
    seeds: int = typer.Option(20, "--seeds", help="Number of seeds (0..seeds-1)."),
    first_seed: int = typer.Option(0, "--first-seed", help="First seed."),
    variants: str = typer.Option(
        "",
        "--variants",
        help=f"Predictors, comma-separated (default: all), {any_of(PREDICTOR_NAMES)}.",
    ),
    pool: int | None = typer.Option(
        None,
        "--pool",
        help="Unlabelled cells per seed the metrics cover, a seeded random sample "
        "(default: nb101 10000; nb201 all).",
    ),
    jobs: int = typer.Option(1, "--jobs", help="Worker processes."),
    clp_seed: int = typer.Option(0, "--clp-seed", help="Seed of the shared CLP encoder."),
    out: str = typer.Option("reports", "--out", help="Report folder."),
    data_dir: str | None = data_dir_option(),
    cache_dir: str | None = cache_dir_option(),
    quiet: bool = typer.Option(False, "--quiet", help="No progress lines, no INFO log messages."),
) -> None:
    """Rank NB201 (or NB101, by seed-0 test accuracy; or the ECG table's joint-space archs,
    by DS1-CV proxy score) from 20..200 labels with every predictor; write a report."""
    from ecgnas.benchmarks.predictor_bench import (
        PredictorBenchConfig,
        run_predictor_bench,
        summarize,
        write_report,
    )

    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    quiet_logging(quiet)
    config = PredictorBenchConfig(
        benchmark=benchmark,
        dataset=dataset,
        labels=_int_list(labels, "--labels"),
        seeds=tuple(range(first_seed, first_seed + seeds)),
        variants=_names(variants) or PREDICTOR_NAMES,
        jobs=jobs,
        pool=pool,
        clp_seed=clp_seed,
        data_dir=data_dir,
        cache_dir=cache_dir,
    )

    def progress(done: int, total: int, elapsed: float) -> None:
        if not quiet:
            eta = elapsed / done * (total - done)
            typer.echo(
                f"  {done}/{total} tasks, {elapsed / 60:.1f} min elapsed, ~{eta / 60:.1f} min left",
                err=True,
            )

    where = "all unlabelled cells" if config.pool is None else f"{config.pool} cells/seed"
    typer.echo(
        f"predictor benchmark {benchmark} {config.dataset}: {len(config.variants)} predictors x "
        f"{len(config.seeds)} seeds x labels {list(config.labels)}, metrics over {where}, "
        f"jobs {jobs}",
        err=True,
    )
    t0 = time.perf_counter()
    records, pretrained = run_predictor_bench(config, on_progress=progress)
    wall = time.perf_counter() - t0
    command = "ecgnas " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    paths = write_report(out, config, records, pretrained, command, wall)
    summary = summarize(records)
    for variant in config.variants:
        cells = ", ".join(
            f"{n}: {s['kendall_tau_mean']:.3f}" for n, s in sorted(summary[variant].items())
        )
        typer.echo(f"{variant:>16}  tau  {cells}")
    for kind, path in paths.items():
        typer.echo(f"wrote {kind}: {path}")


def _register_search_benchmarks() -> None:
    from ecgnas.cli import benchmark_search

    benchmark_search.register(app)


_register_search_benchmarks()
