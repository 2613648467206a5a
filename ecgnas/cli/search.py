"""``ecgnas search --dataset mitbih --gpu-days 8 ...``: the ECG architecture search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ecgnas.classifier.proxy import FIDELITIES
from ecgnas.classifier.proxy import PROXY as DEFAULT_PROXY
from ecgnas.cli._common import CACHE_DIR_HELP, DATA_DIR_HELP, one_of
from ecgnas.ecg_costs import COST_NAMES, SIGNAL_OBJECTIVE
from ecgnas.errors import ConfigError
from ecgnas.search.registry import PARETO_STRATEGY_NAMES, STRATEGY_NAMES
from ecgnas.spaces.registry import ECG_SPACE_NAMES

FIDELITY_NAMES = tuple(FIDELITIES)
FIDELITY_HELP = (
    f"Score candidates by DS1 cross-validation at this fidelity ({one_of(FIDELITY_NAMES)}); "
    f"the ecgjoint space always does (default {DEFAULT_PROXY}). Without it, "
    "ecg1d/manual/tiny use the holdout proxy (--epochs, --max-majority, --width)."
)

METHOD_HELP = (
    f"Search method, {one_of(STRATEGY_NAMES)}. With --objectives (default "
    f"{PARETO_STRATEGY_NAMES[0]}), {one_of(PARETO_STRATEGY_NAMES)}."
)
OBJECTIVES_HELP = (
    f"Search for a Pareto front of {SIGNAL_OBJECTIVE} (the search signal) and one cost, "
    f"{one_of(COST_NAMES)}. Exactly two objectives, the signal first: "
    f"{SIGNAL_OBJECTIVE},{COST_NAMES[0]}"
)


def set_threads(threads: int | None) -> None:
    """Pin torch's CPU threads (small 1-D CNNs on a busy CPU run faster on 1 thread)."""
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {threads}")
        import torch

        torch.set_num_threads(threads)


def search(
    ctx: typer.Context,
    dataset: str = typer.Option("mitbih", "--dataset", help="Dataset to search on (mitbih)."),
    gpu_days: float = typer.Option(
        ..., "--gpu-days", help="Device-day budget (evaluation + predictor time)."
    ),
    max_evals: int | None = typer.Option(
        None, "--max-evals", help="Also stop after this many evaluations."
    ),
    run_dir: Path | None = typer.Option(
        None, "--run-dir", help="Run directory (default: runs/mitbih-...)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --run-dir."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    seed: int = typer.Option(0, "--seed", help="Run seed (strategy and initial sample)."),
    space: str = typer.Option(
        ECG_SPACE_NAMES[0], "--space", help=f"ECG search space, {one_of(ECG_SPACE_NAMES)}."
    ),
    method: str = typer.Option(STRATEGY_NAMES[0], "--method", help=METHOD_HELP),
    objectives: str | None = typer.Option(None, "--objectives", help=OBJECTIVES_HELP),
    epochs: int = typer.Option(4, "--epochs", help="Proxy training: maximum epochs per candidate."),
    max_majority: int = typer.Option(
        4000, "--max-majority", help="Proxy training: N beats per epoch (0 = all)."
    ),
    width: int = typer.Option(8, "--width", help="ecg1d stem width during search."),
    fidelity: str | None = typer.Option(None, "--fidelity", help=FIDELITY_HELP),
    threads: int | None = typer.Option(
        None, "--threads", help="torch CPU threads (default: torch's)."
    ),
    workers: int = typer.Option(
        0, "--workers", help="Evaluate in N local worker processes (one per device slot)."
    ),
    storage: str | None = typer.Option(
        None,
        "--storage",
        help="Run-log storage: default the journal in --run-dir; postgresql://... for many machines.",
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help=CACHE_DIR_HELP),
) -> None:
    """Search an ECG classifier on MIT-BIH DS1 (train on DS1-train records, score DS1-val)."""
    from ecgnas.ecg_search import ECGSearchSettings, default_run_dir
    from ecgnas.train.ecg_evaluator import ProxySettings

    if dataset != "mitbih":
        raise ConfigError(f"unknown dataset {dataset!r}; ecgnas search supports: mitbih")
    if gpu_days <= 0:
        raise ConfigError(f"--gpu-days must be positive, got {gpu_days}")
    if resume and run_dir is None:
        raise ConfigError("--resume needs --run-dir")
    if workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers}")
    set_threads(threads)
    proxy = ProxySettings(
        epochs=epochs,
        max_majority_per_epoch=max_majority or None,
        width=width,
        device=device,
        seed=seed,
    )
    if fidelity is not None and fidelity not in FIDELITY_NAMES:
        raise ConfigError(
            f"unknown --fidelity {fidelity!r}; choose one of {', '.join(FIDELITY_NAMES)}"
        )
    chosen = _objectives(ctx, objectives, method)
    settings = ECGSearchSettings(
        gpu_days=gpu_days,
        max_evals=max_evals,
        space=space,
        method=chosen[0],
        seed=seed,
        proxy=proxy,
        fidelity=fidelity,
        objectives=chosen[1],
    )
    run_dir = run_dir or default_run_dir(settings)
    result = _run_with_progress(
        settings,
        run_dir,
        resume=resume,
        data_dir=data_dir,
        cache_dir=cache_dir,
        workers=workers,
        storage=storage,
    )
    best = result.best()
    cv = settings.cv_fidelity() is not None
    signal, prefix = ("DS1-CV", "cv_f1_") if cv else ("DS1-val", "val_f1_")
    typer.echo(f"evaluations: {len(result.evaluations)} ({result.stop_reason})")
    typer.echo(f"best arch: {best.arch.key()}  {settings.signal_name()} {best.score:.4f}")
    typer.echo(
        f"per-class {signal} F1: "
        + ", ".join(
            f"{c} {float(best.metrics.get(f'{prefix}{c}', float('nan'))):.3f}" for c in "NSVF"
        )
    )
    if settings.objectives:
        _echo_front(run_dir)
    typer.echo(f"report: {run_dir / 'report.md'}  result: {run_dir / 'result.json'}")


def _objectives(
    ctx: typer.Context, objectives: str | None, method: str
) -> tuple[str, tuple[str, ...]]:
    """(method, objectives): with ``--objectives``, the method defaults to the first
    multi-objective one (an explicit single-objective method is refused by the settings)."""
    if objectives is None:
        return method, ()
    from ecgnas.ecg_costs import parse_objectives

    names = parse_objectives(objectives)
    source = ctx.get_parameter_source("method")
    if source is None or source.name in ("DEFAULT", "DEFAULT_MAP"):  # --method not given
        method = PARETO_STRATEGY_NAMES[0]
    return method, names


def _echo_front(run_dir: Path) -> None:
    import json

    pareto = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))["pareto"]
    ref = pareto["reference"]
    typer.echo(
        f"Pareto front ({pareto['cost']['objective']}): {len(pareto['front'])} archs; "
        f"hypervolume {pareto['hypervolume']:.4f} (reference: signal {ref['signal']:g}, "
        f"cost {ref['cost']:.6g} {pareto['cost']['unit']})"
    )


def _run_with_progress(
    settings: Any,
    run_dir: Path,
    *,
    resume: bool,
    data_dir: Path | None,
    cache_dir: Path | None,
    workers: int,
    storage: str | None,
) -> Any:
    """``run_ecg_search`` under a progress bar of the device-day budget."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ecgnas.ecg_search import run_ecg_search

    budget_s = settings.budget().max_seconds or 1.0
    typer.echo(f"run directory: {run_dir}", err=True)
    if storage is not None:
        study = Path(run_dir).name
        typer.echo(
            f"study: {study} (workers: ecgnas worker --storage URL --study {study})", err=True
        )
    with Progress(
        TextColumn("[bold]search[/bold]"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}% of budget"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task("search", total=budget_s, status="preparing data...")

        def on_eval(ev, history) -> None:  # noqa: ANN001
            best = history.best()
            bar.update(
                task,
                completed=min(budget_s, history.seconds),
                status=f"{len(history)} evals, best DS1-val macro-F1 {best.score:.4f}",
            )

        result = run_ecg_search(
            settings,
            run_dir,
            resume=resume,
            data_dir=data_dir,
            cache_dir=cache_dir,
            on_evaluation=on_eval,
            workers=workers,
            storage=storage,
        )
    return result


def register(app: typer.Typer) -> None:
    app.command("search")(search)
