"""The predictor benchmark's report: markdown, JSON and a PNG (``write_report``).

Split from ``ecgnas.benchmarks.predictor_bench`` (which runs the benchmark and summarizes
it). NB101 reports state that the ground truth is the seed-0 test accuracy and how many
unlabelled cells each seed's metrics cover.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from ecgnas.benchmarks.predictor_bench import (
    FIXED_SIGNALS,
    METRICS,
    TAU_TARGETS,
    BenchRecord,
    PredictorBenchConfig,
    bench_space,
    paired_difference,
    records_to_json,
    report_stem,
    summarize,
)

#: the paired comparisons a report shows when both predictors were run (first minus second)
PAIRED: tuple[tuple[str, str], ...] = (
    ("dcl", "gin_mse"),
    ("dcl", "clf_only"),
    ("dcl", "path_mlp_rank"),
    ("dcl_eff", "dcl"),
)


def _title(config: PredictorBenchConfig) -> str:
    if config.benchmark == "nb101":
        return "NB101 CIFAR-10, seed-0 test accuracy"
    if config.benchmark == "ecg":
        return "ECG benchmark table (MIT-BIH DS1-CV proxy scores)"
    return f"NB201 {config.dataset}"


def _with_targets(config: PredictorBenchConfig) -> bool:
    return config.benchmark == "nb201" and config.dataset == "cifar10-valid"


def _fmt(mean: float, std: float, digits: int = 3) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if not math.isnan(std) else f"{mean:.{digits}f}"


def _header(config: PredictorBenchConfig, meta: dict[str, Any]) -> list[str]:
    """The report's title and its run, signal and protocol lines."""
    machine = meta["machine"]
    lines = [
        f"# Predictor benchmark: {_title(config)}",
        "",
        f"- date: {meta['date']}",
        f"- command: `{meta['command']}`",
        f"- machine: {machine.get('nproc')} CPUs ({machine.get('cpu', '?')}), "
        f"Python {machine.get('python')}, torch {machine.get('torch', '?')}; "
        f"jobs {config.jobs}; wall time {meta['wall_seconds'] / 60:.1f} min",
        f"- signal: `{meta['signal']}` (what every predictor is trained on and ranked against)",
    ]
    if config.benchmark in FIXED_SIGNALS:
        lines.append(f"- ground truth: {FIXED_SIGNALS[config.benchmark][1]}")
    if config.pool is None:
        sets, evaluated = "", "metrics over all other cells"
    else:
        sets = f"drawn from all {meta['n_cells']:,} cells, "
        evaluated = (
            f"metrics over a seeded random sample of {config.pool:,} cells per seed (the "
            "`--pool`), outside every labelled set of the seed, the same for every label "
            "count and variant"
        )
    lines += [
        f"- protocol: {len(config.seeds)} seeds (labelled sets {sets}nested, the same for every "
        f"variant); {evaluated}; Kendall tau-b and Spearman rho from scipy; "
        f"precision@top-{config.top_fraction:.0%}: overlap of the predicted and true top "
        f"{config.top_fraction:.0%} of the unlabelled cells. Mean ± standard deviation over seeds.",
    ]
    return lines


def markdown(
    config: PredictorBenchConfig,
    records: Sequence[BenchRecord],
    meta: dict[str, Any],
) -> str:
    """The markdown report: header, one table per metric, targets, paired test, costs."""
    from ecgnas.predictor.variants import describe

    summary = summarize(records)
    labels = sorted({r.labels for r in records})
    lines = _header(config, meta)
    if meta.get("encoder"):
        enc = meta["encoder"]
        lines.append(
            f"- CLP encoder (shared by `dcl` and `clp_mse`): space {enc['space']}, clp_seed "
            f"{enc['seed']}, key `{enc['key']}`, {enc['pool']} unlabeled archs, final loss "
            f"{enc['final_loss']:.3f}; settings `{enc['settings']}`"
        )
    lines.append("")
    for key, title in METRICS:
        lines += [
            f"## {title}",
            "",
            "| predictor | " + " | ".join(f"{n} labels" for n in labels) + " |",
            "| --- | " + " | ".join("---" for _ in labels) + " |",
        ]
        for variant in config.variants:
            cells = []
            for n in labels:
                s = summary.get(variant, {}).get(n)
                cells.append(_fmt(s[f"{key}_mean"], s[f"{key}_std"]) if s else "–")
            lines.append(f"| `{variant}` | " + " | ".join(cells) + " |")
        lines.append("")
    targets = TAU_TARGETS if config.benchmark == "nb201" else {}
    for method in ("dcl", "dcl_eff"):
        if method not in config.variants or not targets:
            continue
        lines += [f"## Targets (Kendall tau of `{method}`)", ""]
        for n, target in targets.items():
            s = summary.get(method, {}).get(n)
            if s is None:
                continue
            ok = "met" if s["kendall_tau_mean"] >= target else "NOT met"
            lines.append(
                f"- {n} labels: {s['kendall_tau_mean']:.3f} (target {target:.2f}): {ok}"
                + ("" if config.dataset == "cifar10-valid" else " (targets are for cifar10-valid)")
            )
        lines.append("")
    for a, b in PAIRED:
        if a not in config.variants or b not in config.variants:
            continue
        diff = paired_difference(records, a, b)
        lines += [
            f"## Paired: `{a}` − `{b}` (Kendall tau)",
            "",
            f"| labels | mean diff ± std | {a} wins | one-sided Wilcoxon p |",
            "| --- | --- | --- | --- |",
        ]
        for n, d in diff.items():
            p = "–" if math.isnan(d["p_wilcoxon"]) else f"{d['p_wilcoxon']:.2g}"
            lines.append(
                f"| {n} | {_fmt(d['mean'], d['std'])} | {int(d['wins'])}/{int(d['n'])} | {p} |"
            )
        lines.append("")
    lines += [
        "## Cost (seconds per fit / per scoring of "
        + ("all unlabelled cells)" if config.pool is None else f"the {config.pool:,} pool cells)"),
        "",
        "Means over seeds, one torch thread per worker, on shared cores (other "
        "jobs' load included); `scripts/bench_predictor_cost.py` times them in isolation.",
        "",
        "| predictor | " + " | ".join(f"fit @{n}" for n in labels) + " | score |",
        "| --- | " + " | ".join("---" for _ in labels) + " | --- |",
    ]
    for variant in config.variants:
        by = summary.get(variant, {})
        fits = [f"{by[n]['fit_seconds_mean']:.2f}" if n in by else "–" for n in labels]
        score = np.mean([by[n]["score_seconds_mean"] for n in by]) if by else math.nan
        lines.append(f"| `{variant}` | " + " | ".join(fits) + f" | {score:.2f} |")
    lines += ["", "## Variants", "", "| predictor | what | CLF settings |", "| --- | --- | --- |"]
    space = bench_space(config.benchmark)
    for variant in config.variants:
        desc = describe(variant, space, **config.predictor_settings.get(variant, {}))
        clf = ", ".join(f"{k}={v}" for k, v in desc["clf"].items())
        lines.append(f"| `{variant}` | {desc['summary']} | {clf} |")
    lines.append("")
    return "\n".join(lines)


def plot(config: PredictorBenchConfig, records: Sequence[BenchRecord], path: Any) -> None:
    """Kendall tau, Spearman rho and precision vs labels: mean line, ±1 std band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    from ecgnas.io import atomic_path

    summary = summarize(records)
    labels = sorted({r.labels for r in records})
    fig, axes = plt.subplots(1, len(METRICS), figsize=(5 * len(METRICS), 4.2))
    for ax, (key, title) in zip(axes, METRICS):
        for variant in config.variants:
            by = summary.get(variant, {})
            xs = [n for n in labels if n in by]
            mean = np.array([by[n][f"{key}_mean"] for n in xs])
            std = np.nan_to_num(np.array([by[n][f"{key}_std"] for n in xs]))
            lw = 2.6 if variant == "dcl" else 1.4
            (line,) = ax.plot(xs, mean, marker="o", ms=3, lw=lw, label=variant)
            ax.fill_between(xs, mean - std, mean + std, color=line.get_color(), alpha=0.15, lw=0)
        if key == "kendall_tau" and _with_targets(config):
            xs_t, ys_t = zip(*TAU_TARGETS.items())
            ax.plot(xs_t, ys_t, marker="*", color="k", ms=9, ls="none", label="target (dcl)")
        ax.set_xscale("log")
        ax.set_xticks(labels)
        ax.set_xticklabels([str(n) for n in labels])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("labelled archs")
        ax.set_title(f"{title} ({_title(config)})", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def write_report(
    out_dir: Any,
    config: PredictorBenchConfig,
    records: Sequence[BenchRecord],
    pretrained: Any | None,
    command: str,
    wall_seconds: float,
) -> dict[str, Any]:
    """Write ``<out_dir>/<report_stem>.{json,md,png}``; returns their paths."""
    import datetime as dt
    from pathlib import Path

    from ecgnas.benchmarks.nb201_table import get_dataset
    from ecgnas.benchmarks.report import machine_info
    from ecgnas.io import atomic_write_json, atomic_write_text
    from ecgnas.predictor.variants import describe

    out = Path(out_dir)
    stem = report_stem(config)
    dataset = config.dataset or ""
    bench = bench_space(config.benchmark)
    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": machine_info(),
        "wall_seconds": wall_seconds,
        "signal": (
            FIXED_SIGNALS[config.benchmark][0]
            if config.benchmark in FIXED_SIGNALS
            else get_dataset(dataset).signal_column
        ),
        "n_cells": bench.size(),
        "pool": config.pool,
        "encoder": None,
    }
    if config.benchmark in FIXED_SIGNALS:
        meta["signal_note"] = FIXED_SIGNALS[config.benchmark][1]
    if pretrained is not None:
        from ecgnas.predictor.pretrain import pretrain_pool
        from ecgnas.predictor.store import entry_key

        clp_space, settings = bench.clp_space, pretrained.settings  # what CLP trained on
        # a space larger than the pool is sampled to exactly pool_size distinct archs
        # (NB101, ecgjoint: sampling again takes seconds to a minute); smaller or
        # effective-cell pools are rebuilt to count them
        n_pool = (
            settings.pool_size
            if clp_space.size() > settings.pool_size and not settings.effective
            else len(pretrain_pool(clp_space, settings, pretrained.seed))
        )
        meta["encoder"] = {
            "space": pretrained.space,
            "seed": pretrained.seed,
            "key": entry_key(pretrained.space, pretrained.settings, pretrained.seed),
            "settings": pretrained.settings.to_json(),
            "pool": n_pool,
            "final_loss": pretrained.losses[-1] if pretrained.losses else math.nan,
            "train_seconds": pretrained.seconds,
        }
    summary = summarize(records)
    payload = {
        "config": asdict(config),
        "meta": meta,
        "variants": {
            v: describe(v, bench, **config.predictor_settings.get(v, {})) for v in config.variants
        },
        "summary": {v: {str(n): s for n, s in by.items()} for v, by in summary.items()},
        "paired_dcl_vs_gin_mse": (
            {str(n): d for n, d in paired_difference(records, "dcl", "gin_mse").items()}
            if {"dcl", "gin_mse"} <= set(config.variants)
            else None
        ),
        "records": records_to_json(records),
    }
    paths = {
        "json": out / f"{stem}.json",
        "md": out / f"{stem}.md",
        "png": out / f"{stem}.png",
    }
    atomic_write_json(paths["json"], _jsonable(payload))
    atomic_write_text(paths["md"], markdown(config, records, meta))
    plot(config, records, paths["png"])
    return paths


def _jsonable(obj: Any) -> Any:
    """Replace NaN by None (strict JSON) and tuples by lists, recursively."""
    if isinstance(obj, float):
        return None if math.isnan(obj) else obj
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj
