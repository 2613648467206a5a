"""Summaries, paired tests and the JSON / markdown / PNG report of a search benchmark.

Statistics (all on the test accuracy of the arch each run found best by its signal):

* per method: mean, standard deviation (ddof 1), 95 % confidence interval of the mean
  (Student t), median, min, max; the share of runs that evaluated the reference arch (the
  arch the signal ranks first in the whole table, or one tied with it on the signal);
* best-so-far curves: after each evaluation, mean and 95 % CI band over the seeds;
* paired one-sided Wilcoxon signed-rank tests (``scipy.stats.wilcoxon``, zero differences
  dropped, ``alternative="greater"``) of the method (``dcl_enas``) against each baseline,
  pairing runs by seed, with wins / ties / losses;
* the smallest number of evaluations at which the method's mean curve reaches each
  baseline's mean at ``reference_evals`` (100 by default) evaluations.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecgnas.benchmarks.harness import BenchmarkConfig, Reference, RunRecord
from ecgnas.io import atomic_path, atomic_write_json, atomic_write_text
from ecgnas.search.registry import ALL_STRATEGY_NAMES, STRATEGY_NAMES, strategy_entry

#: the method the paired tests compare every baseline with
METHOD = STRATEGY_NAMES[0]


def _label(method: str) -> str:
    """The strategy's name in reports (``DCL-ENAS``); unknown names as they are."""
    return strategy_entry(method).label if method in ALL_STRATEGY_NAMES else method


def _t95(n: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1)) if n > 1 else math.nan


def t_interval(values: Sequence[float] | np.ndarray) -> list[float]:
    """95 % t interval of the mean of ``values``; ``[nan, nan]`` with fewer than two."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return [math.nan, math.nan]
    half = _t95(len(x)) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return [float(x.mean() - half), float(x.mean() + half)]


def curves(records: Sequence[RunRecord], budget: int, key: str = "curve_test") -> np.ndarray:
    """float64 ``[n_runs, budget]``; a run that stopped early keeps its last value."""
    out = np.full((len(records), budget), np.nan)
    for i, rec in enumerate(records):
        values = np.asarray(getattr(rec, key), dtype=np.float64)[:budget]
        if len(values):
            out[i, : len(values)] = values
            out[i, len(values) :] = values[-1]
    return out


def summarize_method(records: Sequence[RunRecord], budget: int) -> dict[str, Any]:
    """Statistics of one method's runs (see the module docstring)."""
    final = np.array([r.final_test for r in records], dtype=np.float64)
    n = len(final)
    std = float(final.std(ddof=1)) if n > 1 else math.nan
    half = _t95(n) * std / math.sqrt(n) if n > 1 else math.nan
    found = [r for r in records if r.found_best]
    curve = curves(records, budget)
    curve_std = curve.std(axis=0, ddof=1) if n > 1 else np.full(budget, np.nan)
    found_curve = np.array(
        [
            [(r.found_at is not None and r.found_at <= k + 1) for k in range(budget)]
            for r in records
        ],
        dtype=np.float64,
    )
    return {
        "n_runs": n,
        "final_test_mean": float(final.mean()),
        "final_test_std": std,
        "final_test_ci95": [float(final.mean() - half), float(final.mean() + half)],
        "final_test_median": float(np.median(final)),
        "final_test_min": float(final.min()),
        "final_test_max": float(final.max()),
        "final_signal_mean": float(np.mean([r.final_signal for r in records])),
        "found_best_share": len(found) / n,
        "found_best_count": len(found),
        "found_at_mean": float(np.mean([r.found_at for r in found])) if found else None,
        "evals_mean": float(np.mean([r.n_evals for r in records])),
        "wall_seconds_mean": float(np.mean([r.wall_seconds for r in records])),
        "wall_seconds_max": float(np.max([r.wall_seconds for r in records])),
        "strategy_seconds_mean": float(np.mean([r.strategy_seconds for r in records])),
        "curve_mean": [round(float(v), 5) for v in curve.mean(axis=0)],
        "curve_ci95": [
            round(float(_t95(n) * s / math.sqrt(n)), 5) if n > 1 else None for s in curve_std
        ],
        "found_share_curve": [round(float(v), 5) for v in found_curve.mean(axis=0)],
    }


def paired_test(a: Sequence[Any], b: Sequence[Any], key: str = "final_test") -> dict[str, Any]:
    """One-sided Wilcoxon signed-rank test that ``a`` beats ``b`` on ``key`` (the found arch's
    test accuracy, or ``final_signal``: its search signal), pairing runs by seed.

    Any records with a ``seed`` and the attribute ``key`` will do (``RunRecord``, or
    ``ParetoRecord`` with ``key="hv_signal"``)."""
    from scipy import stats

    by_seed = {r.seed: getattr(r, key) for r in b}
    pairs = [(getattr(r, key), by_seed[r.seed]) for r in a if r.seed in by_seed]
    diff = np.array([x - y for x, y in pairs], dtype=np.float64)
    nonzero = diff[np.abs(diff) > 1e-9]
    out: dict[str, Any] = {
        "n_pairs": len(pairs),
        "wins": int((diff > 1e-9).sum()),
        "ties": int((np.abs(diff) <= 1e-9).sum()),
        "losses": int((diff < -1e-9).sum()),
        "mean_difference": float(diff.mean()) if len(diff) else math.nan,
        "statistic": None,
        "p_value": None,
    }
    if len(nonzero) > 0:
        res = stats.wilcoxon(nonzero, alternative="greater")
        out["statistic"] = float(res.statistic)
        out["p_value"] = float(res.pvalue)
    return out


def evals_to_reach(curve_mean: Sequence[float], target: float) -> int | None:
    """The smallest number of evaluations whose mean best-so-far value is >= ``target``."""
    for i, v in enumerate(curve_mean):
        if v >= target - 1e-9:
            return i + 1
    return None


def summarize(
    config: BenchmarkConfig,
    records: Sequence[RunRecord],
    reference_evals: int = 100,
) -> dict[str, Any]:
    """Per-method statistics, paired tests of ``dcl_enas`` and budgets to match."""
    by_method = {m: [r for r in records if r.method == m] for m in config.methods}
    methods = {m: summarize_method(rs, config.budget) for m, rs in by_method.items() if rs}
    out: dict[str, Any] = {
        "methods": methods,
        "paired_tests": {},
        "paired_tests_signal": {},
        "evals_to_match": {},
    }
    if METHOD in methods:
        at = min(reference_evals, config.budget)
        for m in methods:
            if m == METHOD:
                continue
            out["paired_tests"][m] = paired_test(by_method[METHOD], by_method[m])
            out["paired_tests_signal"][m] = paired_test(
                by_method[METHOD], by_method[m], key="final_signal"
            )
            target = methods[m]["curve_mean"][at - 1]
            out["evals_to_match"][m] = {
                "baseline_evals": at,
                "baseline_mean": target,
                "method_evals": evals_to_reach(methods[METHOD]["curve_mean"], target),
            }
    return out


def machine_info() -> dict[str, Any]:
    """CPU count and model, platform and library versions, for the report header."""
    import numpy
    import scipy

    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
    }
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def report_stem(config: BenchmarkConfig) -> str:
    """``search_nb201_<dataset>``, ``search_nb101`` or ``search_ecg``."""
    return (
        f"search_nb201_{config.dataset}"
        if config.benchmark == "nb201"
        else f"search_{config.benchmark}"
    )


def _names(config: BenchmarkConfig) -> tuple[str, str, str]:
    """(title, short name, what is reported) of a benchmark."""
    if config.benchmark == "nb201":
        return f"NAS-Bench-201 {config.dataset}", f"NB201 {config.dataset}", "test accuracy"
    if config.benchmark == "ecg":
        return "ECG (MIT-BIH DS1, joint space table)", "ECG table", "DS1-CV proxy score"
    return "NAS-Bench-101", "NB101", "test accuracy"


def _fmt(v: float | None, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _p(v: float | None) -> str:
    if v is None:
        return "– (all ties)"
    return f"{v:.1e}" if v < 1e-3 else f"{v:.3f}"


def markdown(
    config: BenchmarkConfig,
    reference: Reference,
    records: Sequence[RunRecord],
    summary: dict[str, Any],
    meta: dict[str, Any],
) -> str:
    """The markdown report (on the ECG table, "test accuracy" reads as what it reports)."""
    text = "\n".join(
        _md_header(config, reference, meta)
        + _md_final_table(summary)
        + _md_paired_tests(config, reference, summary)
        + _md_curves(config, summary, meta)
    )
    _, _, reported = _names(config)
    return text.replace("test accuracy", reported)


def _md_header(config: BenchmarkConfig, reference: Reference, meta: dict[str, Any]) -> list[str]:
    """Title, run facts and the reference arch."""
    title, _, reported = _names(config)
    lines = [
        f"# Search benchmark: {title}, budget {config.budget} evaluations",
        "",
        f"- date: {meta['date']}",
        f"- command: `{meta['command']}`",
        f"- machine: {meta['machine'].get('nproc')} CPUs ({meta['machine'].get('cpu', '?')}), "
        f"Python {meta['machine'].get('python')}, torch {meta['machine'].get('torch', '?')}, "
        f"numpy {meta['machine'].get('numpy')}; jobs {config.jobs}; "
        f"total wall time {meta['wall_seconds'] / 60:.1f} min",
        f"- seeds: {len(config.seeds)} ({min(config.seeds)}..{max(config.seeds)}), paired across "
        "methods (same initial random sample, same evaluator)",
        f"- search signal: {reference.signal_note}",
        f"- reference arch (ranked first by the signal in the whole table): signal "
        f"{reference.signal:.2f}, test {reference.test_acc:.2f}"
        + (
            f" (tied on the signal with {len(reference.tied_tests)} more: test "
            + ", ".join(f"{t:.2f}" for t in reference.tied_tests)
            + '; "found best" counts any of them)'
            if reference.tied_tests
            else ""
        )
        + f"; best test in the table {reference.oracle_test:.2f}",
        f"- reported: {reported} of the arch each run found best by its signal (percent)",
    ]
    if reference.signal_note.startswith("TEST"):
        lines += [
            "",
            "> **Note:** `nb101.npz` has no validation accuracy: every search here **selects "
            "on the seed-0 TEST accuracy** and the numbers below are that same test accuracy. "
            "They compare search methods; they are not held-out results.",
        ]
    return lines


def _md_final_table(summary: dict[str, Any]) -> list[str]:
    """The final-test-accuracy table, one row per method."""
    lines: list[str] = []
    lines += [
        "",
        "## Final test accuracy of the found arch",
        "",
        "| method | runs | mean ± std | 95 % CI | median | signal of found arch (mean) "
        "| found best | mean evals to find it | s/run (mean, max) | strategy s/run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m, s in summary["methods"].items():
        lo, hi = s["final_test_ci95"]
        lines.append(
            f"| {_label(m)} | {s['n_runs']} | {s['final_test_mean']:.3f} ± "
            f"{_fmt(s['final_test_std'], 3)} | [{_fmt(lo, 3)}, {_fmt(hi, 3)}] | "
            f"{s['final_test_median']:.2f} | {s['final_signal_mean']:.3f} | "
            f"{100 * s['found_best_share']:.0f} % "
            f"({s['found_best_count']}) | {_fmt(s['found_at_mean'], 1)} | "
            f"{s['wall_seconds_mean']:.1f}, {s['wall_seconds_max']:.1f} | "
            f"{s['strategy_seconds_mean']:.1f} |"
        )
    return lines


def _md_paired_tests(
    config: BenchmarkConfig, reference: Reference, summary: dict[str, Any]
) -> list[str]:
    """The paired tests of the method against each baseline (test accuracy, then signal)."""
    lines: list[str] = []
    if summary["paired_tests"]:
        lines += [
            "",
            f"## {_label(METHOD)} against each baseline (paired by seed)",
            "",
            "One-sided Wilcoxon signed-rank test (H1: DCL-ENAS's found arch has higher test "
            "accuracy), zero differences dropped.",
            "",
            "| baseline | pairs | wins / ties / losses | mean difference | p-value | "
            f"evals for {_label(METHOD)} to reach the baseline's mean at "
            f"{min(100, config.budget)} |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for m, t in summary["paired_tests"].items():
            match = summary["evals_to_match"][m]
            reach = match["method_evals"]
            lines.append(
                f"| {_label(m)} | {t['n_pairs']} | {t['wins']} / {t['ties']} / {t['losses']} | "
                f"{t['mean_difference']:+.3f} | {_p(t['p_value'])} | "
                f"{reach if reach is not None else 'not reached'} "
                f"(target {match['baseline_mean']:.3f}) |"
            )
    if summary.get("paired_tests_signal"):
        lines += [
            "",
            "The same test on the search signal of the found arch (what the search maximises; "
            f"{reference.signal_name}):",
            "",
            "| baseline | pairs | wins / ties / losses | mean difference | p-value |",
            "| --- | --- | --- | --- | --- |",
        ]
        for m, t in summary["paired_tests_signal"].items():
            lines.append(
                f"| {_label(m)} | {t['n_pairs']} | {t['wins']} / {t['ties']} / {t['losses']} | "
                f"{t['mean_difference']:+.3f} | {_p(t['p_value'])} |"
            )
    return lines


def checkpoint_lines(
    title: str, checkpoints: Sequence[int], rows: dict[str, list[str]]
) -> list[str]:
    """A markdown section ``title``: one row per method (its label: its cells) and one column
    per checkpoint ``n=k``."""
    return [
        "",
        f"## {title}",
        "",
        "| method | " + " | ".join(f"n={k}" for k in checkpoints) + " |",
        "| --- | " + " | ".join("---" for _ in checkpoints) + " |",
        *(f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows.items()),
    ]


def _md_curves(config: BenchmarkConfig, summary: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    """Best-so-far checkpoints, the figure and the method settings."""
    lines: list[str] = []
    checkpoints = [k for k in (10, 20, 30, 50, 75, 100, 150, 200, 300) if k <= config.budget]
    if config.budget not in checkpoints:
        checkpoints.append(config.budget)
    lines += checkpoint_lines(
        "Best-so-far test accuracy (mean over seeds) after n evaluations",
        checkpoints,
        {
            _label(m): [f"{s['curve_mean'][k - 1]:.2f}" for k in checkpoints]
            for m, s in summary["methods"].items()
        },
    )
    lines += [
        "",
        f"![best-so-far curves]({meta['png_name']})",
        "",
        "Curves: mean over seeds of the test accuracy of the best-by-signal arch so far, with "
        "a 95 % confidence band of the mean; right: share of runs that have evaluated the "
        "reference arch.",
        "",
        "Method settings: "
        + "; ".join(f"{_label(m)} {meta['method_settings'].get(m, {})}" for m in config.methods),
        "",
    ]
    return lines


def plot(
    config: BenchmarkConfig,
    reference: Reference,
    summary: dict[str, Any],
    path: str | os.PathLike[str],
) -> None:
    """Best-so-far curves with 95 % bands, and the share of runs that found the reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    x = np.arange(1, config.budget + 1)
    lows = []
    for m, s in summary["methods"].items():
        mean = np.array(s["curve_mean"])
        band = np.array([np.nan if v is None else v for v in s["curve_ci95"]], dtype=np.float64)
        (line,) = ax.plot(x, mean, label=_label(m), lw=1.8)
        ax.fill_between(x, mean - band, mean + band, color=line.get_color(), alpha=0.2, lw=0)
        ax2.plot(x, 100 * np.array(s["found_share_curve"]), label=_label(m), lw=1.8)
        lows.append(mean[min(len(mean) - 1, max(9, config.budget // 5))])
    ax.axhline(reference.test_acc, color="k", ls="--", lw=0.8, label="reference arch")
    top = max(reference.test_acc, reference.oracle_test)
    ax.set_ylim(min(lows) - 0.2, top + 0.1)
    ax.set_xlabel("evaluations")
    _, name, reported = _names(config)
    ax.set_ylabel(f"{reported} of best-by-signal arch (%)")
    ax.set_title(f"{name}: best so far (mean, 95 % band)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    ax2.set_xlabel("evaluations")
    ax2.set_ylabel("runs that found the reference arch (%)")
    ax2.set_ylim(0, 100)
    ax2.set_title(f"{len(config.seeds)} seeds")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def write_report(
    out_dir: str | os.PathLike[str],
    config: BenchmarkConfig,
    reference: Reference,
    records: Sequence[RunRecord],
    command: str,
    wall_seconds: float,
) -> dict[str, Path]:
    """Write ``<stem>.json`` (all runs and the summary), ``<stem>.md`` and ``<stem>.png``."""
    from ecgnas.search.registry import make_strategy

    out = Path(out_dir)
    stem = report_stem(config)
    summary = summarize(config, records)
    meta = {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": machine_info(),
        "wall_seconds": wall_seconds,
        "png_name": f"{stem}.png",
        "method_settings": {
            m: make_strategy(m, **config.method_settings.get(m, {})).settings()
            for m in config.methods
        },
    }
    paths = {"json": out / f"{stem}.json", "md": out / f"{stem}.md", "png": out / f"{stem}.png"}
    atomic_write_json(
        paths["json"],
        {
            "meta": meta,
            "config": config.to_json(),
            "reference": reference.__dict__,
            "summary": summary,
            "runs": [r.to_json() for r in records],
        },
    )
    atomic_write_text(paths["md"], markdown(config, reference, records, summary, meta))
    plot(config, reference, summary, paths["png"])
    return paths


def rerender(json_path: str | os.PathLike[str]) -> dict[str, Path]:
    """Rewrite the markdown and PNG of a report from its JSON (after a change to the layout).

    The runs, the metadata (date, command, machine) and the configuration come from the
    JSON; the statistics are recomputed. ``DataError`` if the file is not such a report.
    """
    import json

    from ecgnas.errors import DataError

    path = Path(json_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        cfg = dict(data["config"])
        cfg["methods"] = tuple(cfg["methods"])
        cfg["seeds"] = tuple(cfg["seeds"])
        config = BenchmarkConfig(**cfg)
        reference = Reference(**data["reference"])
        records = [RunRecord.from_json(r) for r in data["runs"]]
        meta = data["meta"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a search benchmark report ({exc})") from exc
    summary = summarize(config, records)
    md, png = path.with_suffix(".md"), path.with_suffix(".png")
    atomic_write_text(md, markdown(config, reference, records, summary, meta))
    plot(config, reference, summary, png)
    return {"json": path, "md": md, "png": png}
