"""The ECG Pareto fronts of one multi-objective search run: DS1-CV macro-F1 against the
parameter count and against the latency of the same evaluated archs (issue 17).

    ecgnas search --dataset mitbih --space ecgjoint --objectives f1,params --gpu-days 0.015 \
        --threads 1 --seed 0 --run-dir runs/ecg-pareto-params
    python scripts/ecg_pareto.py --run runs/ecg-pareto-params

Reads the run's log (every evaluated arch and its DS1-CV proxy score; no DS2 record is read),
prices each evaluated arch by parameters and by ONNX Runtime latency (one thread, batch 1,
``ecgnas.ecg_costs``), and writes ``<out>/ecg_pareto.{md,json}`` and one PNG per cost: the
front, its hypervolume and the reference point (signal 0, cost 1.1 x the largest evaluated
cost), with the published tiny and manual networks priced beside it for scale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a finished ecgnas search run directory")
    parser.add_argument("--costs", default="params,latency", help="comma-separated cost objectives")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="reports")
    return parser


def _evaluations(run: Path) -> list[Any]:
    """The run's completed evaluations, in evaluation order (from its run log)."""
    import optuna

    from ecgnas.search.runlog import JOURNAL_NAME, evaluation_of, open_storage

    study = optuna.load_study(study_name="run", storage=open_storage(run / JOURNAL_NAME))
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    return sorted((evaluation_of(t) for t in done), key=lambda e: e.index)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import numpy as np
    import torch

    from ecgnas.ecg_costs import ECGCost
    from ecgnas.ecg_front import front_lines, front_summary, plot_front
    from ecgnas.train.models import parse_arch

    torch.set_num_threads(args.threads)
    run, out = Path(args.run), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = json.loads((run / "result.json").read_text())
    evaluations = _evaluations(run)
    signal = result["score_name"]
    payload: dict[str, Any] = {
        "run": str(run),
        "command": "python scripts/ecg_pareto.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "search": result["settings"],
        "n_evaluated": len(evaluations),
        "device_days": result["device_days"],
        "fronts": {},
        "published": {},
    }
    lines = [
        f"# ECG Pareto fronts: {signal} against cost",
        "",
        f"Run `{run}` (`{result['settings']['method']}` on `{result['settings']['space']}`, "
        f"{len(evaluations)} evaluations, {result['device_days']:.4f} device-days on this CPU); "
        f"command: `{payload['command']}`. Scores are DS1 cross-validation at the search's "
        "proxy fidelity; no DS2 record was read.",
        "",
    ]
    for name in args.costs.split(","):
        cost = ECGCost(name, cache_file=run / f"costs-{name}.json")
        values = cost([e.arch for e in evaluations])
        summary = front_summary(evaluations, values, cost.describe())
        png = out / f"ecg_pareto_{name}.png"
        plot_front(evaluations, values, png, signal, f"{name} ({cost.unit})")
        payload["fronts"][name] = summary
        payload["published"][name] = {
            label: cost.value(parse_arch(label)) for label in ("tiny", "manual")
        }
        block = front_lines(summary, signal)
        block = [line.replace("front.png", png.name) for line in block]
        lines += block[:-1] + [
            "Published networks under the same recipe, for scale: "
            + ", ".join(f"{k} {v:,.4g} {cost.unit}" for k, v in payload["published"][name].items())
            + ".",
            "",
        ]
        print(f"{name}: front of {len(summary['front'])}, hypervolume {summary['hypervolume']:.4f}")
    scores = np.array([e.score for e in evaluations])
    payload["score_range"] = [float(scores.min()), float(scores.max())]
    (out / "ecg_pareto.json").write_text(json.dumps(payload, indent=1) + "\n")
    (out / "ecg_pareto.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'ecg_pareto.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
