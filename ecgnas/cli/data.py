"""``ecgnas data ...``: download and inspect datasets."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer

from ecgnas.cli._common import cache_dir_option, data_dir_option
from ecgnas.errors import ConfigError

app = typer.Typer(help="Download and inspect datasets.", no_args_is_help=True)

DATASETS = ("mitbih",)


def _check_dataset(name: str) -> None:
    if name.lower() not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})")


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int, str], None] | None]:
    """A progress callback drawing a bar on stderr when it is a terminal, else None."""
    if not sys.stderr.isatty():
        yield None
        return
    state: dict[str, object] = {}

    def update(done: int, total: int, record: str) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = typer.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
            state["bar"] = bar
        bar.update(1)  # type: ignore[attr-defined]  # a click ProgressBar kept as object
        if done == total:
            bar.__exit__(None, None, None)  # type: ignore[attr-defined]  # as above
            state.pop("bar")

    try:
        yield update
    finally:
        bar = state.get("bar")
        if bar is not None:
            bar.__exit__(None, None, None)  # type: ignore[attr-defined]  # as above


@app.command("download")
def download(
    dataset: str = typer.Argument(..., help="Dataset name: mitbih."),
    data_dir: str | None = data_dir_option(),
) -> None:
    """Fetch the dataset from PhysioNet when records are missing, then verify SHA256SUMS."""
    _check_dataset(dataset)
    from ecgnas.data.mitbih import download_mitbih

    report = download_mitbih(data_dir)
    if report.downloaded:
        typer.echo(f"downloaded {len(report.downloaded)} records into {report.directory}")
    else:
        typer.echo(f"all 48 records present in {report.directory}")
    if report.verified_files:
        typer.echo(f"verified {report.verified_files} files against SHA256SUMS.txt")
    else:
        typer.echo("no SHA256SUMS.txt: files not verified")


@app.command("info")
def info(
    dataset: str = typer.Argument(..., help="Dataset name: mitbih."),
    data_dir: str | None = data_dir_option(),
    cache_dir: str | None = cache_dir_option(),
    rpeaks: str = typer.Option(
        "reference", help="R peaks: reference annotations or the XQRS detector."
    ),
    baseline: bool = typer.Option(True, help="Median-filter baseline removal."),
    bandpass: bool = typer.Option(False, help="Zero-phase 0.5-40 Hz band-pass."),
    normalize: str = typer.Option("zscore", help="Per-record zscore, robust or none."),
) -> None:
    """Per-split, per-class beat counts (annotated, kept, dropped) and the config hash.

    Prepares and caches the DS1 and DS2 records with the given preprocessing.
    """
    _check_dataset(dataset)
    from ecgnas.data.preprocess import PreprocessConfig
    from ecgnas.data.summary import format_summary, summarize_mitbih

    config = PreprocessConfig(
        rpeaks=rpeaks,  # type: ignore[arg-type]  # validated by the config
        baseline=baseline,
        bandpass=bandpass,
        normalize=normalize,  # type: ignore[arg-type]  # as above
    )
    with _progress("preparing records") as progress:
        summaries = summarize_mitbih(
            config, data_dir=data_dir, cache_dir=cache_dir, progress=progress
        )
    typer.echo(format_summary(summaries, config))
    typer.echo(f"\npreprocessing config hash: {config.digest()}")


@app.command("record")
def record(
    dataset: str = typer.Argument(..., help="Dataset name: mitbih."),
    name: str = typer.Argument(..., help="Record name, e.g. 100."),
    data_dir: str | None = data_dir_option(),
    cache_dir: str | None = cache_dir_option(),
    rpeaks: str = typer.Option(
        "reference", help="R peaks: reference annotations or the XQRS detector."
    ),
) -> None:
    """Prepare one record (default preprocessing) and print its beat counts and RR."""
    _check_dataset(dataset)
    import numpy as np

    from ecgnas.data.dataset import prepare_records
    from ecgnas.data.labels import AAMI_CLASSES
    from ecgnas.data.preprocess import PreprocessConfig
    from ecgnas.data.splits import SPLITS

    config = PreprocessConfig(rpeaks=rpeaks)  # type: ignore[arg-type]  # a str; the config checks it
    (beats,) = prepare_records([name], config, data_dir=data_dir, cache_dir=cache_dir)
    split = next((s for s, recs in SPLITS.items() if beats.record in recs), "?")
    s = beats.stats
    typer.echo(f"record {beats.record} ({split}), preprocessing {config.digest()[:16]}")
    typer.echo(f"  {'':<14}" + "".join(f"{c:>7}" for c in AAMI_CLASSES))
    rows = [("annotated", s.annotated), ("kept", s.kept), ("dropped: edge", s.dropped_edge)]
    if config.rpeaks == "detector":
        rows.append(("missed by QRS", s.missed))
    for label, counts in rows:
        typer.echo(f"  {label:<14}" + "".join(f"{int(v):>7,}" for v in counts))
    typer.echo(f"  non-beat annotations: {s.non_beat:,}")
    if config.rpeaks == "detector":
        typer.echo(
            f"  QRS detections: {s.detections:,}, unmatched (excluded): {s.unmatched_detections:,}"
        )
    if len(beats.y):
        typer.echo(f"  mean RR: {float(np.mean(beats.rr[:, 0])):.3f} s")
