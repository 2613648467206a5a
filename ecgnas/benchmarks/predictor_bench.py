"""The predictor benchmark: how well each predictor ranks NB201 cells from few labels.

Protocol (``run_predictor_bench``):

* for each seed ``s``, a random permutation of all 15,625 cells (``numpy`` generator seeded
  ``[s, 7]``); the first ``n`` cells are the labelled set for ``n`` labels, so the sets are
  nested (20 within 50 within 100 ...) and identical for every variant (paired design);
* each variant is built with ``make_predictor(name, space, seed=s)``, fitted on the labelled
  cells and their search signal, and scores every *other* cell;
* on those cells: Kendall tau-b (``scipy.stats.kendalltau``) and Spearman rho between the
  predicted scores and the signal, and precision at the top ``top_fraction`` (5 %): the share
  of the truly best ``k = round(top_fraction * n_unlabelled)`` cells among the ``k`` cells
  predicted best (ties in the signal are broken by table order, so ``k`` is exact).

The CLP encoder (``dcl``, ``clp_mse``) is obtained once (store: cache, shipped, else trained
now) with ``clp_seed`` and shared by every seed: CLP sees no labels and no scores, so the
labelled sets stay independent of it. ``fit_seconds`` is the wall time of one ``fit`` (CLF);
``score_seconds`` that of scoring all unlabelled cells.

``jobs > 1`` runs (seed, variant) tasks in a pool of spawned processes with one torch
thread each.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ecgnas.errors import ConfigError
from ecgnas.predictor.registry import PREDICTOR_NAMES, predictor_entry

log = logging.getLogger(__name__)

#: benchmarks with a complete ground truth for every arch
PREDICTOR_BENCHMARKS: tuple[str, ...] = ("nb201",)
DEFAULT_LABELS: tuple[int, ...] = (20, 50, 100, 200)


@dataclass(frozen=True)
class PredictorBenchConfig:
    """One predictor benchmark (see the module docstring)."""

    benchmark: str = "nb201"
    dataset: str = "cifar10-valid"
    labels: tuple[int, ...] = DEFAULT_LABELS
    seeds: tuple[int, ...] = tuple(range(20))
    variants: tuple[str, ...] = PREDICTOR_NAMES
    jobs: int = 1
    top_fraction: float = 0.05
    clp_seed: int = 0
    data_dir: str | None = None
    cache_dir: str | None = None
    predictor_settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.benchmark not in PREDICTOR_BENCHMARKS:
            raise ConfigError(
                f"unknown predictor benchmark {self.benchmark!r}; "
                f"known: {', '.join(PREDICTOR_BENCHMARKS)}"
            )
        from ecgnas.benchmarks.nb201_table import get_dataset

        get_dataset(self.dataset)
        if not self.labels or any(n < 2 for n in self.labels):
            raise ConfigError("--labels needs label counts of at least 2")
        if not self.seeds:
            raise ConfigError("--seeds must be at least 1")
        if not self.variants:
            raise ConfigError("--variants needs at least one predictor")
        bad = [v for v in self.variants if v not in PREDICTOR_NAMES]
        if bad:
            raise ConfigError(f"unknown predictor(s) {bad}; known: {', '.join(PREDICTOR_NAMES)}")
        if self.jobs < 1:
            raise ConfigError(f"--jobs must be at least 1, got {self.jobs}")
        if not 0.0 < self.top_fraction < 1.0:
            raise ConfigError("top_fraction must be in (0, 1)")


@dataclass(frozen=True)
class BenchRecord:
    """One (variant, labels, seed) measurement."""

    variant: str
    labels: int
    seed: int
    kendall_tau: float
    spearman: float
    precision_top: float
    fit_seconds: float
    score_seconds: float


def ranking_metrics(pred: np.ndarray, true: np.ndarray, top_fraction: float) -> dict[str, float]:
    """Kendall tau-b, Spearman rho and precision at the top ``top_fraction`` of ``true``.

    pred, true: float ``[n]``. Top sets are the ``k = max(1, round(top_fraction * n))`` largest
    values, ties broken by position (stable sort), so both sets have exactly ``k`` members.
    A constant ``pred`` gives tau and rho NaN (scipy's convention).
    """
    from scipy.stats import kendalltau, spearmanr

    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape or pred.ndim != 1 or len(pred) < 2:
        raise ValueError("pred and true must be 1-D of equal length >= 2")
    k = max(1, int(round(top_fraction * len(true))))
    top_pred = np.argsort(-pred, kind="stable")[:k]
    top_true = np.argsort(-true, kind="stable")[:k]
    return {
        "kendall_tau": float(kendalltau(pred, true).statistic),
        "spearman": float(spearmanr(pred, true).statistic),
        "precision_top": len(np.intersect1d(top_pred, top_true)) / k,
    }


def labelled_sets(n_archs: int, labels: Sequence[int], seed: int) -> dict[int, np.ndarray]:
    """Nested labelled index sets: the first ``n`` of one permutation drawn from ``seed``."""
    if max(labels) >= n_archs:
        raise ConfigError(f"at most {n_archs - 1} labels, got {max(labels)}")
    perm = np.random.default_rng([seed, 7]).permutation(n_archs)
    return {n: np.sort(perm[:n]) for n in labels}


@dataclass
class _Context:
    """What every task needs: the space, its archs, their signal and the CLP encoder."""

    space: Any
    archs: list[Any]
    signal: np.ndarray
    pretrained: Any | None
    config: PredictorBenchConfig


def load_context(config: PredictorBenchConfig, pretrained: Any | None) -> _Context:
    """The NB201 space, every cell and its search signal (``DataError`` if no table)."""
    from ecgnas.benchmarks.nb201_table import NB201Table

    table = NB201Table.load(config.data_dir)
    space = table.space
    return _Context(
        space, space.enumerate(), table.values(config.dataset, "signal"), pretrained, config
    )


def run_task(ctx: _Context, variant: str, seed: int) -> list[BenchRecord]:
    """Fit ``variant`` at every label count of one seed and measure it."""
    from ecgnas.predictor.variants import make_predictor

    config = ctx.config
    n = len(ctx.archs)
    out: list[BenchRecord] = []
    settings: dict[str, Any] = dict(config.predictor_settings.get(variant, {}))
    if predictor_entry(variant).pretrained:
        settings["pretrained"] = ctx.pretrained
    for n_labels, lab in labelled_sets(n, config.labels, seed).items():
        rest = np.setdiff1d(np.arange(n), lab)
        predictor = make_predictor(variant, ctx.space, seed, **settings)
        t0 = time.perf_counter()
        predictor.fit([ctx.archs[i] for i in lab], ctx.signal[lab])
        t1 = time.perf_counter()
        pred = predictor.score([ctx.archs[i] for i in rest])
        t2 = time.perf_counter()
        m = ranking_metrics(pred, ctx.signal[rest], config.top_fraction)
        out.append(
            BenchRecord(variant, n_labels, seed, **m, fit_seconds=t1 - t0, score_seconds=t2 - t1)
        )
    return out


_WORKER: dict[str, _Context] = {}


def _init_worker(config: PredictorBenchConfig, signal: np.ndarray, pretrained: Any | None) -> None:
    import torch

    from ecgnas.spaces.nb201 import NB201Space

    torch.set_num_threads(1)
    space = NB201Space()
    _WORKER["ctx"] = _Context(space, space.enumerate(), signal, pretrained, config)


def _worker_task(variant: str, seed: int) -> list[BenchRecord]:
    return run_task(_WORKER["ctx"], variant, seed)


def get_pretrained(config: PredictorBenchConfig) -> Any | None:
    """The CLP encoder the pre-trained variants share (``None`` if none is benchmarked)."""
    if not any(predictor_entry(v).pretrained for v in config.variants):
        return None
    from ecgnas.predictor.store import EncoderStore
    from ecgnas.predictor.variants import default_clp
    from ecgnas.spaces.nb201 import NB201Space

    space = NB201Space()
    return EncoderStore(config.cache_dir).get(space, default_clp(space.name), config.clp_seed)


def run_predictor_bench(
    config: PredictorBenchConfig,
    on_progress: Callable[[int, int, float], None] | None = None,
) -> tuple[list[BenchRecord], Any | None]:
    """Run every (variant, seed) task; returns the records and the shared CLP encoder."""
    import torch

    t0 = time.perf_counter()
    ctx = load_context(config, None)  # fails fast on a missing table or bad dataset
    pretrained = get_pretrained(config)
    ctx.pretrained = pretrained
    tasks = [(v, s) for s in config.seeds for v in config.variants]
    records: list[BenchRecord] = []
    done = 0
    if config.jobs == 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for variant, seed in tasks:
                records.extend(run_task(ctx, variant, seed))
                done += 1
                if on_progress:
                    on_progress(done, len(tasks), time.perf_counter() - t0)
        finally:
            torch.set_num_threads(threads)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(
            max_workers=config.jobs,
            mp_context=mp.get_context("spawn"),
            initializer=_init_worker,
            initargs=(config, ctx.signal, pretrained),
        ) as pool:
            futures = [pool.submit(_worker_task, v, s) for v, s in tasks]
            for fut in as_completed(futures):
                records.extend(fut.result())
                done += 1
                if on_progress:
                    on_progress(done, len(tasks), time.perf_counter() - t0)
    order = {v: i for i, v in enumerate(config.variants)}
    records.sort(key=lambda r: (order[r.variant], r.labels, r.seed))
    return records, pretrained


# --- summary and report ----------------------------------------------------------------
METRICS: tuple[tuple[str, str], ...] = (
    ("kendall_tau", "Kendall tau"),
    ("spearman", "Spearman rho"),
    ("precision_top", "precision@top-5%"),
)
#: targets of the issue on NB201 cifar10-valid: Kendall tau of ``dcl`` by label count
TAU_TARGETS: dict[int, float] = {50: 0.65, 100: 0.75}


def summarize(records: Sequence[BenchRecord]) -> dict[str, dict[int, dict[str, float]]]:
    """``variant -> labels -> {metric}_mean / _std (ddof 1) / n, fit_seconds_mean ...}``."""
    out: dict[str, dict[int, dict[str, float]]] = {}
    keys = [m for m, _ in METRICS] + ["fit_seconds", "score_seconds"]
    for r in records:
        out.setdefault(r.variant, {}).setdefault(r.labels, {})
    for variant, by_labels in out.items():
        for n_labels in by_labels:
            rows = [r for r in records if r.variant == variant and r.labels == n_labels]
            stats: dict[str, float] = {"n": float(len(rows))}
            for key in keys:
                vals = np.array([getattr(r, key) for r in rows], dtype=np.float64)
                stats[f"{key}_mean"] = float(np.nanmean(vals))
                stats[f"{key}_std"] = float(np.nanstd(vals, ddof=1)) if len(vals) > 1 else math.nan
            by_labels[n_labels] = stats
    return out


def paired_difference(
    records: Sequence[BenchRecord], a: str, b: str, metric: str = "kendall_tau"
) -> dict[int, dict[str, float]]:
    """Per label count: mean and std of ``a - b`` over shared seeds, wins of ``a``, and the
    one-sided Wilcoxon signed-rank p-value (``a > b``; NaN with fewer than 2 non-zero pairs)."""
    from scipy.stats import wilcoxon

    out: dict[int, dict[str, float]] = {}
    by = {(r.variant, r.labels, r.seed): getattr(r, metric) for r in records}
    for n_labels in sorted({r.labels for r in records}):
        seeds = sorted(s for (v, n, s) in by if v == a and n == n_labels and (b, n_labels, s) in by)
        if not seeds:
            continue
        d = np.array([by[(a, n_labels, s)] - by[(b, n_labels, s)] for s in seeds])
        nonzero = d[d != 0]
        p = (
            float(wilcoxon(nonzero, alternative="greater").pvalue)
            if len(nonzero) >= 2
            else math.nan
        )
        out[n_labels] = {
            "n": float(len(d)),
            "mean": float(d.mean()),
            "std": float(d.std(ddof=1)) if len(d) > 1 else math.nan,
            "wins": float((d > 0).sum()),
            "p_wilcoxon": p,
        }
    return out


def records_to_json(records: Sequence[BenchRecord]) -> list[dict[str, Any]]:
    return [asdict(r) for r in records]


def report_stem(config: PredictorBenchConfig) -> str:
    """``predictor_nb201_<dataset>``."""
    return f"predictor_{config.benchmark}_{config.dataset}"


def _fmt(mean: float, std: float, digits: int = 3) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if not math.isnan(std) else f"{mean:.{digits}f}"


def markdown(
    config: PredictorBenchConfig,
    records: Sequence[BenchRecord],
    meta: dict[str, Any],
) -> str:
    """The markdown report: header, one table per metric, targets, paired test, costs."""
    from ecgnas.predictor.variants import describe

    summary = summarize(records)
    labels = sorted({r.labels for r in records})
    machine = meta["machine"]
    lines = [
        f"# Predictor benchmark: NB201 {config.dataset}",
        "",
        f"- date: {meta['date']}",
        f"- command: `{meta['command']}`",
        f"- machine: {machine.get('nproc')} CPUs ({machine.get('cpu', '?')}), "
        f"Python {machine.get('python')}, torch {machine.get('torch', '?')}; "
        f"jobs {config.jobs}; wall time {meta['wall_seconds'] / 60:.1f} min",
        f"- signal: `{meta['signal']}` (what every predictor is trained on and ranked against)",
        f"- protocol: {len(config.seeds)} seeds (labelled sets nested, the same for every "
        "variant); metrics over all other cells; Kendall tau-b and Spearman rho from scipy; "
        f"precision@top-{config.top_fraction:.0%}: overlap of the predicted and true top "
        f"{config.top_fraction:.0%} of the unlabelled cells. Mean ± standard deviation over seeds.",
    ]
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
    if "dcl" in config.variants:
        lines += ["## Targets (Kendall tau of `dcl`)", ""]
        for n, target in TAU_TARGETS.items():
            s = summary.get("dcl", {}).get(n)
            if s is None:
                continue
            ok = "met" if s["kendall_tau_mean"] >= target else "NOT met"
            lines.append(
                f"- {n} labels: {s['kendall_tau_mean']:.3f} (target {target:.2f}): {ok}"
                + ("" if config.dataset == "cifar10-valid" else " (targets are for cifar10-valid)")
            )
        lines.append("")
        for base in ("gin_mse", "clf_only", "path_mlp_rank"):
            if base not in config.variants:
                continue
            diff = paired_difference(records, "dcl", base)
            lines += [
                f"## Paired: `dcl` − `{base}` (Kendall tau)",
                "",
                "| labels | mean diff ± std | dcl wins | one-sided Wilcoxon p |",
                "| --- | --- | --- | --- |",
            ]
            for n, d in diff.items():
                p = "–" if math.isnan(d["p_wilcoxon"]) else f"{d['p_wilcoxon']:.2g}"
                lines.append(
                    f"| {n} | {_fmt(d['mean'], d['std'])} | {int(d['wins'])}/{int(d['n'])} | {p} |"
                )
            lines.append("")
    lines += [
        "## Cost (seconds per fit / per scoring of all unlabelled cells)",
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
    for variant in config.variants:
        desc = describe(variant)
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
        if key == "kendall_tau" and config.dataset == "cifar10-valid":
            xs_t, ys_t = zip(*TAU_TARGETS.items())
            ax.plot(xs_t, ys_t, marker="*", color="k", ms=9, ls="none", label="target (dcl)")
        ax.set_xscale("log")
        ax.set_xticks(labels)
        ax.set_xticklabels([str(n) for n in labels])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("labelled archs")
        ax.set_title(f"{title} (NB201 {config.dataset})")
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
    """Write ``<out_dir>/predictor_nb201_<dataset>.{json,md,png}``; returns their paths."""
    import datetime as dt
    from pathlib import Path

    from ecgnas.benchmarks.nb201_table import get_dataset
    from ecgnas.benchmarks.report import machine_info
    from ecgnas.io import atomic_write_json, atomic_write_text
    from ecgnas.predictor.variants import describe

    out = Path(out_dir)
    stem = report_stem(config)
    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": machine_info(),
        "wall_seconds": wall_seconds,
        "signal": get_dataset(config.dataset).signal_column,
        "encoder": None,
    }
    if pretrained is not None:
        from ecgnas.predictor.pretrain import pretrain_pool
        from ecgnas.predictor.store import entry_key
        from ecgnas.spaces.nb201 import NB201Space

        meta["encoder"] = {
            "space": pretrained.space,
            "seed": pretrained.seed,
            "key": entry_key(pretrained.space, pretrained.settings, pretrained.seed),
            "settings": pretrained.settings.to_json(),
            "pool": len(pretrain_pool(NB201Space(), pretrained.settings, pretrained.seed)),
            "final_loss": pretrained.losses[-1] if pretrained.losses else math.nan,
            "train_seconds": pretrained.seconds,
        }
    summary = summarize(records)
    payload = {
        "config": asdict(config),
        "meta": meta,
        "variants": {v: describe(v) for v in config.variants},
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
