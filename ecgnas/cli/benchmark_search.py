"""``ecgnas benchmark nb201|nb101|ecg|pareto``: search methods compared on the benchmark
tables; ``ecgnas benchmark ecg-table`` builds the ECG table.

``register(app)`` adds the commands to the ``benchmark`` typer group (``pareto``: accuracy
against a HW-NAS-Bench device cost). Heavy imports (numpy, torch, optuna,
matplotlib) happen inside the commands.
"""

from __future__ import annotations

import shlex
import sys
import time
from typing import Any

import typer

from ecgnas.classifier.proxy import FIDELITIES
from ecgnas.classifier.proxy import PROXY as DEFAULT_PROXY
from ecgnas.cli._common import (
    any_of,
    cache_dir_option,
    data_dir_option,
    one_of,
    quiet_logging,
)
from ecgnas.errors import ConfigError
from ecgnas.search.registry import (
    BENCHMARK_DEFAULT_STRATEGIES,
    PARETO_STRATEGY_NAMES,
    STRATEGY_NAMES,
)

DEFAULT_METHODS = ",".join(BENCHMARK_DEFAULT_STRATEGIES)
METHODS_HELP = f"Search methods, comma-separated, {any_of(STRATEGY_NAMES)}."
PARETO_METHODS_HELP = f"Search methods, comma-separated, {any_of(PARETO_STRATEGY_NAMES)}."
NB201_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120")
FIDELITY_NAMES: tuple[str, ...] = tuple(FIDELITIES)
#: HW-NAS-Bench devices whose cost covers every NB201 cell (edgetpu lacks 4,699 cells), and
#: the metrics: ``ecgnas.benchmarks.nb201_hw``'s lists (numpy-free here; a test compares them)
HW_DEVICES: tuple[str, ...] = ("edgegpu", "raspi4", "pixel3", "eyeriss", "fpga")
HW_METRICS: tuple[str, ...] = ("latency", "energy")


def _methods(text: str) -> tuple[str, ...]:
    methods = tuple(m.strip() for m in text.split(",") if m.strip())
    if not methods:
        raise ConfigError("--methods needs at least one method")
    return methods


def _seeds(n: int, first: int) -> tuple[int, ...]:
    if n < 1:
        raise ConfigError(f"--seeds must be at least 1, got {n}")
    return tuple(range(first, first + n))


def _config(
    benchmark: str,
    dataset: str,
    methods: str,
    seeds: int,
    first_seed: int,
    budget: int,
    jobs: int,
    data_dir: str | None,
    cache_dir: str | None,
    **extra: Any,
) -> Any:
    """The ``BenchmarkConfig`` of one benchmark command (flags checked)."""
    from ecgnas.benchmarks.harness import BenchmarkConfig

    return BenchmarkConfig(
        benchmark=benchmark,
        dataset=dataset,
        methods=_methods(methods),
        seeds=_seeds(seeds, first_seed),
        budget=budget,
        jobs=jobs,
        data_dir=data_dir,
        cache_dir=cache_dir,
        **extra,
    )


def _command_line(subcommand: str) -> str:
    """``ecgnas benchmark <subcommand> <its arguments>`` as typed (for the report header)."""
    args = sys.argv[1:]
    rest = args[args.index(subcommand) + 1 :] if subcommand in args else args
    return f"ecgnas benchmark {subcommand} " + " ".join(shlex.quote(a) for a in rest)


def _run(config: object, out: str, quiet: bool) -> None:
    from ecgnas.benchmarks.harness import BenchmarkConfig, load_benchmark, run_benchmark
    from ecgnas.benchmarks.report import summarize, write_report

    assert isinstance(config, BenchmarkConfig)
    quiet_logging(quiet)
    _, reference = load_benchmark(config)  # fails fast on a missing table

    def progress(done: int, total: int, elapsed: float) -> None:
        if not quiet:
            eta = elapsed / done * (total - done)
            typer.echo(
                f"  {done}/{total} runs, {elapsed / 60:.1f} min elapsed, ~{eta / 60:.1f} min left",
                err=True,
            )

    label = config.dataset if config.benchmark == "nb201" else config.benchmark
    typer.echo(
        f"{label}: {len(config.methods)} methods x {len(config.seeds)} seeds, budget "
        f"{config.budget}, jobs {config.jobs}",
        err=True,
    )
    t0 = time.perf_counter()
    records = run_benchmark(config, on_progress=progress)
    wall = time.perf_counter() - t0
    command = _command_line(config.benchmark)
    paths = write_report(out, config, reference, records, command, wall)
    summary = summarize(config, records)
    if reference.signal_note.startswith("TEST"):
        typer.echo("note: selects on seed-0 TEST accuracy (nb101.npz has no validation)")
    for method, s in summary["methods"].items():
        typer.echo(
            f"{label} {method:9s} test {s['final_test_mean']:.3f} ± {s['final_test_std']:.3f}  "
            f"found best {100 * s['found_best_share']:.0f} %  {s['wall_seconds_mean']:.1f} s/run"
        )
    for method, t in summary["paired_tests"].items():
        p = "n/a" if t["p_value"] is None else f"{t['p_value']:.2g}"
        reach = summary["evals_to_match"][method]["method_evals"]
        typer.echo(
            f"{label} dcl_enas vs {method}: {t['wins']}/{t['ties']}/{t['losses']} W/T/L, "
            f"Wilcoxon p = {p}; reaches its mean at "
            f"{summary['evals_to_match'][method]['baseline_evals']} evals after {reach} evals"
        )
    typer.echo(f"wrote {paths['md']}, {paths['json'].name}, {paths['png'].name}")


def register(app: typer.Typer) -> None:
    """Add ``nb201``, ``nb101`` and ``pareto`` to the ``benchmark`` group ``app``."""

    @app.command("nb201")
    def nb201(
        dataset: str = typer.Option(
            "cifar10",
            "--dataset",
            help="cifar10 (search on cifar10-valid validation), cifar100, ImageNet16-120, or all.",
        ),
        budget: int = typer.Option(100, "--budget", help="Evaluations per run."),
        seeds: int = typer.Option(100, "--seeds", help="Number of paired seeds."),
        first_seed: int = typer.Option(0, "--first-seed", help="The first seed."),
        methods: str = typer.Option(DEFAULT_METHODS, "--methods", help=METHODS_HELP),
        jobs: int = typer.Option(1, "--jobs", help="Worker processes."),
        out: str = typer.Option("reports", "--out", help="Output directory."),
        quiet: bool = typer.Option(
            False, "--quiet", help="No progress lines, no INFO log messages."
        ),
        data_dir: str | None = data_dir_option(),
        cache_dir: str | None = cache_dir_option(),
    ) -> None:
        """Compare search methods on NAS-Bench-201; writes reports/search_nb201_<dataset>.*"""
        if dataset == "all":
            datasets = NB201_DATASETS
        elif dataset in NB201_DATASETS:
            datasets = (dataset,)
        else:
            raise ConfigError(
                f"unknown dataset {dataset!r}; known: {', '.join(NB201_DATASETS)}, all"
            )
        for name in datasets:
            config = _config(
                "nb201", name, methods, seeds, first_seed, budget, jobs, data_dir, cache_dir
            )
            _run(config, out, quiet)

    @app.command("nb101")
    def nb101(
        budget: int = typer.Option(150, "--budget", help="Evaluations per run."),
        seeds: int = typer.Option(100, "--seeds", help="Number of paired seeds."),
        first_seed: int = typer.Option(0, "--first-seed", help="The first seed."),
        methods: str = typer.Option(DEFAULT_METHODS, "--methods", help=METHODS_HELP),
        jobs: int = typer.Option(1, "--jobs", help="Worker processes."),
        source: str = typer.Option(
            "auto",
            "--source",
            help="auto (the official tfrecord if present, else nb101.npz), npz or tfrecord.",
        ),
        out: str = typer.Option("reports", "--out", help="Output directory."),
        quiet: bool = typer.Option(
            False, "--quiet", help="No progress lines, no INFO log messages."
        ),
        data_dir: str | None = data_dir_option(),
        cache_dir: str | None = cache_dir_option(),
    ) -> None:
        """Compare search methods on NAS-Bench-101; writes reports/search_nb101.*

        On nb101.npz the only accuracy is the seed-0 test accuracy, so the search selects
        on it (every result says so); the official tfrecord gives validation accuracy.
        """

        if source not in ("auto", "npz", "tfrecord"):
            raise ConfigError(f"unknown --source {source!r}; known: auto, npz, tfrecord")
        config = _config(
            "nb101", "cifar10", methods, seeds, first_seed, budget, jobs, data_dir, cache_dir,
            nb101_source=source,
        )  # fmt: skip
        _run(config, out, quiet)

    register_ecg(app)
    register_pareto(app)


def _run_pareto(config: object, out: str, quiet: bool) -> None:
    from ecgnas.benchmarks.pareto_bench import ParetoConfig, load_pareto, run_pareto
    from ecgnas.benchmarks.pareto_report import METHOD, summarize, write_report

    assert isinstance(config, ParetoConfig)
    quiet_logging(quiet)
    _, _, reference = load_pareto(config)  # fails fast on a missing table or metric

    def progress(done: int, total: int, elapsed: float) -> None:
        if not quiet:
            eta = elapsed / done * (total - done)
            typer.echo(
                f"  {done}/{total} runs, {elapsed / 60:.1f} min elapsed, ~{eta / 60:.1f} min left",
                err=True,
            )

    label = f"{config.device} {config.metric}"
    typer.echo(
        f"pareto nb201 {config.dataset} vs {label}: {len(config.methods)} methods x "
        f"{len(config.seeds)} seeds, budget {config.budget}, jobs {config.jobs}; reference point "
        f"(0 %, {reference.cost_ref:.4g} {reference.cost_unit})",
        err=True,
    )
    t0 = time.perf_counter()
    records = run_pareto(config, on_progress=progress)
    wall = time.perf_counter() - t0
    paths = write_report(out, config, reference, records, _command_line("pareto"), wall)
    summary = summarize(config, records, reference)
    for method, s in summary["methods"].items():
        typer.echo(
            f"{label} {method:7s} HV {s['hv_signal']['mean']:.4f} ± {s['hv_signal']['std']:.4f} "
            f"(test {s['hv_test']['mean']:.4f}; table front {reference.optimal_hv_signal:.4f})"
        )
    for method, t in summary["paired_tests"].items():
        p = "n/a" if t["p_value"] is None else f"{t['p_value']:.2g}"
        typer.echo(
            f"{label} {METHOD} vs {method}: {t['wins']}/{t['ties']}/{t['losses']} W/T/L, "
            f"Wilcoxon p = {p}"
        )
    typer.echo(f"wrote {paths['md']}, {paths['json'].name}, {paths['png'].name}")


def register_pareto(app: typer.Typer) -> None:
    """Add ``pareto`` to the ``benchmark`` group ``app``."""

    @app.command("pareto")
    def pareto(
        benchmark: str = typer.Argument(..., help="Benchmark table: nb201 (with HW-NAS-Bench)."),
        hw: str = typer.Option(..., "--hw", help=f"Device, {one_of(HW_DEVICES)}."),
        metric: str = typer.Option("latency", "--metric", help=f"Cost, {one_of(HW_METRICS)}."),
        dataset: str = typer.Option(
            "cifar10",
            "--dataset",
            help="cifar10 (search on cifar10-valid validation), cifar100 or ImageNet16-120.",
        ),
        budget: int = typer.Option(100, "--budget", help="Evaluations per run."),
        seeds: int = typer.Option(30, "--seeds", help="Number of paired seeds."),
        first_seed: int = typer.Option(0, "--first-seed", help="The first seed."),
        methods: str = typer.Option(
            ",".join(PARETO_STRATEGY_NAMES), "--methods", help=PARETO_METHODS_HELP
        ),
        jobs: int = typer.Option(1, "--jobs", help="Worker processes."),
        out: str = typer.Option("reports", "--out", help="Output directory."),
        quiet: bool = typer.Option(
            False, "--quiet", help="No progress lines, no INFO log messages."
        ),
        data_dir: str | None = data_dir_option(),
        cache_dir: str | None = cache_dir_option(),
    ) -> None:
        """Accuracy against a device cost: hypervolume of each method's evaluated archs;
        writes reports/pareto_nb201_<device>.*"""
        from ecgnas.benchmarks.pareto_bench import ParetoConfig

        if benchmark != "nb201":
            raise ConfigError(f"unknown benchmark {benchmark!r} for pareto; known: nb201")
        config = ParetoConfig(
            device=hw,
            metric=metric,
            dataset=dataset,
            methods=_methods(methods),
            seeds=_seeds(seeds, first_seed),
            budget=budget,
            jobs=jobs,
            data_dir=data_dir,
            cache_dir=cache_dir,
        )
        _run_pareto(config, out, quiet)


def register_ecg(app: typer.Typer) -> None:
    """Add ``ecg`` and ``ecg-table`` to the ``benchmark`` group ``app``."""

    @app.command("ecg")
    def ecg(
        budget: int = typer.Option(100, "--budget", help="Evaluations per run."),
        seeds: int = typer.Option(50, "--seeds", help="Number of paired seeds."),
        first_seed: int = typer.Option(0, "--first-seed", help="The first seed."),
        methods: str = typer.Option(DEFAULT_METHODS, "--methods", help=METHODS_HELP),
        jobs: int = typer.Option(1, "--jobs", help="Worker processes."),
        table: str | None = typer.Option(
            None, "--table", help="The ECG benchmark table (default: the shipped one)."
        ),
        out: str = typer.Option("reports", "--out", help="Output directory."),
        quiet: bool = typer.Option(
            False, "--quiet", help="No progress lines, no INFO log messages."
        ),
    ) -> None:
        """Compare search methods on the ECG benchmark table (joint-space archs with their
        DS1-CV proxy scores); writes reports/search_ecg.*"""
        config = _config(
            "ecg", "mitbih", methods, seeds, first_seed, budget, jobs, None, None, table=table
        )
        _run(config, out, quiet)

    @app.command("ecg-table")
    def ecg_table(
        archs: int = typer.Option(1000, "--archs", help="Table size (the first N of the sample)."),
        fidelity: str = typer.Option(
            DEFAULT_PROXY, "--fidelity", help=f"DS1-CV fidelity, {one_of(FIDELITY_NAMES)}."
        ),
        table: str | None = typer.Option(
            None, "--table", help="Table file to extend (default: the shipped one)."
        ),
        shard: str = typer.Option(
            "0/1", "--shard", help="i/n: score every n-th arch from the i-th."
        ),
        threads: int = typer.Option(1, "--threads", help="torch CPU threads."),
        quiet: bool = typer.Option(False, "--quiet", help="No line per arch."),
        data_dir: str | None = data_dir_option(),
        cache_dir: str | None = cache_dir_option(),
    ) -> None:
        """Build (or resume) the ECG benchmark table: a seeded uniform sample of the ecgjoint
        space scored by DS1 cross-validation at a proxy fidelity (DS1 only)."""
        from ecgnas.benchmarks.ecg_table import build_table, shipped_table
        from ecgnas.cli.search import set_threads

        if fidelity not in FIDELITY_NAMES:
            raise ConfigError(
                f"unknown --fidelity {fidelity!r}; known: {', '.join(FIDELITY_NAMES)}"
            )
        try:
            index, count = (int(v) for v in shard.split("/"))
        except ValueError:
            raise ConfigError(f"--shard must be i/n, got {shard!r}") from None
        if archs < 1:
            raise ConfigError(f"--archs must be at least 1, got {archs}")
        set_threads(threads)
        quiet_logging(quiet)
        path = table or str(shipped_table())

        def on_row(row: dict[str, Any]) -> None:
            if not quiet:
                typer.echo(
                    f"{row['index']:5d} {row['arch']}: {row['macro_f1']:.4f} "
                    f"in {row['seconds']:.1f} s",
                    err=True,
                )

        n = build_table(
            archs,
            fidelity,
            path,
            shard=(index, count),
            data_dir=data_dir,
            cache_dir=cache_dir,
            on_row=on_row,
        )
        typer.echo(f"scored {n} archs; table: {path}")
