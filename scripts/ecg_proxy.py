"""The proxy's fidelity: Kendall tau between cheap DS1-CV proxies and the full recipe, over
archs drawn uniformly from the joint ECG space. Reads DS1 only.

    python scripts/ecg_proxy.py --fidelity full --archs 40 --threads 1
    python scripts/ecg_proxy.py --fidelity e2k2_n2v --archs 40 --seeds 0 1 --threads 1
    python scripts/ecg_proxy.py report

``run`` (the default command) scores the first ``--archs`` archs of the fixed sample
(``SAMPLE_SEED``) at one fidelity (``ecgnas.classifier.proxy.FIDELITIES``; ``full`` is the
recipe itself) and training seed, appending one JSON line per (arch, fidelity, seed) to
``<out>/ecg_proxy_runs.jsonl`` as each finishes: an interrupted run resumes where it
stopped, and several processes (one thread each) may work on different fidelities or
``--shard i/n`` slices at once. Then, like ``report``, it writes ``<out>/ecg_proxy.{md,json}``:
for each proxy, Kendall tau against the full recipe (seed 0) with a bootstrap interval, its
tau against itself under another seed (the noise ceiling), seconds per candidate, tau per
CPU second, and tau when the proxy reports another signal of its predictions.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from ecgnas.benchmarks.ecg_table import table_archs
from ecgnas.benchmarks.report import t_interval
from ecgnas.classifier.proxy import FIDELITIES, SIGNALS, BeatCache, scored_row
from ecgnas.spaces.base import Arch

SAMPLE_SEED = 2026
"""Seed of the arch sample (uniform over the joint space)."""
RUNS_FILE = "ecg_proxy_runs.jsonl"
FINAL_JSON = Path(__file__).resolve().parents[1] / "reports" / "ecg_final.json"
CLASSES = ("S", "V", "F")


def sample_archs(n: int) -> list[Arch]:
    """The first ``n`` archs of the fixed uniform sample (distinct canonical hashes)."""
    return table_archs(n, seed=SAMPLE_SEED)


def with_recipe_data(arch: Arch) -> Arch:
    """``arch`` (``ecgjoint``) with its data genes set to ``RECIPE_DATA``, the manual CNNs'
    inputs; its cell and network genes are kept."""
    from ecgnas.spaces.cell import N_EDGES
    from ecgnas.spaces.ecgjoint import ECGJointSpace

    space = ECGJointSpace()
    values = space.values(arch) | RECIPE_DATA
    return space.make(arch.ops[:N_EDGES], **values)


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RUNS_FILE
    fidelity = FIDELITIES[args.fidelity]
    index, count = (int(v) for v in args.shard.split("/"))
    cache = BeatCache()
    if args.arch:
        if args.recipe_data:
            raise SystemExit(
                "error: --recipe-data sets the data genes of the sampled archs; "
                "give --arch keys with the data genes you want instead"
            )
        from ecgnas.train.models import parse_arch

        # named archs instead of the sample: their index is their place in --arch
        archs = list(enumerate(parse_arch(key) for key in args.arch))
    else:
        archs = list(enumerate(sample_archs(args.archs)))
    if args.recipe_data:
        archs = [(i, with_recipe_data(a)) for i, a in archs]
    if args.only:
        archs = [(i, a) for i, a in archs if i in set(args.only)]
    if args.reverse:
        archs.reverse()
    for seed in args.seeds:
        for i, arch in archs:
            if i % count != index:
                continue
            # a row made before the signals were recorded is scored again (the report
            # keeps the newest row of each arch, fidelity and seed)
            done = {(r["arch"], r["fidelity"], r["seed"]) for r in _rows(path) if "signals" in r}
            if (arch.key(), args.fidelity, seed) in done:
                continue
            row = {"index": i, "fidelity_settings": fidelity.to_json()} | scored_row(
                arch, args.fidelity, seed, beats=cache
            )
            with path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(
                f"[{args.fidelity} s{seed}] {i:3d} {arch.key()}: "
                f"{row['macro_f1']:.4f} in {row['seconds']:.0f} s",
                flush=True,
            )


def kendall_tau(a: list[float], b: list[float]) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def tau_interval(a: list[float], b: list[float], n_boot: int = 2000) -> list[float]:
    """95 % bootstrap interval of Kendall tau over archs (resampled with replacement)."""
    rng = np.random.default_rng(0)
    x, y = np.asarray(a), np.asarray(b)
    taus = []
    for _ in range(n_boot):
        i = rng.integers(0, len(x), len(x))
        t = kendall_tau(list(x[i]), list(y[i]))
        if not np.isnan(t):
            taus.append(t)
    return [float(np.percentile(taus, 2.5)), float(np.percentile(taus, 97.5))]


def _mean(runs: dict[str, dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs.values() if key in r]
    return float(np.mean(values)) if values and len(values) == len(runs) else None


def _f1(row: dict[str, Any], cls: str) -> float:
    v = row["f1"].get(cls)
    return 0.0 if v is None else float(v)


def _full_pairs(rows: list[dict[str, Any]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The archs the full recipe ran under training seeds 0 and 1 (sorted) and their
    macro-F1 under each."""
    by_seed: dict[int, dict[str, float]] = {0: {}, 1: {}}
    for row in rows:
        if row["fidelity"] == "full" and row["seed"] in by_seed:
            by_seed[row["seed"]][row["arch"]] = row["macro_f1"]
    archs = sorted(set(by_seed[0]) & set(by_seed[1]))
    return (
        archs,
        np.array([by_seed[0][a] for a in archs]),
        np.array([by_seed[1][a] for a in archs]),
    )


def _pair_seed_var(s0: np.ndarray, s1: np.ndarray) -> float:
    """One training seed's variance from paired runs: mean((seed 0 - seed 1)^2) / 2, whichever
    archs they are."""
    return float(np.mean(np.square(s0 - s1)) / 2)


FinalScores = dict[str, dict[int, float]]
"""The final runs' DS1-CV macro-F1 of each model by training seed (``read_final``)."""


def read_final(final_json: Path) -> FinalScores | None:
    """The final runs' DS1-CV macro-F1 of each model by training seed
    (``reports/ecg_final.json``); None when there is no such file."""
    if not final_json.exists():
        return None
    models = json.loads(final_json.read_text())["models"]
    return {
        m: {int(s["seed"]): float(s["ds1_cv_macro_f1"]) for s in v["seeds"]}
        for m, v in models.items()
    }


REFERENCE_SPACES: Final = ("manual", "tiny")
"""Baselines whose full-recipe rows (``--arch manual``) are references, not sampled archs:
the report sets archs against them seed by seed and leaves them out of everything else."""


def _is_reference(row: dict[str, Any]) -> bool:
    return str(row["arch"]).split(":", 1)[0] in REFERENCE_SPACES


@functools.cache
def _published_keys() -> dict[str, str]:
    """The published manual networks' arch keys, mapped to their names."""
    from ecgnas.train.models import parse_arch

    return {parse_arch(name).key(): name for name in REFERENCE_SPACES}


def _reference_label(key: str) -> str:
    """A reference's label: ``manual`` / ``tiny`` for the published networks (the final runs'
    labels), the arch key for any other network of their grids."""
    return _published_keys().get(key, key)


SHORTLIST_SEEDS: Final = (0, 1)
"""The training seeds the archs were first scored (and shortlisted) under; later seeds are
fresh: they played no part in choosing."""


def confirmed(
    rows: list[dict[str, Any]], final: FinalScores | None, references: Sequence[dict[str, Any]] = ()
) -> dict[str, Any] | None:
    """The archs the full recipe ran under at least three training seeds, each against the
    manual CNNs seed by seed (the same training seed means the same fold seeds and N-beat
    draws, so part of a seed's luck is shared): per arch its scores, mean, mean over the
    fresh seeds (not in ``SHORTLIST_SEEDS``), and per manual model the paired differences on
    the common seeds with a 95 % t interval and their mean on the fresh seeds alone, the one
    figure free of the shortlist's winner's curse. The manual CNNs' scores are the final
    runs' (``final``, from ``read_final``), extended by ``references`` (their full-recipe
    rows, e.g. under further seeds) on the seeds the final runs lack."""
    manual = {m: dict(scores) for m, scores in (final or {}).items()}
    for row in references:
        if row["fidelity"] == "full":
            label = _reference_label(str(row["arch"]))
            manual.setdefault(label, {}).setdefault(int(row["seed"]), float(row["macro_f1"]))
    if not manual:
        return None
    by_arch = {
        arch: {seed: float(row["macro_f1"]) for seed, row in by_seed.items()}
        for arch, by_seed in _full_by_arch(rows).items()
    }
    out: dict[str, Any] = {}
    for arch, scores in sorted(by_arch.items()):
        if len(scores) < 3:
            continue
        seeds = sorted(scores)
        fresh = [s for s in seeds if s not in SHORTLIST_SEEDS]
        entry: dict[str, Any] = {
            "seeds": seeds,
            "scores": [scores[s] for s in seeds],
            "mean": float(np.mean([scores[s] for s in seeds])),
            "fresh_seeds": fresh,
            "fresh_mean": float(np.mean([scores[s] for s in fresh])) if fresh else None,
            "against": {},
        }
        for m, ms in manual.items():
            common = [s for s in seeds if s in ms]
            if len(common) < 2:
                continue
            diffs = np.array([scores[s] - ms[s] for s in common])
            fresh_diffs = [scores[s] - ms[s] for s in common if s not in SHORTLIST_SEEDS]
            entry["against"][m] = {
                "seeds": common,
                "diffs": diffs.tolist(),
                "mean_diff": float(np.mean(diffs)),
                "ci95": t_interval(diffs),
                "fresh_mean_diff": float(np.mean(fresh_diffs)) if fresh_diffs else None,
                "fresh_model_mean": (
                    float(np.mean([ms[s] for s in fresh]))
                    if fresh and set(fresh) <= set(ms)
                    else None
                ),
            }
        out[arch] = entry
    return out or None


def full_noise(rows: list[dict[str, Any]], final: FinalScores | None) -> dict[str, Any] | None:
    """How noisy the full recipe's score is, and what that allows a proxy's tau to reach.

    Seed noise: the spread of the full recipe's DS1-CV macro-F1 over training seeds of one
    arch: from the joint archs scored under seeds 0 and 1 where there are any, else from
    the shipped final runs (``reports/ecg_final.json``: 5 seeds each of the manual and tiny
    CNNs under the same recipe). Spread over archs: the full recipe's scores
    of the sampled archs (seed 0; seed noise included). Reliability r = 1 - seed variance /
    spread variance: the share of the spread that is the archs'. Under a bivariate normal
    model (Greiner: tau = 2/pi asin rho), two seeds of the full recipe agree at about
    tau = 2/pi asin(r), and even a noise-free proxy (the arch's seed-mean full score) agrees
    with one seed at about tau = 2/pi asin(sqrt(r)): estimates, not measurements."""
    if not final:
        return None
    per_model = {m: list(v.values()) for m, v in final.items() if len(v) >= 2}
    full = [r["macro_f1"] for r in rows if r["fidelity"] == "full" and r["seed"] == 0]
    if not per_model or len(full) < 5:
        return None
    seed_var = float(np.mean([np.var(v, ddof=1) for v in per_model.values()]))
    # the joint archs' own seed noise, where the full recipe ran them under seeds 0 and 1
    pairs, s0, s1 = _full_pairs(rows)
    pair_var = _pair_seed_var(s0, s1) if len(pairs) >= 3 else None
    if pair_var is not None:
        seed_var = pair_var
    spread_var = float(np.var(full, ddof=1))
    r = max(0.0, 1.0 - seed_var / spread_var)
    return {
        "seed_sd_by_model": {m: float(np.std(v, ddof=1)) for m, v in per_model.items()},
        "seeds_by_model": {m: len(v) for m, v in per_model.items()},
        "seed_sd_joint_pairs": None if pair_var is None else float(np.sqrt(pair_var)),
        "joint_pairs": len(pairs),
        "seed_sd": float(np.sqrt(seed_var)),
        "arch_spread_sd": float(np.sqrt(spread_var)),
        "archs": len(full),
        "reliability": r,
        "tau_full_vs_full_est": float(2 / np.pi * np.arcsin(r)),
        "tau_ceiling_est": float(2 / np.pi * np.arcsin(np.sqrt(r))),
        # the mean of two seeds has reliability 2r / (1 + r) (Spearman-Brown)
        "tau_ceiling_mean2_est": float(2 / np.pi * np.arcsin(np.sqrt(2 * r / (1 + r)))),
    }


MARGIN: Final = 0.025
"""The margin over the manual CNNs the ECG NAS issue asks of the NAS model (DS2 macro-F1)."""


def _macro_values(archs: list[str]) -> list[dict[str, object]] | None:
    """The macro choices of each ``ecgjoint`` arch (keys ``ecgjoint:g0,...``); ``None``
    unless every arch is one."""
    from ecgnas.spaces.ecgjoint import ECGJointSpace
    from ecgnas.train.models import parse_arch

    if not archs or not all(a.startswith("ecgjoint:") for a in archs):
        return None
    space = ECGJointSpace()
    return [space.values(parse_arch(a)) for a in archs]


def _by_macro(archs: list[str], scores: np.ndarray) -> dict[str, dict[str, list[float]]]:
    """Per macro gene of the ``ecgjoint`` archs (keys ``ecgjoint:g0,...``), per choice: the
    mean score and the number of archs with it (choices no arch has are left out)."""
    from ecgnas.spaces.ecgjoint import MACRO

    values = _macro_values(archs)
    if values is None:
        return {}
    out: dict[str, dict[str, list[float]]] = {}
    for name, choices in MACRO:
        column = np.array([v[name] for v in values], dtype=object)
        out[name] = {
            str(c): [float(scores[column == c].mean()), int((column == c).sum())]
            for c in choices
            if (column == c).any()
        }
    return out


RECIPE_DATA: Final = {"context": "neighbours", "channels": "raw", "rr": "rhythm", "fs": 128}
"""The joint space's data choices that are the full recipe's own (r3: 128 Hz, 0.25 s + 0.5 s
window with the neighbouring beats as channels, the raw signal, the rhythm RR set), the
inputs the manual CNNs are trained on."""


def at_recipe_data(archs: list[str], scores: np.ndarray) -> dict[str, Any] | None:
    """The joint space's expected score at the manual CNNs' inputs, by an additive model.

    Least squares of ``scores`` on the archs' macro choices (one indicator per choice but the
    first of each gene, plus an intercept), evaluated with the data genes at
    ``RECIPE_DATA`` and the network genes (width, cells, stem kernel) averaged uniformly over
    their choices: the mean over the space's networks and cells if they were all fed what
    the manual CNNs are fed. Returns the estimate, its standard error (from the fit's
    residual variance), the fit's coefficients by ``gene=choice`` and the residual sd;
    ``None`` if the archs are not ``ecgjoint`` or too few to fit."""
    from ecgnas.spaces.ecgjoint import MACRO

    values = _macro_values(archs)
    if values is None:
        return None
    names = [f"{g}={c}" for g, choices in MACRO for c in choices[1:]]
    x = np.array(
        [[1.0] + [float(v[g] == c) for g, choices in MACRO for c in choices[1:]] for v in values]
    )
    dof = len(archs) - x.shape[1]
    if dof < 3 or np.linalg.matrix_rank(x) < x.shape[1]:
        return None
    beta, *_ = np.linalg.lstsq(x, scores, rcond=None)
    resid_var = float(np.sum((scores - x @ beta) ** 2) / dof)
    cov = resid_var * np.linalg.inv(x.T @ x)
    target = np.array(
        [1.0]
        + [
            float(RECIPE_DATA[g] == c) if g in RECIPE_DATA else 1.0 / len(choices)
            for g, choices in MACRO
            for c in choices[1:]
        ]
    )
    return {
        "estimate": float(target @ beta),
        "se": float(np.sqrt(target @ cov @ target)),
        "coefficients": {n: float(b) for n, b in zip(names, beta[1:])},
        "intercept": float(beta[0]),
        "resid_sd": float(np.sqrt(resid_var)),
        "data": dict(RECIPE_DATA),
    }


def space_vs_manual(rows: list[dict[str, Any]], final: FinalScores | None) -> dict[str, Any] | None:
    """Where the sampled joint archs stand against the manual CNNs under the full recipe.

    Over the archs the full recipe ran under seeds 0 and 1: the mean and best of their
    two-seed means, and the spread of the archs' own (seed-free) scores, sd_arch =
    sqrt(var(two-seed means) - seed variance / 2), with the seed variance
    mean((seed 0 - seed 1)^2) / 2 as in ``full_noise``. Per manual model of the final runs
    (``reports/ecg_final.json``, DS1-CV over its seeds): its mean, and, if the archs' scores
    were normal, the share of the space above it and above it plus ``MARGIN``: a normal-tail
    extrapolation, an estimate of how rare an arch that wins would be."""
    from scipy.stats import norm

    if not final:
        return None
    archs, s0, s1 = _full_pairs(rows)
    if len(archs) < 5:
        return None
    means = (s0 + s1) / 2
    seed_var = _pair_seed_var(s0, s1)
    arch_sd = float(np.sqrt(max(0.0, float(np.var(means, ddof=1)) - seed_var / 2)))
    centre = float(np.mean(means))
    manual = {m: list(v.values()) for m, v in final.items()}

    def above(x: float) -> float | None:
        return None if arch_sd == 0 else float(norm.sf((x - centre) / arch_sd))

    return {
        "by_macro": _by_macro(archs, means),
        "at_recipe_data": at_recipe_data(archs, means),
        "means_sd": float(np.std(means, ddof=1)),
        "archs": len(archs),
        "mean": centre,
        "best": float(np.max(means)),
        "arch_sd": arch_sd,
        "models": {
            m: {
                "ds1_cv_macro_f1": float(np.mean(v)),
                "seeds": len(v),
                "seed_sd": float(np.std(v, ddof=1)) if len(v) > 1 else None,
                "share_above": above(float(np.mean(v))),
                "share_above_margin": above(float(np.mean(v)) + MARGIN),
                # the same training seeds as the archs' two-seed means
                "at_pair_seeds": (
                    float(np.mean([final[m][s] for s in (0, 1)]))
                    if {0, 1} <= set(final[m])
                    else None
                ),
            }
            for m, v in manual.items()
        },
    }


def _entry(
    name: str,
    runs: dict[str, Any],
    full: dict[str, Any],
    other: dict[str, Any],
    full_mean: dict[str, float] | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "settings": FIDELITIES[name].to_json(),
        "archs": len(runs),
        "seconds_mean": _mean(runs, "seconds"),
        "cpu_seconds_mean": _mean(runs, "cpu_seconds"),
    }
    common = sorted(set(runs) & set(full))
    if len(common) >= 5 and name != "full":
        pairs = ([runs[a]["macro_f1"] for a in common], [full[a]["macro_f1"] for a in common])
        entry["tau_vs_full"] = kendall_tau(*pairs)
        entry["tau_vs_full_ci95"] = tau_interval(*pairs)
        entry["n_vs_full"] = len(common)
    both = sorted(set(runs) & set(other))
    if len(both) >= 5:
        entry["tau_seed"] = kendall_tau(
            [runs[a]["macro_f1"] for a in both], [other[a]["macro_f1"] for a in both]
        )
        entry["n_seed"] = len(both)
        paired = [a for a in both if "signals" in runs[a] and "signals" in other[a]]
        if len(paired) >= 5:
            entry["tau_seed_by_signal"] = {
                sig: kendall_tau(
                    [runs[a]["signals"][sig] for a in paired],
                    [other[a]["signals"][sig] for a in paired],
                )
                for sig in SIGNALS
            }
            entry["n_seed_by_signal"] = len(paired)
    with_signals = [a for a in common if "signals" in runs[a]]
    if len(with_signals) >= 5 and name != "full":
        target = [full[a]["macro_f1"] for a in with_signals]
        entry["tau_vs_full_by_signal"] = {
            sig: kendall_tau([runs[a]["signals"][sig] for a in with_signals], target)
            for sig in SIGNALS
        }
        entry["n_vs_full_by_signal"] = len(with_signals)
    # against the full recipe's mean over training seeds 0 and 1: a less noisy target
    with_mean = sorted(set(runs) & set(full_mean or {}))
    if full_mean and len(with_mean) >= 5 and name != "full":
        target = [full_mean[a] for a in with_mean]
        entry["tau_vs_full_mean"] = kendall_tau([runs[a]["macro_f1"] for a in with_mean], target)
        entry["tau_vs_full_mean_ci95"] = tau_interval(
            [runs[a]["macro_f1"] for a in with_mean], target
        )
        entry["n_vs_full_mean"] = len(with_mean)
        signalled = [a for a in with_mean if "signals" in runs[a]]
        if len(signalled) >= 5:
            entry["tau_vs_full_mean_by_signal"] = {
                sig: kendall_tau(
                    [runs[a]["signals"][sig] for a in signalled],
                    [full_mean[a] for a in signalled],
                )
                for sig in SIGNALS
            }
    if len(common) >= 5 and name != "full":
        entry["tau_vs_full_by_class"] = {
            c: kendall_tau([_f1(runs[a], c) for a in common], [_f1(full[a], c) for a in common])
            for c in CLASSES
        }
    cost = entry["cpu_seconds_mean"] or entry["seconds_mean"]
    if entry.get("tau_vs_full") is not None and cost:
        entry["tau_per_cpu_second"] = entry["tau_vs_full"] / cost
    return entry


VARIANT_CHANGES: Final = {
    "r3p8": "pooling over 8 time bins",
    "r3h": "the manual CNNs' head",
    "r3mp": "the manual CNN's reductions (conv + max pool)",
    "r3mph": "the manual CNN's reductions and head",
}
"""What each recipe variant changes in the cell network (the report's column)."""


def is_variant(name: str) -> bool:
    """A full-cost recipe variant (``full_p8``, ``full_h``, ``full_mp``, ``full_mph``: the
    full recipe with another cell-network head or reductions), compared with ``full`` arch
    by arch, not a proxy of it."""
    return name != "full" and not FIDELITIES[name].fast


def variant_entry(name: str, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``name`` against ``full`` on the same (arch, training seed) pairs: the mean paired
    difference of DS1-CV macro-F1 and of each class's F1, wins, and a two-sided Wilcoxon
    signed-rank p; ``None`` under 3 pairs."""
    from scipy.stats import wilcoxon

    runs = {(r["arch"], r["seed"]): r for r in rows if r["fidelity"] == name}
    full = {(r["arch"], r["seed"]): r for r in rows if r["fidelity"] == "full"}
    pairs = sorted(set(runs) & set(full))
    if len(pairs) < 3:
        return None
    diff = np.array([runs[k]["macro_f1"] - full[k]["macro_f1"] for k in pairs])
    class_diff = {c: np.array([_f1(runs[k], c) - _f1(full[k], c) for k in pairs]) for c in CLASSES}
    s_diff = class_diff["S"]
    nsv = [k for k in pairs if "signals" in runs[k] and "signals" in full[k]]
    nsv_diff = np.array(
        [runs[k]["signals"]["macro_f1_nsv"] - full[k]["signals"]["macro_f1_nsv"] for k in nsv]
    )
    return {
        "settings": FIDELITIES[name].to_json(),
        "pairs": len(pairs),
        "archs": len({a for a, _ in pairs}),
        "seeds": sorted({s for _, s in pairs}),
        "macro_f1": float(np.mean([runs[k]["macro_f1"] for k in pairs])),
        "full_macro_f1": float(np.mean([full[k]["macro_f1"] for k in pairs])),
        "diff_mean": float(diff.mean()),
        "diff_sd": float(diff.std(ddof=1)),
        "wins": int((diff > 0).sum()),
        "wilcoxon_p": float(wilcoxon(diff).pvalue),
        "class_f1_diff": {c: float(d.mean()) for c, d in class_diff.items()},
        "s_f1_diff_ci95": t_interval(s_diff),
        "s_f1_wilcoxon_p": float(wilcoxon(s_diff).pvalue),
        "nsv_pairs": len(nsv),
        "nsv_diff_mean": float(nsv_diff.mean()) if len(nsv) else None,
        "nsv_diff_ci95": t_interval(nsv_diff),
        "cpu_seconds_mean": float(np.mean([runs[k]["cpu_seconds"] for k in pairs])),
        "full_cpu_seconds_mean": float(np.mean([full[k]["cpu_seconds"] for k in pairs])),
    }


def _pearson(a: list[float], b: list[float]) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def reliability(
    by: dict[tuple[str, int], dict[str, dict[str, Any]]],
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per fidelity run under training seeds 0 and 1 (and any further seeds), per signal: how
    far the proxy's score repeats itself, and so how far its agreement with the full recipe
    can be believed.

    Over the archs with runs of the proxy (seeds 0 and 1, signals kept) and of the full
    recipe (seeds 0 and 1); a further proxy seed counts only once it covers all of them.
    ``retest_r`` (Pearson between two proxy seeds, the mean over pairs of seeds),
    ``retest_tau`` likewise, ``r_full`` (Pearson, proxy seed 0 vs the full recipe's seed-0
    macro-F1: the pairing of the tables above) and ``ceiling``, the most that correlation
    can be when both sides hold seed noise: sqrt(retest_r x the full recipe's own retest r)
    (Spearman's attenuation bound). An ``r_full`` above its ceiling is chance, not fidelity.
    ``tau_pairs``: Kendall tau against the full recipe's macro-F1 for each pairing of a proxy
    seed with a full-recipe seed ("p0f1": proxy seed 0 against full seed 1), and
    ``tau_pairs_mean`` their mean: an estimate that no one seed's luck makes.
    ``tau_mean2``: the same mean for the proxy averaged over two of its seeds (twice the
    cost), over every pair of proxy seeds and both full seeds."""
    from itertools import combinations

    full_0, full_1 = by.get(("full", 0), {}), by.get(("full", 1), {})
    full_archs = sorted(set(full_0) & set(full_1))
    if len(full_archs) < 5:
        return {}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name in FIDELITIES:
        if name == "full" or is_variant(name):
            continue
        runs = {seed: r for (fid, seed), r in by.items() if fid == name}
        p0, p1 = runs.get(0, {}), runs.get(1, {})
        archs = [a for a in full_archs if "signals" in p0.get(a, {}) and "signals" in p1.get(a, {})]
        if len(archs) < 5:
            continue
        seeds = sorted(s for s, r in runs.items() if all("signals" in r.get(a, {}) for a in archs))
        full_score = [full_0[a]["macro_f1"] for a in archs]
        full_by_seed = {0: full_score, 1: [full_1[a]["macro_f1"] for a in archs]}
        full_retest = _pearson(full_score, full_by_seed[1])
        out[name] = {}
        for sig in SIGNALS:
            x = {s: [runs[s][a]["signals"][sig] for a in archs] for s in seeds}
            seed_pairs = list(combinations(seeds, 2))
            retest = float(np.mean([_pearson(x[a], x[b]) for a, b in seed_pairs]))
            pairs = {
                f"p{ps}f{fs}": kendall_tau(x[ps], full_by_seed[fs]) for ps in seeds for fs in (0, 1)
            }
            mean2 = [
                kendall_tau(list((np.array(x[a]) + np.array(x[b])) / 2), full_by_seed[fs])
                for a, b in seed_pairs
                for fs in (0, 1)
            ]
            out[name][sig] = {
                "seeds": seeds,
                "tau_pairs": pairs,
                "tau_pairs_mean": float(np.mean(list(pairs.values()))),
                "tau_mean2": float(np.mean(mean2)),
                "archs": len(archs),
                "retest_r": retest,
                "retest_tau": float(np.mean([kendall_tau(x[a], x[b]) for a, b in seed_pairs])),
                "r_full": _pearson(x[0], full_score),
                "full_retest_r": full_retest,
                "ceiling": float(np.sqrt(max(retest, 0.0) * max(full_retest, 0.0))),
            }
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    final = read_final(FINAL_JSON)
    references = [r for r in rows if _is_reference(r)]
    rows = [r for r in rows if not _is_reference(r)]
    by: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for r in rows:
        by.setdefault((r["fidelity"], r["seed"]), {})[r["arch"]] = r
    full = by.get(("full", 0), {})
    paired, s0, s1 = _full_pairs(rows)
    full_mean = dict(zip(paired, ((s0 + s1) / 2).tolist(), strict=True))
    proxies = {
        name: _entry(name, by.get((name, 0), {}), full, by.get((name, 1), {}), full_mean)
        for name in FIDELITIES
        if (name, 0) in by and not is_variant(name)
    }
    variants = {
        name: entry
        for name in FIDELITIES
        if is_variant(name) and (entry := variant_entry(name, rows)) is not None
    }
    return {
        "full_archs": len(full),
        "full_mean_archs": len(full_mean),
        "proxies": proxies,
        "variants": variants,
        "full_noise": full_noise(rows, final),
        "reliability": reliability(by),
        "space_vs_manual": space_vs_manual(rows, final),
        "confirmed": confirmed(rows, final, references),
        "class_view": class_view(
            rows,
            references,
            param_counts(sorted({r["arch"] for r in rows + references if r["fidelity"] == "full"}))
            if references
            else None,
        ),
    }


def _tau_table(
    proxies: dict[str, dict[str, Any]],
    key: str,
    title: str,
    columns: dict[str, str],
    n_key: str | None = None,
) -> list[str]:
    """A markdown table of the proxies' ``key`` dicts (one column per ``columns`` key, headed
    by its value), or nothing when no proxy has one. With ``n_key``, a column gives the
    number of archs each row's taus are over."""
    rows = {n: e for n, e in proxies.items() if key in e}
    if not rows:
        return []
    lines = [
        "",
        title,
        "",
        "| fidelity | " + ("archs | " if n_key else "") + " | ".join(columns.values()) + " |",
        "|---|" + ("---|" if n_key else "") + "---|" * len(columns),
    ]
    for name, e in rows.items():
        taus = e[key]
        cells = ["–" if taus[c] is None else f"{taus[c]:.3f}" for c in columns]
        if n_key:
            cells.insert(0, str(e.get(n_key, "–")))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _reliability_lines(rel: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """The section on whether each signal's agreement with the full recipe can be believed."""
    if not rel:
        return []
    lines = [
        "",
        "## Reliability: how far each proxy's agreement can be believed",
        "",
        "A proxy's score and the full recipe's both carry training-seed noise, so their "
        "correlation over archs cannot exceed sqrt(the proxy's retest r x the full recipe's "
        "retest r) (Spearman's attenuation bound; retest r: Pearson correlation of one "
        "training seed with another over the archs). A measured agreement above that ceiling "
        "is chance (with 40 archs a correlation's standard error is about 0.14), not "
        "fidelity; and the search "
        "proxy was chosen as the best of the (fidelity, signal) pairs above on these same "
        "archs, which flatters the winner. Pearson r of the proxy's seed-0 score with the "
        "full recipe's seed-0 macro-F1:",
        "",
        "| fidelity | signal | archs | proxy seeds | retest r | retest tau | r vs full "
        "| ceiling | tau vs full, seed 0 vs 0 | tau vs full, mean over seed pairings "
        "[min, max] | the proxy's two-seed mean: tau vs full |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, by_signal in rel.items():
        for sig, e in by_signal.items():
            flag = " (above its ceiling)" if e["r_full"] > e["ceiling"] else ""
            taus = e["tau_pairs"].values()
            lines.append(
                f"| {name} | {sig} | {e['archs']} | {', '.join(map(str, e['seeds']))} "
                f"| {e['retest_r']:.2f} "
                f"| {e['retest_tau']:.3f} | {e['r_full']:.2f}{flag} | {e['ceiling']:.2f} "
                f"| {e['tau_pairs']['p0f0']:.3f} | {e['tau_pairs_mean']:.3f} "
                f"[{min(taus):.3f}, {max(taus):.3f}] | {e['tau_mean2']:.3f} |"
            )
    full_r = next(iter(next(iter(rel.values())).values()))["full_retest_r"]
    lines += [
        "",
        f"The full recipe's own retest r over these archs: {full_r:.2f}. Retest r and tau: "
        "the mean over pairs of proxy seeds. The mean over seed pairings pairs each of the "
        "proxy's training seeds with each of the full recipe's two: the tau of seed 0 against "
        "seed 0 (the figure in the tables above) is one draw of them. The last column "
        "averages the proxy's signal over two of its seeds (twice its cost) before ranking, "
        "the mean over every pair of proxy seeds and both full seeds.",
    ]
    return lines


def render(summary: dict[str, Any]) -> str:
    lines = [
        "# ECG proxy fidelity (DS1 cross-validation only)",
        "",
        "Rendered from `reports/ecg_proxy_runs.jsonl` by `python scripts/ecg_proxy.py report`.",
        f"Archs: drawn uniformly from the `ecgjoint` space (sample seed {SAMPLE_SEED}). "
        "Signal: pooled out-of-fold DS1-CV macro-F1 (N, S, V, F). `full` is the shipped "
        "recipe r3 (5 folds, 8 epochs, 12,000 N beats per epoch) at the arch's own settings. "
        "Seconds per candidate on one CPU thread of this 2-core machine: wall (inflated: "
        "other jobs shared the CPU while these ran) and CPU time of the process (roughly what "
        "an idle thread takes).",
        "",
        f"Full-recipe archs scored: {summary['full_archs']}.",
        "",
        "| fidelity | archs | wall s / candidate | CPU s / candidate | tau vs full (n) "
        "| 95 % CI | tau vs itself, seed 1 (n) | tau per CPU s |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def fmt(v: Any, spec: str = ".3f") -> str:
        return "–" if v is None else format(v, spec)

    for name, e in summary["proxies"].items():
        ci = e.get("tau_vs_full_ci95")
        lines.append(
            f"| {name} | {e['archs']} | {fmt(e['seconds_mean'], '.1f')} "
            f"| {fmt(e['cpu_seconds_mean'], '.1f')} "
            f"| {fmt(e.get('tau_vs_full'))} ({e.get('n_vs_full', 0)}) "
            f"| {'–' if ci is None else f'[{ci[0]:.2f}, {ci[1]:.2f}]'} "
            f"| {fmt(e.get('tau_seed'))} ({e.get('n_seed', 0)}) "
            f"| {fmt(e.get('tau_per_cpu_second'), '.4f')} |"
        )
    proxies = summary["proxies"]
    lines += _tau_table(
        proxies,
        "tau_vs_full_by_signal",
        "Tau against the full recipe's macro-F1 when the proxy reports another signal of its "
        "pooled out-of-fold predictions (`ecgnas.classifier.proxy.SIGNALS`; archs: those "
        "whose runs kept their signals):",
        {s: s for s in SIGNALS},
        "n_vs_full_by_signal",
    )
    lines += _tau_table(
        proxies,
        "tau_seed_by_signal",
        "Each signal's noise ceiling: tau of the proxy against itself under training seed 1 "
        "(archs: those whose runs under both seeds kept their signals, so `full`'s macro_f1 "
        "here can differ from its tau vs itself above):",
        {s: s for s in SIGNALS},
        "n_seed_by_signal",
    )
    lines += _tau_table(
        proxies,
        "tau_vs_full_by_class",
        "Tau of one class's F1, proxy against full recipe (which classes the proxy ranks):",
        {c: f"{c} F1" for c in CLASSES},
    )
    with_mean = {n: e for n, e in proxies.items() if "tau_vs_full_mean" in e}
    if with_mean:
        lines += [
            "",
            "## Against the full recipe's mean over two training seeds",
            "",
            f"The full recipe ran under training seeds 0 and 1 on {summary['full_mean_archs']} "
            "archs; the mean of the two is a less noisy target than one seed. Tau of the "
            "proxy's score (seed 0) against it:",
            "",
            "| fidelity | tau vs full seed-mean (n) | 95 % CI | "
            + " | ".join(f"by {s}" for s in SIGNALS)
            + " |",
            "|---|---|---|" + "---|" * len(SIGNALS),
        ]
        for name, e in with_mean.items():
            ci = e["tau_vs_full_mean_ci95"]
            by_sig = e.get("tau_vs_full_mean_by_signal") or {}
            cells = " | ".join(fmt(by_sig.get(s)) for s in SIGNALS)
            lines.append(
                f"| {name} | {e['tau_vs_full_mean']:.3f} ({e['n_vs_full_mean']}) "
                f"| [{ci[0]:.2f}, {ci[1]:.2f}] | {cells} |"
            )
    lines += _reliability_lines(summary.get("reliability") or {})
    variants = summary.get("variants") or {}
    if variants:
        lines += [
            "",
            "## The full recipe with another cell network (paired by arch and seed)",
            "",
            "The same archs and training seeds under the full recipe and under a variant of "
            "it that changes only the cell network's head or its reductions between stages "
            "(the manual and tiny CNNs are unaffected); DS1-CV pooled out-of-fold figures, "
            "mean over the pairs:",
            "",
            "| variant | recipe | what changes | pairs (archs x seeds) | macro-F1 variant / "
            "full | mean diff (sd) | wins | Wilcoxon p | diff F1 S / V / F | CPU s variant / "
            "full |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, v in variants.items():
            cls = " / ".join(f"{v['class_f1_diff'][c]:+.3f}" for c in CLASSES)
            recipe = v["settings"]["recipe"]
            lines.append(
                f"| {name} | {recipe} | {VARIANT_CHANGES.get(recipe, '')} | {v['pairs']} "
                f"({v['archs']} x "
                f"{len(v['seeds'])}) | {v['macro_f1']:.3f} / {v['full_macro_f1']:.3f} "
                f"| {v['diff_mean']:+.3f} ({v['diff_sd']:.3f}) | {v['wins']}/{v['pairs']} "
                f"| {v['wilcoxon_p']:.3g} | {cls} "
                f"| {v['cpu_seconds_mean']:.0f} / {v['full_cpu_seconds_mean']:.0f} |"
            )
        lines += ["", "S F1 and N/S/V macro-F1 paired the same way (95 % t intervals):", ""]
        for name, v in variants.items():
            if "s_f1_diff_ci95" not in v:  # a summary written before these were recorded
                continue
            lo, hi = v["s_f1_diff_ci95"]
            line = (
                f"- {name}: S F1 {v['class_f1_diff']['S']:+.3f} [{lo:+.3f}, {hi:+.3f}] "
                f"(Wilcoxon p {v['s_f1_wilcoxon_p']:.3g})"
            )
            if v["nsv_diff_mean"] is not None:
                lo, hi = v["nsv_diff_ci95"]
                line += (
                    f"; N/S/V macro-F1 {v['nsv_diff_mean']:+.3f} [{lo:+.3f}, {hi:+.3f}] "
                    f"over the {v['nsv_pairs']} pairs whose runs kept it"
                )
            lines.append(line)
    noise = summary.get("full_noise")
    if noise:
        sds = ", ".join(
            f"{m} {sd:.3f} ({noise['seeds_by_model'][m]} seeds)"
            for m, sd in noise["seed_sd_by_model"].items()
        )
        lines += [
            "",
            "## How noisy the target is",
            "",
            f"- Seed noise of the full recipe's DS1-CV macro-F1 for one arch (sd over training "
            f"seeds, `reports/ecg_final.json`): {sds}."
            + (
                f" On the joint archs the full recipe also ran under seed 1 "
                f"({noise['joint_pairs']} archs; sd = rms(seed 0 - seed 1) / sqrt 2): "
                f"{noise['seed_sd_joint_pairs']:.3f}, the figure used below."
                if noise.get("seed_sd_joint_pairs") is not None
                else ""
            ),
            f"- Spread of the full recipe's score over the {noise['archs']} sampled archs "
            f"(one seed each): sd {noise['arch_spread_sd']:.3f}.",
            f"- Reliability (share of that spread due to the archs, 1 - seed variance / "
            f"spread variance): {noise['reliability']:.2f}.",
            f"- Estimated (bivariate normal, tau = 2/pi asin rho): two seeds of the full "
            f"recipe agree at tau ~ {noise['tau_full_vs_full_est']:.2f}; a noise-free proxy "
            f"(the arch's seed-mean full score) reaches tau ~ {noise['tau_ceiling_est']:.2f} "
            f"against one seed of it, and tau ~ {noise['tau_ceiling_mean2_est']:.2f} against "
            f"the mean of two seeds (reliability 2r / (1 + r)). These are estimates"
            + (
                f"; the `full` row's tau vs itself is the measured value "
                f"({full_self:.3f} over {proxies['full']['n_seed']} archs)."
                if (full_self := proxies.get("full", {}).get("tau_seed")) is not None
                else " (no arch has the full recipe under a second seed yet)."
            ),
        ]
    lines += _space_lines(summary.get("space_vs_manual"))
    lines += _confirmed_lines(summary.get("confirmed"))
    lines += _class_view_lines(summary.get("class_view"))
    return "\n".join(lines) + "\n"


CLASS_VIEW: Final = ("macro_f1", "macro_f1_nsv", "N", "S", "V", "F")
"""The per-class view's columns: four-class and N/S/V macro-F1, then each class's F1."""


def _full_by_arch(
    rows: Sequence[dict[str, Any]], signals: bool = False
) -> dict[str, dict[int, dict[str, Any]]]:
    """The full-recipe rows by arch and training seed (the last row of each pair wins);
    ``signals``: only rows that kept their signals."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for row in rows:
        if row["fidelity"] == "full" and (not signals or "signals" in row):
            out.setdefault(row["arch"], {})[int(row["seed"])] = row
    return out


def _class_values(row: dict[str, Any]) -> list[float]:
    signals = row.get("signals") or {}
    return [
        float(row["macro_f1"]),
        float(signals.get("macro_f1_nsv", np.nan)),
        *(_f1(row, c) for c in CLASS_VIEW[2:]),
    ]


def param_counts(keys: Sequence[str]) -> dict[str, int]:
    """Each arch's parameter count: the network recipe r3 builds for it (one model, not an
    ensemble)."""
    from ecgnas.ecg_costs import shipped_params
    from ecgnas.train.models import parse_arch

    return {key: shipped_params(parse_arch(key)) for key in keys}


def class_view(
    rows: list[dict[str, Any]],
    references: Sequence[dict[str, Any]],
    params: dict[str, int] | None = None,
) -> dict[str, Any] | None:
    """What the four-class score hides: per arch the mean over its full-recipe runs of the
    four-class and N/S/V macro-F1 and each class's F1; over the archs their mean and each
    column's best (not necessarily one arch); the same for each reference model (its rows
    here), and how many archs are above it by each column. None without reference rows.
    With ``params`` (parameter count by arch key): each reference's count, the archs' range,
    and the Spearman correlation of the archs' counts with each column."""
    from scipy.stats import spearmanr

    def means(subset: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        runs = {
            a: [_class_values(r) for r in by_seed.values()]
            for a, by_seed in _full_by_arch(subset, signals=True).items()
        }
        return {
            a: {"runs": len(v), "values": np.mean(np.array(v), axis=0).tolist()}
            for a, v in runs.items()
        }

    archs, refs = means(rows), means(list(references))
    if not archs or not refs:
        return None
    # the references again over the seeds every one of them ran, for a like-for-like reading
    seeds_by_ref = {
        a: set(by_seed) for a, by_seed in _full_by_arch(references, signals=True).items()
    }
    shared = sorted(set.intersection(*seeds_by_ref.values()))
    on_shared = means([r for r in references if int(r["seed"]) in shared])
    table = np.array([e["values"] for e in archs.values()])
    view: dict[str, Any] = {
        "columns": list(CLASS_VIEW),
        "archs": len(archs),
        "space_mean": table.mean(axis=0).tolist(),
        "space_best": table.max(axis=0).tolist(),
        "references": {
            _reference_label(ref): {
                "runs": e["runs"],
                "values": e["values"],
                "archs_above": [int(n) for n in (table > np.array(e["values"])).sum(axis=0)],
                "params": None if params is None else params[ref],
                "values_shared_seeds": on_shared[ref]["values"] if shared else None,
            }
            for ref, e in refs.items()
        },
        "shared_seeds": shared,
    }
    if params is not None:
        counts = np.array([params[a] for a in archs])
        view["params_range"] = [int(counts.min()), int(counts.max())]
        view["params_spearman"] = [
            float(spearmanr(counts, col).statistic) if np.ptp(col) > 0 else float("nan")
            for col in table.T
        ]
    return view


def _class_view_lines(view: dict[str, Any] | None) -> list[str]:
    if not view:
        return []
    head = " | ".join(c if c.startswith("macro") else f"{c} F1" for c in view["columns"])

    def cells(values: list[float]) -> str:
        return " | ".join(f"{v:.3f}" for v in values)

    lines = [
        "",
        "## Per class: what the four-class score hides (full recipe, DS1-CV)",
        "",
        "Each arch's mean over its full-recipe runs (training seeds), then over the "
        f"{view['archs']} archs their mean and each column's best (not necessarily one "
        "arch); each manual CNN "
        "over its own runs here, and in brackets the number of archs above it by each column. "
        "`macro_f1_nsv` leaves out F, whose DS1 beats nearly all come from one record (208).",
        "",
        f"| | runs | {head} |",
        "|---|---|" + "---|" * len(view["columns"]),
        f"| archs' mean | – | {cells(view['space_mean'])} |",
        f"| best arch | – | {cells(view['space_best'])} |",
    ]
    for label, e in view["references"].items():
        vals = " | ".join(
            f"{v:.3f} ({n})" for v, n in zip(e["values"], e["archs_above"], strict=True)
        )
        count = "" if e.get("params") is None else f", {e['params']:,} parameters"
        lines.append(f"| {label}{count} | {e['runs']} | {vals} |")
    if view.get("params_spearman"):
        low, high = view["params_range"]
        lines += [
            f"| archs: Spearman with parameters ({low:,}-{high:,}) | – | "
            f"{cells(view['params_spearman'])} |",
        ]
    shared = view.get("shared_seeds")
    if shared and any(e["runs"] != len(shared) for e in view["references"].values()):
        lines += [
            "",
            "The manual CNNs over the training seeds all of them ran "
            f"({', '.join(map(str, shared))}), like for like:",
            "",
            f"| | seeds | {head} |",
            "|---|---|" + "---|" * len(view["columns"]),
        ]
        lines += [
            f"| {label} | {len(shared)} | {cells(e['values_shared_seeds'])} |"
            for label, e in view["references"].items()
        ]
    return lines


def _confirmed_lines(conf: dict[str, Any] | None) -> list[str]:
    """The section on archs rerun under more training seeds, seed-paired with the manual
    CNNs."""
    if not conf:
        return []
    shortlist = ", ".join(str(s) for s in SHORTLIST_SEEDS)
    lines = [
        "",
        "## Archs under more training seeds, paired with the manual CNNs (DS1-CV)",
        "",
        "The full recipe under further training seeds; each seed is set against the manual "
        "CNNs' DS1-CV run under the same seed (`reports/ecg_final.json`, then their rows "
        "here for further seeds), since a seed fixes "
        "the fold seeds and N-beat draws every model trains on. Seeds "
        f"{shortlist} are those the archs were shortlisted under; the others are fresh, and "
        "their mean difference is the figure free of the shortlist's winner's curse.",
        "",
        "| arch | seeds | DS1-CV macro-F1 per seed | mean | fresh seeds' mean | model "
        "| paired difference (mean, 95 % t interval) | on fresh seeds (model's mean there) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arch, e in conf.items():
        per = ", ".join(f"{v:.3f}" for v in e["scores"])
        fresh = "–" if e["fresh_mean"] is None else f"{e['fresh_mean']:.3f}"
        for m, a in e["against"].items():
            low, high = a["ci95"]
            fd = "–" if a["fresh_mean_diff"] is None else f"{a['fresh_mean_diff']:+.3f}"
            fm = "" if a["fresh_model_mean"] is None else f" ({a['fresh_model_mean']:.3f})"
            lines.append(
                f"| `{arch}` | {','.join(map(str, e['seeds']))} | {per} | {e['mean']:.3f} | "
                f"{fresh} | {m} | {a['mean_diff']:+.3f} [{low:+.3f}, {high:+.3f}] | {fd}{fm} |"
            )
    return lines


def _space_lines(space: dict[str, Any] | None) -> list[str]:
    """The section placing the sampled joint archs against the manual CNNs."""
    if not space:
        return []

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{100 * v:.2g} %"

    lines = [
        "",
        "## The joint space against the manual CNNs (full recipe, DS1-CV)",
        "",
        f"Over the {space['archs']} archs run under seeds 0 and 1: mean of their two-seed "
        f"means {space['mean']:.3f}, best {space['best']:.3f}; the archs' own spread "
        f"(seed noise removed) sd {space['arch_sd']:.3f}. The manual CNNs under the same "
        "recipe (`reports/ecg_final.json`), and the share of the space above them if the "
        f"archs' scores were normal (a tail extrapolation, an estimate), also above them plus "
        f"the {MARGIN} margin the ECG NAS issue asks for:",
        "",
        "| model | seeds | DS1-CV macro-F1 | share of the space above | above + margin "
        "| under seeds 0 and 1 only |",
        "|---|---|---|---|---|---|",
    ]
    for m, e in space["models"].items():
        pair = e.get("at_pair_seeds")
        lines.append(
            f"| {m} | {e['seeds']} | {e['ds1_cv_macro_f1']:.3f} | {pct(e['share_above'])} "
            f"| {pct(e['share_above_margin'])} | {'–' if pair is None else f'{pair:.3f}'} |"
        )
    lines += [
        "",
        "The archs' two-seed means by macro choice (mean over the archs with it, their number "
        f"in brackets; each mean's standard error is about {space['means_sd']:.3f} / "
        "sqrt(number)):",
        "",
        "| macro gene | choices |",
        "|---|---|",
    ]
    for gene, by_choice in space["by_macro"].items():
        cells = ", ".join(f"{c} {v:.3f} ({n})" for c, (v, n) in by_choice.items())
        lines.append(f"| {gene} | {cells} |")
    fit = space.get("at_recipe_data")
    if fit:
        data = ", ".join(f"{g} {c}" for g, c in fit["data"].items())
        coef = ", ".join(f"{n} {b:+.3f}" for n, b in fit["coefficients"].items())
        lines += [
            "",
            "The macro effects add up. An additive model (least squares of the two-seed means "
            f"on the macro choices; coefficients against each gene's first choice: {coef}; "
            f"residual sd {fit['resid_sd']:.3f}) puts the space's networks, fed the manual "
            f"CNNs' own inputs ({data}) and averaged over width, cells and stem kernel, at "
            f"**{fit['estimate']:.3f} ± {fit['se']:.3f}** (standard error of the fit). "
            "Against the manual CNNs, with the standard error of their mean over seeds:",
            "",
            "| model | DS1-CV macro-F1 | minus the space at the same inputs |",
            "|---|---|---|",
        ]
        for m, e in space["models"].items():
            sd = e.get("seed_sd")
            se_m = 0.0 if sd is None else sd / np.sqrt(e["seeds"])
            gap = e["ds1_cv_macro_f1"] - fit["estimate"]
            lines.append(
                f"| {m} | {e['ds1_cv_macro_f1']:.3f} | {gap:+.3f} ± "
                f"{float(np.hypot(se_m, fit['se'])):.3f} |"
            )
    return lines


def report(args: argparse.Namespace) -> None:
    out = Path(args.out)
    summary = summarise(_rows(out / RUNS_FILE))
    (out / "ecg_proxy.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    (out / "ecg_proxy.md").write_text(render(summary))
    print(render(summary))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "command",
        nargs="?",
        choices=("run", "report"),
        default="run",
        help="run (score, then write the report; the default) or report only",
    )
    parser.add_argument(
        "--fidelity", choices=sorted(FIDELITIES), help="score at this fidelity (run)"
    )
    parser.add_argument("--archs", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--shard", default="0/1", help="i/n: every n-th arch from the i-th")
    parser.add_argument(
        "--arch",
        action="append",
        help="score this arch (a key, or manual / tiny) instead of the sample; repeatable. "
        "The manual CNNs' rows are references the report pairs archs with seed by seed",
    )
    parser.add_argument(
        "--only",
        type=int,
        nargs="+",
        help="score only these sample indices (e.g. a second "
        "seed of the full recipe on a few archs, to measure its noise)",
    )
    parser.add_argument(
        "--recipe-data",
        action="store_true",
        help="give every arch the full recipe's data choices (RECIPE_DATA: the manual CNNs' "
        "inputs), keeping its cell and network genes; these are other archs, so use another "
        "--out",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--reverse", action="store_true", help="last arch first (a second process on the same runs)"
    )
    parser.add_argument("--out", default="reports")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.command == "run":
        if args.fidelity is None:
            raise SystemExit("error: run needs --fidelity (or use: report)")
        import torch

        torch.set_num_threads(args.threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
        run(args)
    report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
