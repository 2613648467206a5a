"""Summaries, paired tests and the JSON / markdown / PNG report of the pareto benchmark.

Statistics (``ecgnas.benchmarks.pareto_bench`` defines the hypervolume and its reference
point): per method the mean, standard deviation (ddof 1), 95 % confidence interval of the
mean (Student t), median, min and max of each run's hypervolume on the search signal, the
same on the test accuracy, and the mean gap to the hypervolume of the whole table's front;
paired one-sided Wilcoxon signed-rank tests (``scipy.stats.wilcoxon``, zero differences
dropped, H1: the method's hypervolume is higher) of ``dcl_mo`` against each other method,
pairing runs by seed, on both hypervolumes.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecgnas.benchmarks.pareto_bench import (
    ParetoConfig,
    ParetoRecord,
    ParetoReference,
    front_of,
)
from ecgnas.benchmarks.report import (
    _fmt,
    _label,
    _p,
    _t95,
    checkpoint_lines,
    machine_info,
    paired_test,
)
from ecgnas.io import atomic_path, atomic_write_json, atomic_write_text
from ecgnas.search.registry import PARETO_STRATEGY_NAMES

#: the method the paired tests compare every other method with
METHOD = PARETO_STRATEGY_NAMES[0]


def report_stem(config: ParetoConfig) -> str:
    """``pareto_nb201_<device>``, then ``_<metric>`` unless latency and ``_<dataset>`` unless
    cifar10."""
    stem = f"pareto_{config.benchmark}_{config.device}"
    if config.metric != "latency":
        stem += f"_{config.metric}"
    if config.dataset != "cifar10":
        stem += f"_{config.dataset}"
    return stem


def _stats(values: np.ndarray) -> dict[str, Any]:
    n = len(values)
    std = float(values.std(ddof=1)) if n > 1 else math.nan
    half = _t95(n) * std / math.sqrt(n) if n > 1 else math.nan
    mean = float(values.mean())
    return {
        "mean": mean,
        "std": std,
        "ci95": [mean - half, mean + half],
        "median": float(np.median(values)),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def summarize_method(records: Sequence[ParetoRecord], reference: ParetoReference) -> dict[str, Any]:
    """Statistics of one method's runs (see the module docstring)."""
    hv = np.array([r.hv_signal for r in records], dtype=np.float64)
    hv_test = np.array([r.hv_test for r in records], dtype=np.float64)
    width = max(len(r.hv_curve) for r in records)  # a run that stopped early keeps its last
    curves = np.array([r.hv_curve + r.hv_curve[-1:] * (width - len(r.hv_curve)) for r in records])
    return {
        "n_runs": len(records),
        "hv_signal": _stats(hv),
        "hv_test": _stats(hv_test),
        "gap_signal_mean": float(reference.optimal_hv_signal - hv.mean()),
        "gap_test_mean": float(reference.optimal_hv_test - hv_test.mean()),
        "front_size_mean": float(np.mean([len(r.front) for r in records])),
        "evals_mean": float(np.mean([r.n_evals for r in records])),
        "wall_seconds_mean": float(np.mean([r.wall_seconds for r in records])),
        "strategy_seconds_mean": float(np.mean([r.strategy_seconds for r in records])),
        "hv_curve_mean": [round(float(v), 6) for v in curves.mean(axis=0)],
    }


def summarize(
    config: ParetoConfig, records: Sequence[ParetoRecord], reference: ParetoReference
) -> dict[str, Any]:
    """Per-method statistics and the paired tests of ``dcl_mo`` against each other method."""
    by_method = {m: [r for r in records if r.method == m] for m in config.methods}
    methods = {m: summarize_method(rs, reference) for m, rs in by_method.items() if rs}
    out: dict[str, Any] = {"methods": methods, "paired_tests": {}, "paired_tests_test": {}}
    if METHOD in methods:
        for m in methods:
            if m != METHOD:
                out["paired_tests"][m] = paired_test(by_method[METHOD], by_method[m], "hv_signal")
                out["paired_tests_test"][m] = paired_test(
                    by_method[METHOD], by_method[m], "hv_test"
                )
    return out


def markdown(
    config: ParetoConfig,
    reference: ParetoReference,
    summary: dict[str, Any],
    meta: dict[str, Any],
) -> str:
    """The markdown report."""
    return "\n".join(
        _md_header(config, reference, meta) + _md_tables(summary) + _md_footer(config, meta)
    )


def _md_header(config: ParetoConfig, reference: ParetoReference, meta: dict[str, Any]) -> list[str]:
    machine = meta["machine"]
    unit = reference.cost_unit
    return [
        f"# Pareto benchmark: NAS-Bench-201 {config.dataset}, accuracy vs {config.device} "
        f"{config.metric}, budget {config.budget} evaluations",
        "",
        f"- date: {meta['date']}",
        f"- command: `{meta['command']}`",
        f"- machine: {machine.get('nproc')} CPUs ({machine.get('cpu', '?')}), Python "
        f"{machine.get('python')}, torch {machine.get('torch', '?')}, numpy "
        f"{machine.get('numpy')}; jobs {config.jobs}; total wall time "
        f"{meta['wall_seconds'] / 60:.1f} min",
        f"- seeds: {len(config.seeds)} ({min(config.seeds)}..{max(config.seeds)}), paired across "
        "methods (same initial random archs, same evaluator, same cost table)",
        f"- objectives: maximise the search signal `{reference.signal_name}` (%; the signal "
        f"of `ecgnas benchmark nb201 --dataset {config.dataset}`), minimise "
        f"`{reference.cost_name}` ({unit}, HW-NAS-Bench); reported also: `{reference.test_name}`",
        f"- hypervolume of a run: its truly evaluated archs, in the plane (accuracy / 100, "
        f"cost / {reference.cost_ref:.4g} {unit}); **reference point: accuracy 0 %, "
        f"{config.metric} {reference.cost_ref:.4g} {unit}** (1.1 x the largest "
        f"{config.metric} in the table, {reference.cost_max:.4g} {unit}); so it lies in [0, 1]",
        f"- the whole table's front (all 15,625 cells): hypervolume "
        f"{reference.optimal_hv_signal:.4f} on the signal "
        f"({len(reference.optimal_front_signal)} points), "
        f"{reference.optimal_hv_test:.4f} on the test accuracy",
    ]


def _md_tables(summary: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Hypervolume of each run's evaluated archs",
        "",
        "| method | runs | HV signal, mean ± std | 95 % CI | median | gap to table front "
        "| HV test, mean ± std | front size | s/run | strategy s/run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m, s in summary["methods"].items():
        hv, ht = s["hv_signal"], s["hv_test"]
        lines.append(
            f"| {_label(m)} | {s['n_runs']} | {hv['mean']:.4f} ± {_fmt(hv['std'], 4)} | "
            f"[{_fmt(hv['ci95'][0], 4)}, {_fmt(hv['ci95'][1], 4)}] | {hv['median']:.4f} | "
            f"{s['gap_signal_mean']:.4f} | {ht['mean']:.4f} ± {_fmt(ht['std'], 4)} | "
            f"{s['front_size_mean']:.1f} | {s['wall_seconds_mean']:.2f} | "
            f"{s['strategy_seconds_mean']:.2f} |"
        )
    if summary["paired_tests"]:
        lines += [
            "",
            f"## {_label(METHOD)} against each method (paired by seed)",
            "",
            f"One-sided Wilcoxon signed-rank test (H1: {_label(METHOD)}'s hypervolume is "
            "higher), zero differences dropped.",
            "",
            "| against | pairs | HV signal: wins / ties / losses | mean difference | p-value "
            "| HV test: wins / ties / losses | mean difference | p-value |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for m, t in summary["paired_tests"].items():
            u = summary["paired_tests_test"][m]
            lines.append(
                f"| {_label(m)} | {t['n_pairs']} | {t['wins']} / {t['ties']} / {t['losses']} | "
                f"{t['mean_difference']:+.4f} | {_p(t['p_value'])} | "
                f"{u['wins']} / {u['ties']} / {u['losses']} | {u['mean_difference']:+.4f} | "
                f"{_p(u['p_value'])} |"
            )
    checkpoints = [10, 20, 30, 50, 75, 100]
    rows = {
        _label(m): [
            f"{curve[k // 5 - 1]:.4f}" if k // 5 - 1 < len(curve) else "–" for k in checkpoints
        ]
        for m, curve in ((m, s["hv_curve_mean"]) for m, s in summary["methods"].items())
    }
    return lines + checkpoint_lines(
        "Mean hypervolume (signal) after n evaluations", checkpoints, rows
    )


def _md_footer(config: ParetoConfig, meta: dict[str, Any]) -> list[str]:
    return [
        "",
        f"![fronts]({meta['png_name']})",
        "",
        f"Left: the non-dominated evaluated archs of seed {min(config.seeds)} per method, with "
        "the whole table's front. Middle: the front of the union of every seed's evaluated "
        "archs per method. Both: cost on a log scale, accuracies below 80 % of the best cut "
        "off (the cheapest cells, with no live path, score 10 %). Right: mean hypervolume "
        "(signal) after n evaluations.",
        "",
        "The cost is a free query for the multi-objective DCL-ENAS (a lookup table, as HW-NAS "
        "assumes for latency): it screens unevaluated candidates by (predicted accuracy, cost). "
        "NSGA-II reads the cost of the archs it evaluates only; random search ignores it. Only "
        "true accuracy evaluations count against the budget.",
        "",
        "Method settings: "
        + "; ".join(f"{_label(m)} {meta['method_settings'].get(m, {})}" for m in config.methods),
        "",
    ]


def _step(ax: Any, acc: np.ndarray, cost: np.ndarray, **kw: Any) -> None:
    """Draw a front (accuracy up, cost down) as a staircase through its points."""
    idx = front_of(acc, cost)
    ax.step(cost[idx], acc[idx], where="post", **kw)
    ax.scatter(cost[idx], acc[idx], s=10, color=kw.get("color"))


def plot(
    config: ParetoConfig,
    reference: ParetoReference,
    records: Sequence[ParetoRecord],
    summary: dict[str, Any],
    path: str | os.PathLike[str],
) -> None:
    """Fronts of one seed, fronts of the union over seeds, mean hypervolume curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    opt = np.array(reference.optimal_front_signal, dtype=np.float64)
    seed = min(config.seeds)
    for ax, title in ((axes[0], f"seed {seed}"), (axes[1], f"union of {len(config.seeds)} seeds")):
        ax.step(opt[:, 1], opt[:, 0], where="post", color="k", ls="--", lw=0.9, label="table front")
        for k, m in enumerate(config.methods):
            rs = [r for r in records if r.method == m and (ax is axes[1] or r.seed == seed)]
            if not rs:
                continue
            # the union's front lies within the union of the runs' fronts
            pts = np.array([p for r in rs for p in r.front], dtype=np.float64)
            _step(ax, pts[:, 0], pts[:, 2], color=f"C{k}", lw=1.5, label=_label(m))
        ax.set_xscale("log")
        ax.set_xlabel(f"{reference.cost_name} ({reference.cost_unit}, log scale)")
        ax.set_ylabel(f"{reference.signal_name} (%)")
        # the cheapest cells (no live path: 10 % on cifar10) would flatten the plot
        useful = opt[opt[:, 0] >= 0.8 * opt[:, 0].max()]
        ax.set_ylim(float(useful[:, 0].min()) - 2, float(opt[:, 0].max()) + 1)
        ax.set_xlim(float(useful[:, 1].min()) / 1.5, 1.1 * reference.cost_max)
        ax.set_title(f"NB201 {config.dataset} vs {config.device} {config.metric}: {title}")
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    ax = axes[2]
    for k, m in enumerate(config.methods):
        if m in summary["methods"]:
            curve = summary["methods"][m]["hv_curve_mean"]
            x = [min(5 * (i + 1), config.budget) for i in range(len(curve))]
            ax.plot(x, curve, color=f"C{k}", lw=1.8, label=_label(m))
    ax.axhline(reference.optimal_hv_signal, color="k", ls="--", lw=0.8, label="table front")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("hypervolume (signal), mean over seeds")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def method_settings(config: ParetoConfig) -> dict[str, dict[str, Any]]:
    """The full settings of each method (defaults filled in), for the report."""
    from ecgnas.search.registry import make_strategy

    def no_cost(archs: Sequence[Any]) -> np.ndarray:
        return np.zeros(len(archs))

    return {
        m: make_strategy(m, cost=no_cost, **config.method_settings.get(m, {})).settings()
        for m in config.methods
    }


def write_report(
    out_dir: str | os.PathLike[str],
    config: ParetoConfig,
    reference: ParetoReference,
    records: Sequence[ParetoRecord],
    command: str,
    wall_seconds: float,
) -> dict[str, Path]:
    """Write ``<stem>.json`` (every run, the summary), ``<stem>.md`` and ``<stem>.png``."""
    out = Path(out_dir)
    stem = report_stem(config)
    summary = summarize(config, records, reference)
    meta = {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": machine_info(),
        "wall_seconds": wall_seconds,
        "png_name": f"{stem}.png",
        "method_settings": method_settings(config),
    }
    paths = {"json": out / f"{stem}.json", "md": out / f"{stem}.md", "png": out / f"{stem}.png"}
    atomic_write_json(
        paths["json"],
        {
            "meta": meta,
            "config": config.to_json(),
            "reference": reference.to_json(),
            "summary": summary,
            "runs": [r.to_json() for r in records],
        },
    )
    atomic_write_text(paths["md"], markdown(config, reference, summary, meta))
    plot(config, reference, records, summary, paths["png"])
    return paths
