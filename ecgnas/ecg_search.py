"""The ECG search end to end: DS1 data, the ECG evaluator, a strategy, a device-day budget,
the run log in the run directory, and the run report.

Layout of a run directory::

    <run_dir>/runlog.journal   Optuna journal: every evaluation (resume reads it)
    <run_dir>/settings.json    the run's settings (space, method, proxy training, data split)
    <run_dir>/result.json      written at the end: best arch, its DS1-val metrics, the top archs
    <run_dir>/report.md        the run report; trajectory.png: best-so-far DS1-val macro-F1

A multi-objective run (``objectives=("f1", COST)``, ``ecgnas.ecg_costs``) also keeps
``costs-<COST>.json`` (each canonical arch's cost, so a resumed run reuses its measured
latencies), lists the Pareto front and its hypervolume in ``result.json`` (``pareto``) and
``report.md``, and draws it in ``front.png`` (``ecgnas.ecg_front``).

Only DS1 records are read: candidates train on DS1-train records and are scored on DS1-val
records (the holdout proxy, ``ecgnas.train.ecg_evaluator``), or are scored by DS1
cross-validation at a fidelity (``ecgnas.classifier.proxy``; the joint space ``ecgjoint``
always is).
``arch_from_run(run_dir)`` reads the best arch back from ``result.json``.

An application module: it ties the generic search engine (``ecgnas.search``) to the ECG data
and training code (``ecgnas.train``), which ``ecgnas.search`` itself never imports.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgnas.errors import ConfigError, RunError
from ecgnas.evaluate import Evaluator, EvaluatorSpec
from ecgnas.io import atomic_path, atomic_write_json, atomic_write_text
from ecgnas.search.base import Evaluation, History
from ecgnas.search.budget import SECONDS_PER_DAY, Budget
from ecgnas.search.driver import RunResult, run_search
from ecgnas.search.runlog import JOURNAL_NAME, OptunaRunLog
from ecgnas.spaces.base import Arch
from ecgnas.train.ecg_evaluator import ProxySettings

if TYPE_CHECKING:
    from ecgnas.ecg_costs import ECGCost

log = logging.getLogger(__name__)

#: the file a finished run writes its best arch and top archs to
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class ECGSearchSettings:
    """One ECG search. ``gpu_days``: the device-day budget (wall seconds / 86,400 x devices,
    evaluator and predictor time); ``max_evals`` an optional cap on evaluations.
    ``fidelity``: score candidates by DS1 cross-validation at this fidelity (a name in
    ``ecgnas.classifier.proxy.FIDELITIES``, or ``Fidelity`` fields as a dict) instead of the
    holdout proxy ``proxy``. ``objectives``: empty for the single-objective search, or
    ``("f1", COST)`` (``ecgnas.ecg_costs.COST_NAMES``) for a multi-objective one, whose
    ``method`` is one of ``PARETO_STRATEGY_NAMES``."""

    gpu_days: float
    max_evals: int | None = None
    space: str = "ecg1d"
    method: str = "dcl_enas"
    seed: int = 0
    devices: int = 1
    proxy: ProxySettings = field(default_factory=ProxySettings)
    strategy: dict[str, Any] = field(default_factory=dict)
    val_fraction: float = 0.2
    split_seed: int = 0
    fidelity: str | dict[str, Any] | None = None
    objectives: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from ecgnas.search.registry import PARETO_STRATEGY_NAMES, strategy_entry

        object.__setattr__(self, "objectives", tuple(self.objectives))
        entry = strategy_entry(self.method)
        if self.objectives:
            from ecgnas.ecg_costs import check_objectives

            check_objectives(self.objectives)
            if self.method not in PARETO_STRATEGY_NAMES:
                raise ConfigError(
                    f"method {self.method!r} is single-objective; with --objectives choose "
                    f"one of: {', '.join(PARETO_STRATEGY_NAMES)}"
                )
        elif entry.needs_cost:
            raise ConfigError(
                f"method {self.method!r} is multi-objective; give it a cost objective "
                "(--objectives f1,params|latency|macs)"
            )

    @property
    def cost_objective(self) -> str | None:
        """The cost objective of a multi-objective search, None for a single-objective one."""
        return self.objectives[1] if self.objectives else None

    def cv_fidelity(self) -> str | dict[str, Any] | None:
        """The DS1-CV fidelity candidates are scored at (``ecgnas.classifier.proxy``), or
        None for the holdout proxy (``proxy``). The joint space always uses DS1-CV (its
        archs choose their own inputs): ``fidelity``, else the chosen search proxy."""
        if self.fidelity is not None:
            return self.fidelity
        if self.space == "ecgjoint":
            from ecgnas.classifier.proxy import PROXY

            return PROXY
        return None

    def signal_name(self, short: bool = False) -> str:
        """What the run's scores are: "DS1-CV <measure>" (the fidelity's signal, e.g.
        balanced accuracy) for a DS1 cross-validation search, "DS1-val macro-F1" for the
        holdout proxy; ``short``: the measure alone."""
        fidelity = self.cv_fidelity()
        if fidelity is None:
            return "macro-F1" if short else "DS1-val macro-F1"
        from ecgnas.classifier.proxy import SIGNAL_NAMES, Fidelity, get_fidelity

        fid = get_fidelity(fidelity) if isinstance(fidelity, str) else Fidelity.from_json(fidelity)
        return SIGNAL_NAMES[fid.signal] if short else f"DS1-CV {SIGNAL_NAMES[fid.signal]}"

    def budget(self) -> Budget:
        return Budget.device_days(self.gpu_days, self.devices, self.max_evals)

    def strategy_settings(self) -> dict[str, Any]:
        from ecgnas.search.registry import ecg_defaults

        merged = ecg_defaults(self.method)
        merged.update(self.strategy)
        return merged


def default_run_dir(settings: ECGSearchSettings) -> Path:
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"mitbih-{settings.space}-{settings.method}-s{settings.seed}-{stamp}"


def run_ecg_search(
    settings: ECGSearchSettings,
    run_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    on_evaluation: Callable[[Evaluation, History], None] | None = None,
    records: tuple[str, ...] | None = None,
    workers: int = 0,
    storage: str | None = None,
) -> RunResult:
    """Run (or resume) one ECG search in ``run_dir``; write ``result.json`` and the report.

    ``records``: a subset of DS1 (tests); default all of DS1. ``workers`` > 0 spreads the
    evaluations over that many local worker processes through the run's Optuna storage
    (``storage``: default the journal in ``run_dir``; a ``postgresql://`` URL lets workers on
    other machines join with ``ecgnas worker``). Raises ``RunError`` when ``run_dir`` holds a
    run and ``resume`` is false, or when settings differ on resume.
    """
    from ecgnas.search import make_strategy
    from ecgnas.spaces.registry import ECG_SPACE_NAMES

    run_dir = Path(run_dir)
    journal = run_dir / JOURNAL_NAME
    if storage is None:  # with a database, the study itself says whether a run exists
        _check_run_dir(run_dir, journal, resume)
    if settings.space not in ECG_SPACE_NAMES:
        raise ConfigError(
            f"the mitbih search needs an ECG space ({', '.join(ECG_SPACE_NAMES)}), "
            f"got {settings.space!r}"
        )
    run_dir.mkdir(parents=True, exist_ok=True)

    evaluator, spec, described = _evaluator(settings, data_dir, cache_dir, records)
    cost = cost_function(settings, run_dir)
    strategy = make_strategy(settings.method, cost=cost, **settings.strategy_settings())
    extra = _record_settings(run_dir, settings, described, strategy.settings())
    if workers > 0 or storage is not None:
        from ecgnas.search.distributed import run_distributed

        result = run_distributed(
            strategy,
            spec,
            settings.budget(),
            settings.seed,
            storage=storage if storage is not None else journal,
            # one study per run on a shared database: the run directory's name
            study_name="run" if storage is None else run_dir.name,
            workers=workers,
            resume=resume,
            extra_settings=extra,
            on_evaluation=on_evaluation,
            data_dir=data_dir,
            cache_dir=cache_dir,
            log_dir=run_dir,
        )
    else:
        result = run_search(
            strategy,
            evaluator,
            settings.budget(),
            settings.seed,
            log=OptunaRunLog(journal),
            resume=resume,
            extra_settings=extra,
            on_evaluation=on_evaluation,
        )
    write_run_report(result, settings, run_dir, described, cost=cost)
    return result


def cost_function(settings: ECGSearchSettings, run_dir: Path) -> ECGCost | None:
    """The run's cost function (its values kept in ``run_dir``), None if single-objective."""
    if settings.cost_objective is None:
        return None
    from ecgnas.ecg_costs import ECGCost

    name = settings.cost_objective
    return ECGCost(name, cache_file=run_dir / f"costs-{name}.json")


def _evaluator(
    settings: ECGSearchSettings,
    data_dir: str | os.PathLike[str] | None,
    cache_dir: str | os.PathLike[str] | None,
    records: tuple[str, ...] | None,
) -> tuple[Evaluator, EvaluatorSpec, dict[str, Any]]:
    """The run's evaluator, its spec (for workers) and a description of its data."""
    from ecgnas.spaces.registry import get_space

    space = get_space(settings.space)
    fidelity = settings.cv_fidelity()
    if fidelity is not None:
        from ecgnas.classifier.proxy import (
            SIGNAL_NAMES,
            BeatCache,
            CVEvaluator,
            cv_spec,
            get_fidelity,
        )
        from ecgnas.data.splits import DS1

        if records is not None:
            raise ConfigError("a DS1 cross-validation search scores all DS1 records")
        if isinstance(fidelity, str):
            fid = get_fidelity(fidelity)
        else:
            from ecgnas.classifier.proxy import Fidelity

            fid = Fidelity.from_json(fidelity)
        device = settings.proxy.device
        cv = CVEvaluator(
            space, fid, seed=settings.seed, device=device, beats=BeatCache(data_dir, cache_dir)
        )
        described = {
            "signal": f"DS1-CV pooled {SIGNAL_NAMES[fid.signal]} (N,S,V,F)",
            "fidelity": fidelity,
            "fidelity_settings": fid.to_json(),
            "records": list(DS1),
        }
        return cv, cv_spec(settings.space, fid, seed=settings.seed, device=device), described
    from ecgnas.train.ecg_data import load_ds1_split
    from ecgnas.train.ecg_evaluator import ECGEvaluator, mitbih_spec

    split_kwargs: dict[str, Any] = {
        "val_fraction": settings.val_fraction,
        "split_seed": settings.split_seed,
    }
    if records is not None:
        split_kwargs["records"] = records
    data = load_ds1_split(data_dir=data_dir, cache_dir=cache_dir, **split_kwargs)
    spec = mitbih_spec(
        settings.space,
        settings.proxy.to_json(),
        val_fraction=settings.val_fraction,
        split_seed=settings.split_seed,
        records=records,
    )
    return ECGEvaluator(space, data, settings.proxy), spec, data.describe()


def _record_settings(
    run_dir: Path, settings: ECGSearchSettings, data: dict[str, Any], strategy: dict[str, Any]
) -> dict[str, Any]:
    """Write ``settings.json``; the extra settings the run log records and compares."""
    atomic_write_json(
        run_dir / "settings.json",
        {"search": _settings_json(settings), "data": data, "strategy": strategy},
    )
    extra = {
        "dataset": "mitbih",
        "proxy": settings.proxy.to_json(),
        "data": {k: v for k, v in data.items() if k != "train_counts" and k != "val_counts"},
        "devices": settings.devices,
    }
    if settings.objectives:
        extra["objectives"] = list(settings.objectives)
    return extra


def _check_run_dir(run_dir: Path, journal: Path, resume: bool) -> None:
    """``RunError`` when ``run_dir`` holds a run and ``resume`` is false, or holds none to
    resume."""
    if journal.exists() and not resume:
        raise RunError(
            f"{run_dir} already holds a run; pass --resume to continue it or choose another --run-dir"
        )
    if resume and not journal.exists():
        raise RunError(f"nothing to resume: no run log at {journal}")


def _settings_json(settings: ECGSearchSettings) -> dict[str, Any]:
    out = asdict(settings)
    if settings.objectives:
        out["objectives"] = list(settings.objectives)
    else:  # a single-objective run's settings read as before objectives existed
        out.pop("objectives")
    out["budget_seconds"] = settings.budget().max_seconds
    return out


def write_run_report(
    result: RunResult,
    settings: ECGSearchSettings,
    run_dir: Path,
    data: dict[str, Any],
    *,
    cost: ECGCost | None = None,
) -> None:
    """``result.json``, ``report.md`` and ``trajectory.png`` in ``run_dir``; for a
    multi-objective run also the Pareto front (``cost``: the run's cost function, by
    default ``cost_function(settings, run_dir)``) and ``front.png``."""
    if not result.evaluations:
        raise RunError("the search ended without a single evaluation (budget too small?)")
    evals = result.evaluations
    best = result.best()
    order = np.argsort([-e.score for e in evals], kind="stable")[:10]
    top = [evals[int(i)] for i in order]
    spent = result.seconds_spent
    cv = "fidelity" in data
    signal = settings.signal_name()
    prefix = "cv_f1_" if cv else "val_f1_"
    payload = {
        "best": {
            "arch": best.arch.to_json(),
            "key": best.arch.key(),
            "score": best.score,
            "metrics": best.metrics,
        },
        "score_name": f"{signal} (N,S,V,F)",
        "top": [
            {"arch": e.arch.to_json(), "key": e.arch.key(), "score": e.score, "index": e.index}
            for e in top
        ],
        "n_evaluations": len(evals),
        "device_seconds": spent,
        "device_days": spent / SECONDS_PER_DAY / max(1, settings.devices),
        "strategy_seconds": float(sum(result.round_seconds)),
        "stop_reason": result.stop_reason,
        "settings": _settings_json(settings),
        "data": data,
    }
    front: list[str] = []
    if settings.objectives:
        front = _pareto_section(result, settings, run_dir, cost, payload, signal)
    atomic_write_json(run_dir / RESULT_FILE, payload)
    _plot_trajectory(evals, run_dir / "trajectory.png", signal)
    lines = [
        f"# ECG search: {settings.space} / {settings.method} (seed {settings.seed})",
        "",
        _signal_note(data, settings.signal_name(short=True)),
        "",
        f"- evaluations: {len(evals)}; stop: {result.stop_reason}",
        f"- device time: {spent:.0f} s = {payload['device_days']:.4f} device-days "
        f"(budget {settings.gpu_days} device-days); strategy/predictor share: "
        f"{payload['strategy_seconds']:.0f} s",
        f"- proxy training: {data['fidelity_settings'] if cv else settings.proxy.to_json()}",
        f"- best arch: `{best.arch.key()}`, {signal} {best.score:.4f}",
        "",
        f"| rank | arch | {signal} | F1 N | F1 S | F1 V | F1 F | params | eval # |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rank, e in enumerate(top, 1):
        m = e.metrics
        lines.append(
            f"| {rank} | `{e.arch.key()}` | {e.score:.4f} | "
            + " | ".join(f"{float(m.get(f'{prefix}{c}', float('nan'))):.3f}" for c in "NSVF")
            + f" | {int(float(m.get('params', 0))):,} | {e.index} |"
        )
    lines += ["", "![best-so-far](trajectory.png)", ""]
    atomic_write_text(run_dir / "report.md", "\n".join(lines + front))


def _pareto_section(
    result: RunResult,
    settings: ECGSearchSettings,
    run_dir: Path,
    cost: ECGCost | None,
    payload: dict[str, Any],
    signal: str,
) -> list[str]:
    """Add the front to ``payload``, draw ``front.png``; the report's lines on it."""
    from ecgnas.ecg_front import FRONT_PNG, front_lines, front_summary, plot_front

    cost = cost if cost is not None else cost_function(settings, run_dir)
    assert cost is not None
    evals = result.evaluations
    costs = cost([e.arch for e in evals])
    summary = front_summary(evals, costs, cost.describe())
    payload["objectives"] = list(settings.objectives)
    payload["pareto"] = summary
    plot_front(evals, costs, run_dir / FRONT_PNG, signal, f"{cost.objective} ({cost.unit})")
    return front_lines(summary, signal)


def arch_from_run(run_dir: str | os.PathLike[str]) -> Arch:
    """The best arch of a search run (``<run_dir>/result.json``: ``{"best": {"arch": ...}}``).

    ``RunError`` when the file is missing or unreadable, or the arch is not an ECG arch.
    """
    from ecgnas.train.models import ECG_SPACES

    path = Path(run_dir) / RESULT_FILE
    if not path.is_file():
        raise RunError(f"no {RESULT_FILE} in {run_dir} (has the search finished?)")
    try:
        arch = Arch.from_json(json.loads(path.read_text(encoding="utf-8"))["best"]["arch"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RunError(f"{path}: no readable best arch ({exc})") from exc
    if arch.space not in ECG_SPACES:
        raise RunError(f"{path}: best arch is in space {arch.space!r}, not an ECG space")
    return arch


def _signal_note(data: dict[str, Any], measure: str) -> str:
    if "fidelity" in data:
        return (
            f"All scores are **DS1 cross-validation** {measure} over N, S, V, F (pooled "
            f"out-of-fold predictions over the DS1 records, fidelity `{data['fidelity']}`). "
            "No DS2 record was read."
        )
    return (
        "All scores are **DS1-validation** macro-F1 over N, S, V, F (records "
        + ", ".join(data["val_records"])
        + "), from proxy training on DS1-train records. No DS2 record was read."
    )


def _plot_trajectory(evals: list[Evaluation], path: Path, signal: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = np.array([e.score for e in evals])
    hours = np.cumsum([e.cost_seconds for e in evals]) / 3600.0
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.scatter(hours, scores, s=10, alpha=0.5, label="evaluated arch")
    ax.step(hours, np.maximum.accumulate(scores), where="post", color="C1", label="best so far")
    ax.set_xlabel("cumulative evaluation time (device-hours)")
    ax.set_ylabel(signal)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
