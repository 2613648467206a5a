"""Where the cell networks lose S beats: named networks under the full recipe (DS1-CV),
paired by training seed with reference networks, class by class.

Reads the runs that ``scripts/ecg_proxy.py --fidelity F --arch KEY ... --out DIR`` appended
to ``DIR/ecg_proxy_runs.jsonl`` (rows with a confusion matrix and per-record S counts, made
since 2026-12-03) and writes ``DIR/ecg_skeleton.md`` and ``.json``:

* one line per network and recipe (a "rung"): its parameters, seeds, and the means over
  seeds of the four-class and N/S/V macro-F1, S F1, sensitivity (Se) and positive
  predictivity (+P), V and F F1;
* each rung against each reference (``--ref``, default the published manual CNN and the
  manual CNN with BatchNorm), paired by seed: mean difference and 95 % t interval; and each
  rung of a recipe variant against the same network under the full recipe r3;
* per DS1 record with at least ``--min-s`` S beats: the share of its S beats called S,
  summed over seeds, and the other beats called S per record;
* whether S recall on the S-richest record (209) goes with S recall on the other records,
  over every run (``s_transfer``).

DS1 only: nothing here reads DS2. Usage::

    python scripts/ecg_skeleton.py --runs reports/issue15/skeleton
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecgnas.benchmarks.report import t_interval

RUNS_FILE = "ecg_proxy_runs.jsonl"
COLUMNS = ("macro_f1", "macro_f1_nsv", "S_f1", "S_se", "S_ppv", "V_f1", "F_f1")
PAIRED = ("macro_f1", "macro_f1_nsv", "S_f1")
DEFAULT_REFS = ("manual:0,0,0,0,0,0", "manual:0,0,0,0,1,0")
CLASS_ORDER = ("N", "S", "V", "F")


def _rows(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if "confusion" in r]


def row_values(row: dict[str, Any]) -> dict[str, float]:
    """The ``COLUMNS`` of one run (S Se and +P from its confusion matrix; nan where a
    class has no beats or no calls)."""
    conf = np.asarray(row["confusion"], dtype=float)
    s = CLASS_ORDER.index("S")
    beats, calls = conf[s].sum(), conf[:, s].sum()
    return {
        "macro_f1": float(row["macro_f1"]),
        "macro_f1_nsv": float(row["signals"]["macro_f1_nsv"]),
        "S_f1": float(row["f1"]["S"] or 0.0),
        "S_se": float(conf[s, s] / beats) if beats else float("nan"),
        "S_ppv": float(conf[s, s] / calls) if calls else float("nan"),
        "V_f1": float(row["f1"]["V"] or 0.0),
        "F_f1": float(row["f1"]["F"] or 0.0),
    }


def _recipe(fidelity: str) -> str:
    from ecgnas.classifier.proxy import FIDELITIES

    return FIDELITIES[fidelity].recipe


def _params(key: str, fidelity: str) -> int:
    from ecgnas.ecg_costs import shipped_params
    from ecgnas.train.models import parse_arch

    return shipped_params(parse_arch(key), _recipe(fidelity))


def summarise(
    rows: list[dict[str, Any]],
    refs: Sequence[str] = DEFAULT_REFS,
    min_s: int = 50,
    params: dict[tuple[str, str], int] | None = None,
) -> dict[str, Any]:
    """The report's content (see the module docstring). ``params`` maps (arch, fidelity) to
    a parameter count (None: build each network to count)."""
    runs: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for row in rows:  # the newest row of each arch, fidelity and seed wins
        runs.setdefault((row["arch"], row["fidelity"]), {})[int(row["seed"])] = row
    values = {
        rung: {seed: row_values(row) for seed, row in by_seed.items()}
        for rung, by_seed in runs.items()
    }
    rungs = []
    for (arch, fidelity), by_seed in values.items():
        seeds = sorted(by_seed)
        paired = {
            ref: p
            for ref in refs
            if (arch, fidelity) != (ref, "full")
            and (p := _paired(by_seed, values.get((ref, "full"), {})))
        }
        own = (
            _paired(by_seed, values[arch, "full"])
            if fidelity != "full" and (arch, "full") in values
            else None
        )
        rungs.append(
            {
                "arch": arch,
                "fidelity": fidelity,
                "recipe": _recipe(fidelity),
                "params": (params or {}).get((arch, fidelity)) or _params(arch, fidelity),
                "seeds": seeds,
                "mean": {c: float(np.nanmean([by_seed[s][c] for s in seeds])) for c in COLUMNS},
                "paired": paired,
                "vs_own_r3": own,
            }
        )
    return {
        "refs": list(refs),
        "rungs": rungs,
        "records": s_records(runs, min_s),
        "transfer": s_transfer([row for by_seed in runs.values() for row in by_seed.values()]),
    }


def _paired(
    by_seed: dict[int, dict[str, float]], ref_by_seed: dict[int, dict[str, float]]
) -> dict[str, Any] | None:
    """``PAIRED`` differences of one rung's ``row_values`` minus another's over their shared
    seeds (mean and 95 % t interval); None under two shared seeds."""
    shared = sorted(set(by_seed) & set(ref_by_seed))
    if len(shared) < 2:
        return None
    out: dict[str, Any] = {"seeds": shared}
    for c in PAIRED:
        d = np.array([by_seed[s][c] - ref_by_seed[s][c] for s in shared])
        out[c] = {"mean": float(d.mean()), "ci95": t_interval(d)}
    return out


def _s_beats(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """The S beats of each DS1 record in the runs' per-record counts (the same in every run
    over the same records)."""
    return {rec: n for row in rows for rec, (n, _, _) in row["s_records"].items()}


def s_records(runs: dict[tuple[str, str], dict[int, dict[str, Any]]], min_s: int) -> dict[str, Any]:
    """Per rung and DS1 record with at least ``min_s`` S beats: the share of its S beats
    called S over all seeds; and per rung the other beats called S in each record, summed
    over seeds (the records with the most first)."""
    totals = _s_beats(row for by_seed in runs.values() for row in by_seed.values())
    records = sorted((r for r, n in totals.items() if n >= min_s), key=lambda r: -totals[r])
    recall: dict[str, dict[str, float]] = {}
    false_calls: dict[str, dict[str, int]] = {}
    for (arch, fidelity), by_seed in runs.items():
        label = f"{arch} ({fidelity})"
        hit = dict.fromkeys(records, 0)
        fp: dict[str, int] = {}
        for row in by_seed.values():
            for rec, (_, called, other) in row["s_records"].items():
                if rec in hit:
                    hit[rec] += called
                fp[rec] = fp.get(rec, 0) + other
        recall[label] = {r: hit[r] / (totals[r] * len(by_seed)) for r in records}
        false_calls[label] = dict(sorted(fp.items(), key=lambda kv: -kv[1]))
    return {
        "s_beats": {r: totals[r] for r in records},
        "recall": recall,
        "false_s_calls": false_calls,
    }


def s_transfer(rows: list[dict[str, Any]], min_s: int = 10) -> dict[str, Any] | None:
    """Does S recall on DS1's S-richest record carry over to its other S records?

    Over every run (each network, recipe and seed one point): the share of the S-richest
    record's S beats called S (``top``), the mean of that share over the other records with
    at least ``min_s`` S beats (``rest``, each record weighted equally) and the run's S F1;
    Spearman correlations (rho, p) of top with rest, and of S F1 with each. A ``top`` that
    moves S F1 but not ``rest`` is one patient's beats, not S skill. None under 5 runs or
    without another record."""
    from scipy.stats import spearmanr

    runs = [r for r in rows if r.get("s_records") and r["f1"].get("S") is not None]
    if len(runs) < 5:
        return None
    totals = _s_beats(runs)
    top = max(totals, key=lambda rec: totals[rec])
    rest = sorted(rec for rec, n in totals.items() if n >= min_s and rec != top)
    if not rest:
        return None
    top_recall = [r["s_records"][top][1] / totals[top] for r in runs]
    rest_recall = [
        float(np.mean([r["s_records"][rec][1] / totals[rec] for rec in rest])) for r in runs
    ]
    s_f1 = [float(r["f1"]["S"]) for r in runs]
    # each score's runs by rung (network and recipe), for its ICC(1) over the rungs
    every = [top, *rest]
    by_rung: dict[str, dict[tuple[str, str], list[float]]] = {}
    for r, t_rec, r_rec in zip(runs, top_recall, rest_recall):
        hits = sum(r["s_records"][rec][1] for rec in every)
        scores = {
            "S F1": float(r["f1"]["S"]),
            "S recall, pooled": hits / sum(totals[rec] for rec in every),
            "S recall, records weighted equally": (t_rec + r_rec * len(rest)) / len(every),
            f"S recall, records weighted equally, without {top}": r_rec,
            f"S recall, record {top} only": t_rec,
        }
        if "macro_f1" in r:
            scores["macro-F1 (four classes)"] = float(r["macro_f1"])
        if "macro_f1_nsv" in (r.get("signals") or {}):
            scores["N/S/V macro-F1"] = float(r["signals"]["macro_f1_nsv"])
        for name, value in scores.items():
            by_rung.setdefault(name, {}).setdefault((r["arch"], r["fidelity"]), []).append(value)
    repeated = {
        name: [g for g in groups.values() if len(g) >= 2] for name, groups in by_rung.items()
    }
    top_repeated = repeated[f"S recall, record {top} only"]
    seed_vars = [np.var(g, ddof=1) for g in top_repeated]

    def rho(x: list[float], y: list[float]) -> list[float]:
        res = spearmanr(x, y)
        return [float(res.statistic), float(res.pvalue)]

    return {
        "runs": len(runs),
        "min_s": min_s,
        "top_record": top,
        "top_s_beats": totals[top],
        "s_beats": sum(totals.values()),
        "rest_records": {rec: totals[rec] for rec in rest},
        "top_vs_rest": rho(top_recall, rest_recall),
        "s_f1_vs_top": rho(s_f1, top_recall),
        "s_f1_vs_rest": rho(s_f1, rest_recall),
        "top_recall_range": [min(top_recall), max(top_recall)],
        "rest_recall_range": [min(rest_recall), max(rest_recall)],
        # the top record's recall: spread over training seeds within a network and recipe
        # (pooled over those with two or more seeds) against its spread over all runs
        "top_seed_sd": float(np.sqrt(np.mean(seed_vars))) if seed_vars else None,
        "top_sd": float(np.std(top_recall, ddof=1)),
        "icc": {name: icc1(groups) for name, groups in repeated.items()},
        "icc_rungs": len(top_repeated),
    }


def icc1(groups: Sequence[Sequence[float]]) -> float | None:
    """One-way random-effects intraclass correlation ICC(1) (groups of unequal size): the
    share of a score's variance that lies between groups (here: networks and recipes) rather
    than within them (here: training seeds). None under two groups or without repeats."""
    groups = [np.asarray(g, dtype=float) for g in groups if len(g) >= 1]
    k, n = len(groups), sum(len(g) for g in groups)
    if k < 2 or n <= k:
        return None
    grand = np.concatenate(groups).mean()
    msb = sum(len(g) * (g.mean() - grand) ** 2 for g in groups) / (k - 1)
    msw = sum(((g - g.mean()) ** 2).sum() for g in groups) / (n - k)
    n0 = (n - sum(len(g) ** 2 for g in groups) / n) / (k - 1)
    denom = msb + (n0 - 1) * msw
    return float((msb - msw) / denom) if denom > 0 else None


def _fmt(v: float) -> str:
    return "" if np.isnan(v) else f"{v:.3f}"


def _pairing(rung: dict[str, Any], ref: str | None) -> dict[str, Any] | None:
    """The rung's pairing with reference ``ref``, or (None) with its own network under r3."""
    found: dict[str, Any] | None = rung["vs_own_r3"] if ref is None else rung["paired"].get(ref)
    return found


def render(summary: dict[str, Any], command: str) -> str:
    lines = [
        "# Where the cell networks lose S beats (full recipe, DS1-CV only)",
        "",
        f"- Rendered by `{command}` from the runs in `{RUNS_FILE}` (each run's command is "
        "in the README of `reports/`). DS2 is not read.",
        "- Means over training seeds of the pooled out-of-fold figures of 5-fold DS1 "
        "cross-validation (22 DS1 records). S Se / +P: sensitivity and positive "
        "predictivity of S, from each run's confusion matrix. Params: one network as the "
        "rung's recipe builds it (the final model is an ensemble of 5).",
        "",
        "| network | recipe | params | seeds | macro-F1 | N/S/V macro-F1 | S F1 | S Se "
        "| S +P | V F1 | F F1 |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary["rungs"]:
        m = r["mean"]
        seeds = ",".join(str(s) for s in r["seeds"])
        lines.append(
            f"| `{r['arch']}` | {r['recipe']} | {r['params']:,} | {seeds} | "
            + " | ".join(_fmt(m[c]) for c in COLUMNS)
            + " |"
        )
    sections: list[tuple[str, str | None]] = [
        (f"Paired by seed against `{ref}` (recipe r3)", ref) for ref in summary["refs"]
    ]
    sections.append(("Each network against itself under r3, paired by seed", None))
    for title, ref in sections:
        lines += [
            "",
            f"## {title}: mean difference [95 % t interval]",
            "",
            "| network | recipe | seeds | macro-F1 | N/S/V macro-F1 | S F1 |",
            "|---|---|---|---|---|---|",
        ]
        for r in summary["rungs"]:
            p = _pairing(r, ref)
            if not p:
                continue
            cells = [
                f"{p[c]['mean']:+.3f} [{p[c]['ci95'][0]:+.3f}, {p[c]['ci95'][1]:+.3f}]"
                for c in PAIRED
            ]
            lines.append(
                f"| `{r['arch']}` | {r['recipe']} | {len(p['seeds'])} | " + " | ".join(cells) + " |"
            )
    rec = summary["records"]
    if rec["s_beats"]:
        names = list(rec["s_beats"])
        lines += [
            "",
            "## S beats called S, per DS1 record (all seeds pooled)",
            "",
            "| network | " + " | ".join(f"{n} ({rec['s_beats'][n]} S)" for n in names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        for label, shares in rec["recall"].items():
            lines.append(f"| `{label}` | " + " | ".join(f"{shares[n]:.2f}" for n in names) + " |")
        lines += [
            "",
            "Other beats called S (summed over seeds), the three records with the most:",
            "",
        ]
        for label, fp in rec["false_s_calls"].items():
            top = ", ".join(f"{r}: {n}" for r, n in list(fp.items())[:3])
            lines.append(f"- `{label}`: {sum(fp.values())} in all; {top}")
    t = summary.get("transfer")
    if t:
        rest = ", ".join(f"{r} ({n})" for r, n in t["rest_records"].items())
        lines += [
            "",
            "## Does S recall on the S-richest record carry over to the others?",
            "",
            f"Over all {t['runs']} runs (every network, recipe and seed above): record "
            f"{t['top_record']} holds {t['top_s_beats']} of the {t['s_beats']} S beats; the "
            f"other records with at least {t['min_s']} S beats (their count in brackets): {rest}, "
            "each weighted equally in their mean recall. "
            "Spearman rho (p):",
            "",
            f"- record {t['top_record']}'s S recall against the others' mean recall: "
            f"{t['top_vs_rest'][0]:+.2f} (p {t['top_vs_rest'][1]:.2g});",
            f"- S F1 against record {t['top_record']}'s recall: {t['s_f1_vs_top'][0]:+.2f} "
            f"(p {t['s_f1_vs_top'][1]:.2g}); against the others' mean recall: "
            f"{t['s_f1_vs_rest'][0]:+.2f} (p {t['s_f1_vs_rest'][1]:.2g}).",
            f"- ranges over the runs: record {t['top_record']} "
            f"{t['top_recall_range'][0]:.2f}-{t['top_recall_range'][1]:.2f}, the others' mean "
            f"{t['rest_recall_range'][0]:.2f}-{t['rest_recall_range'][1]:.2f}.",
        ]
        if t["top_seed_sd"] is not None:
            lines.append(
                f"- record {t['top_record']}'s recall varies over training seeds of one "
                f"network and recipe with sd {t['top_seed_sd']:.2f} (pooled), against "
                f"{t['top_sd']:.2f} over all runs: how much of it is the seed, not the network."
            )
        shown = {k: v for k, v in t.get("icc", {}).items() if v is not None}
        if shown:
            lines += [
                "",
                "How well each score tells the networks and recipes apart across training "
                f"seeds: ICC(1) over the {t['icc_rungs']} rungs with two or more seeds (the "
                "share of a score's variance between rungs rather than between seeds; "
                "higher is a steadier selection signal). S recall over the records above:",
                "",
                "| score | ICC(1) |",
                "|---|---:|",
                *(f"| {k} | {v:.2f} |" for k, v in shown.items()),
            ]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True, help="directory with ecg_proxy_runs.jsonl")
    parser.add_argument("--ref", action="append", help="reference arch key (repeatable)")
    parser.add_argument("--min-s", type=int, default=50, help="records with this many S beats")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runs_dir = Path(args.runs)
    path = runs_dir / RUNS_FILE
    if not path.exists():
        raise SystemExit(f"error: no {RUNS_FILE} in {runs_dir}")
    rows = _rows(path)
    if not rows:
        raise SystemExit(f"error: no rows with a confusion matrix in {path}")
    summary = summarise(rows, tuple(args.ref or DEFAULT_REFS), args.min_s)
    command = "python scripts/ecg_skeleton.py --runs " + str(args.runs)
    (runs_dir / "ecg_skeleton.json").write_text(json.dumps(summary, indent=1) + "\n")
    (runs_dir / "ecg_skeleton.md").write_text(render(summary, command))
    print(f"wrote {runs_dir / 'ecg_skeleton.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
