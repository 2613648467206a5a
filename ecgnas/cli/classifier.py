"""``ecgnas tune | train | predict | export``: the final classifier from the command line.

``register(app)`` adds the four commands to the root app. Heavy imports (torch, optuna,
wfdb) happen inside the commands.

* ``ecgnas tune (--arch ARCH | --run RUN_DIR) --trials N [--storage URL] [--out DIR]``
* ``ecgnas train (--arch ARCH | --run RUN_DIR | --tuned TUNE_DIR) [--seed S] [--out BUNDLE]``
* ``ecgnas predict RECORD [--bundle NAME|DIR] [--rpeaks reference|detector] [--out beats.csv]``
* ``ecgnas export [--bundle NAME|DIR] --format onnx|onnx-int8|onnx-fp16|torch_export|torchscript
  --out FILE``

``--bundle`` takes a shipped bundle's name (``default``, ``tiny``) or a bundle directory.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ecgnas.cli._common import cache_dir_option, data_dir_option
from ecgnas.errors import ConfigError

if TYPE_CHECKING:
    from ecgnas.classifier.predict import BeatPredictions
    from ecgnas.classifier.recipe import Hyperparams, Setup
    from ecgnas.spaces.base import Arch


def _threads(n: int) -> None:
    if n > 0:
        import torch

        torch.set_num_threads(n)


def resolve_arch(arch: str | None, run: Path | None) -> Arch:
    """Exactly one of ``--arch`` and ``--run`` (``ConfigError`` otherwise)."""
    from ecgnas.ecg_search import arch_from_run
    from ecgnas.train.models import parse_arch

    if (arch is None) == (run is None):
        raise ConfigError("give exactly one of --arch and --run")
    if arch is not None:
        return parse_arch(arch)
    assert run is not None
    return arch_from_run(run)


def _command_line() -> str:
    return "ecgnas " + " ".join(shlex.quote(a) for a in sys.argv[1:])


RECIPE_HELP = (
    "Named recipe (ecgnas.classifier.recipes: v1 = the first release's, r2 = rhythm "
    "features, morphology, neighbouring beats, CV ensemble; r3 = r2 + band-pass, the shipped one); default v1."
)
BUNDLE_HELP = (
    "A shipped bundle's name (default, tiny: the wearable one) or a bundle dir "
    "(default: the shipped default)."
)
SETUP_HELP = (
    "JSON file of recipe settings (ecgnas.classifier.recipe.Setup: preprocess, inputs, "
    "final = holdout|ensemble, folds, ...)."
)


def base_recipe(recipe: str | None, setup_file: Path | None) -> tuple[Setup, Hyperparams]:
    """The starting setup and hyperparameters: a named recipe, a setup file (with default
    hyperparameters), or the default recipe ``v1``; not both flags."""
    from ecgnas.classifier.recipe import Hyperparams, read_setup
    from ecgnas.classifier.recipes import get_recipe

    if recipe is not None and setup_file is not None:
        raise ConfigError("give --recipe or --setup, not both")
    if setup_file is not None:
        return read_setup(setup_file), Hyperparams()
    return get_recipe(recipe or "v1")


def tune_cmd(
    arch: str | None = typer.Option(
        None, "--arch", help="Arch: ecg1d:o1,...,o6, JSON, or 'manual' / 'tiny' (the baselines)."
    ),
    run: Path | None = typer.Option(None, "--run", help="Search run dir with result.json."),
    trials: int = typer.Option(..., "--trials", help="Total finished trials wanted (resumes)."),
    storage: str | None = typer.Option(
        None, "--storage", help="Optuna storage URL (default: journal file <out>/tune.journal)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Output dir (default runs/tune-<space>)."),
    study_name: str | None = typer.Option(None, "--study-name", help="Optuna study name."),
    seed: int = typer.Option(0, "--seed", help="Sampler and training seed."),
    cv: str | None = typer.Option(
        None, "--cv", help="holdout (one DS1 split) or kfold (default: the recipe's)."
    ),
    folds: int | None = typer.Option(None, "--folds", help="Folds for --cv kfold (5)."),
    max_majority: int | None = typer.Option(
        None, "--max-majority", help="N beats per epoch (fresh subset each epoch); 0: all."
    ),
    min_epochs: int | None = typer.Option(None, "--min-epochs", help="Lower bound of epochs."),
    max_epochs: int | None = typer.Option(None, "--max-epochs", help="Upper bound of epochs."),
    patience: int | None = typer.Option(None, "--patience", help="Early-stopping patience."),
    pruner: str = typer.Option("median", "--pruner", help="median, hyperband or none."),
    recipe: str | None = typer.Option(None, "--recipe", help=RECIPE_HELP),
    setup_file: Path | None = typer.Option(None, "--setup", help=SETUP_HELP),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch default)."),
    data_dir: str | None = data_dir_option(),
    cache_dir: str | None = cache_dir_option(),
) -> None:
    """Tune the final model's training hyperparameters with Optuna on DS1 (never DS2)."""
    from dataclasses import replace

    from ecgnas.classifier.recipe import with_overrides
    from ecgnas.classifier.tune import tune

    chosen = resolve_arch(arch, run)
    _threads(threads)
    setup, _ = base_recipe(recipe, setup_file)
    setup = with_overrides(
        setup,
        cv=cv,
        folds=folds,
        min_epochs=min_epochs,
        max_epochs=max_epochs,
        patience=patience,
    )
    if max_majority is not None:
        setup = replace(setup, max_majority=max_majority or None)
    out_dir = out or Path("runs") / f"tune-{chosen.space}"
    result = tune(
        chosen,
        trials,
        out_dir,
        setup=setup,
        seed=seed,
        storage=storage,
        study_name=study_name,
        pruner=pruner,
        data_dir=data_dir,
        cache_dir=cache_dir,
    )
    typer.echo(
        f"study {result.study_name}: {result.n_complete} complete, {result.n_pruned} pruned; "
        f"best trial {result.best_trial}: DS1-validation macro-F1 {result.best_value:.4f}"
    )
    for key, value in result.best_params.to_json().items():
        typer.echo(f"  {key} = {value}")
    typer.echo(f"wrote {result.out_dir / 'tune.json'} (storage: {result.storage})")


def train_cmd(
    arch: str | None = typer.Option(None, "--arch", help="Arch (ecg1d:..., JSON, manual or tiny)."),
    run: Path | None = typer.Option(None, "--run", help="Search run dir with result.json."),
    tuned: Path | None = typer.Option(None, "--tuned", help="Tuning dir with tune.json."),
    seed: int = typer.Option(0, "--seed", help="Training seed (init, batch order)."),
    out: Path | None = typer.Option(
        None, "--out", help="Bundle dir to write (default runs/bundles/<name>)."
    ),
    name: str | None = typer.Option(
        None, "--name", help="Report name: reports/final_<name>.md (default <space>_seed<S>)."
    ),
    report_dir: Path = typer.Option(Path("reports"), "--report-dir", help="Where reports go."),
    max_majority: int | None = typer.Option(
        None, "--max-majority", help="N beats per epoch (default: the tuned setup's, 4000)."
    ),
    recipe: str | None = typer.Option(
        None, "--recipe", help=RECIPE_HELP + " Not with --tuned (the study's is used)."
    ),
    setup_file: Path | None = typer.Option(
        None, "--setup", help=SETUP_HELP + " Not with --tuned (the study's setup is used)."
    ),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch default)."),
    data_dir: str | None = data_dir_option(),
    cache_dir: str | None = cache_dir_option(),
) -> None:
    """Retrain on DS1 (one model, or the DS1-CV ensemble with final=ensemble), calibrate on
    held-out DS1 records, evaluate once on DS2."""
    from ecgnas.classifier.final import evaluate_ds2, fit_final, write_final
    from ecgnas.classifier.recipe import with_overrides
    from ecgnas.classifier.report import summary_line
    from ecgnas.classifier.tune import read_tuned

    given = sum(x is not None for x in (arch, run, tuned))
    if given != 1:
        raise ConfigError("give exactly one of --arch, --run and --tuned")
    if tuned is not None and (setup_file is not None or recipe is not None):
        raise ConfigError("--recipe and --setup cannot be used with --tuned (the study's are used)")
    tuned_from: dict[str, Any] | None = None
    if tuned is not None:
        t = read_tuned(tuned)
        chosen, params, setup = t.arch, t.params, t.setup
        tuned_from = {"source": str(t.source), "best_value": t.best_value, "seed": t.seed}
    else:
        base, params = base_recipe(recipe, setup_file)
        chosen, setup = resolve_arch(arch, run), base
    if max_majority is not None:
        setup = with_overrides(setup, max_majority=max_majority or None)
    _threads(threads)
    label = name or f"{chosen.space}_seed{seed}"
    bundle_dir = out or Path("runs") / "bundles" / label
    t0 = time.perf_counter()
    fit = fit_final(
        chosen,
        params,
        setup,
        seed,
        data_dir=data_dir,
        cache_dir=cache_dir,
        tuned_from=tuned_from,
    )
    typer.echo(f"DS1-validation {summary_line(fit.val_metrics)}; T = {fit.temperature:.3f}")
    test = evaluate_ds2(fit, data_dir=data_dir, cache_dir=cache_dir)
    outputs = write_final(
        fit, test, name=label, bundle_dir=bundle_dir, report_dir=report_dir, command=_command_line()
    )
    typer.echo(f"DS2-test {summary_line(test.metrics4)}")
    typer.echo(
        f"DS2-test ECE {test.reliability_uncalibrated.ece:.3f} -> "
        f"{test.reliability_calibrated.ece:.3f} after temperature scaling"
    )
    typer.echo(f"bundle: {outputs.bundle}")
    typer.echo(f"report: {outputs.report_md} ({time.perf_counter() - t0:.0f} s)")


def format_summary(pred: BeatPredictions, seconds: float) -> str:
    """The per-class summary ``ecgnas predict`` prints."""
    metrics = pred.metrics()
    counts = pred.counts()
    lines = [
        f"record {pred.record}: {len(pred)} beats ({pred.rpeaks} R peaks, {pred.fs:g} Hz), "
        f"classified in {seconds:.1f} s"
    ]
    if metrics is None:
        lines.append("class  predicted")
        lines += [f"{c:<5}  {counts[c]:>9}" for c in pred.classes]
    else:
        lines.append("class  predicted  reference     Se     +P")
        for i, c in enumerate(pred.classes):
            se, ppv = metrics.se[i], metrics.ppv[i]
            lines.append(
                f"{c:<5}  {counts[c]:>9}  {int(metrics.support[i]):>9}  "
                f"{'   n/a' if se != se else f'{se:6.3f}'} "
                f"{'   n/a' if ppv != ppv else f'{ppv:6.3f}'}"
            )
        assert pred.reference is not None  # metrics exist only with a reference
        other = len([r for r in pred.reference.tolist() if r not in pred.classes])
        lines.append(
            f"macro-F1 {metrics.macro_f1:.3f} over {int(metrics.support.sum())} reference beats "
            f"of {', '.join(pred.classes)}"
            + (f"; {other} beats without a reference class of the model left out" if other else "")
        )
        missed = sum(pred.missed_reference.values())
        if missed:
            lines.append(f"reference beats missed by the detector: {missed}")
    if pred.dropped_edge:
        lines.append(f"beats at the recording's edges (window off the signal): {pred.dropped_edge}")
    return "\n".join(lines)


def resolve_record(record: Path, data_dir: str | None) -> Path:
    """``record`` itself when its header exists, else a MIT-BIH record number in the data dir."""
    from ecgnas.data.mitbih import MITDB_RECORDS
    from ecgnas.paths import data_dir as resolve_data_dir

    if record.with_name(record.name + ".hea").is_file() or str(record) not in MITDB_RECORDS:
        return record
    return resolve_data_dir(data_dir) / "mitdb" / str(record)


def predict_cmd(
    record: Path = typer.Argument(
        ...,
        help="WFDB record path without extension (e.g. mitdb/100), or a MIT-BIH record "
        "number (e.g. 100) read from the data directory.",
    ),
    bundle: str | None = typer.Option(None, "--bundle", help=BUNDLE_HELP),
    rpeaks: str = typer.Option(
        "reference", "--rpeaks", help="reference (annotated beats) or detector (XQRS)."
    ),
    lead: str | None = typer.Option(None, "--lead", help="Lead name (default: the bundle's)."),
    out: Path | None = typer.Option(None, "--out", help="Write one CSV row per beat here."),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch default)."),
    data_dir: str | None = data_dir_option(),
) -> None:
    """Classify every beat of a record and print a per-class summary."""
    from ecgnas.classifier import load_classifier
    from ecgnas.io import atomic_write_text

    if rpeaks not in ("reference", "detector"):
        raise ConfigError(f"--rpeaks must be reference or detector, got {rpeaks!r}")
    t0 = time.perf_counter()
    _threads(threads)
    classifier = load_classifier(bundle)
    pred = classifier.predict_record(resolve_record(record, data_dir), rpeaks=rpeaks, lead=lead)
    typer.echo(format_summary(pred, time.perf_counter() - t0))
    if out is not None:
        atomic_write_text(out, pred.to_csv())
        typer.echo(f"wrote {len(pred)} rows to {out}")


def export_cmd(
    fmt: str = typer.Option(
        ...,
        "--format",
        help="onnx, onnx-int8 (static QDQ quantization calibrated on DS1 beats), onnx-fp16, "
        "torch_export (a torch.export program, .pt2) or torchscript.",
    ),
    out: Path = typer.Option(..., "--out", help="File to write."),
    bundle: str | None = typer.Option(None, "--bundle", help=BUNDLE_HELP),
    data_dir: str | None = data_dir_option(),
    cache_dir: str | None = cache_dir_option(),
) -> None:
    """Export a bundle's model (logits and calibrated probabilities) to ONNX or TorchScript."""
    from ecgnas.classifier import load_classifier
    from ecgnas.classifier.export import FORMATS, export

    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r} (choose {', '.join(FORMATS)})")
    classifier = load_classifier(bundle)
    path = export(classifier, fmt, out, data_dir=data_dir, cache_dir=cache_dir)
    typer.echo(
        f"exported {classifier.name} ({classifier.arch.key()}) to {path}: inputs beats "
        f"[batch, {classifier.inputs.n_channels}, {classifier.preprocess.window}], "
        f"rr [batch, {classifier.inputs.n_rr}]; outputs logits, "
        f"probabilities (T = {classifier.temperature:.3f})"
    )


def register(app: typer.Typer) -> None:
    """Add ``tune``, ``train``, ``predict`` and ``export`` to the root app."""
    app.command("tune")(tune_cmd)
    app.command("train")(train_cmd)
    app.command("predict")(predict_cmd)
    app.command("export")(export_cmd)
