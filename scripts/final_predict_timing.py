"""Wall time of ``ecgnas predict`` on DS2 records, each run a fresh process (imports included).

Runs ``ecgnas predict <data>/mitdb/<record> [--rpeaks detector] --threads 1`` with the shipped
bundle ``--repeats`` times per record and mode, and writes ``reports/final_predict_timing.md``.
When the installed ``ecgnas`` command does not have ``predict`` yet (the classifier commands
not wired into the root app), the same CLI is launched through ``python -c`` with
``ecgnas.cli.classifier.register``; the report says which.

    python scripts/final_predict_timing.py --records 100 213 232 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAUNCH = (
    "import sys; from ecgnas.cli import app, main; from ecgnas.cli.classifier import register; "
    "register(app) if 'predict' not in {c.name for c in app.registered_commands} else None; "
    "sys.exit(main(sys.argv[1:]))"
)


def _base_command() -> tuple[list[str], str]:
    # the venv's command even when its bin/ is not on PATH (script run by the venv's python)
    exe = shutil.which("ecgnas") or shutil.which("ecgnas", path=str(Path(sys.executable).parent))
    if exe:
        probe = subprocess.run([exe, "predict", "--help"], capture_output=True, text=True)
        if probe.returncode == 0:
            return [exe], "ecgnas"
    return [sys.executable, "-c", LAUNCH], "python -c '<register + ecgnas.cli.main>'"


MODES = ("reference", "detector")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", nargs="+", default=["100", "213", "232"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("ECGNAS_DATA_DIR", str(REPO.parent / "shared" / "data")),
        help="default: $ECGNAS_DATA_DIR, else ../shared/data next to the repository",
    )
    parser.add_argument("--report", default="reports/final_predict_timing.md")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=MODES,
        default=list(MODES),
        help="R-peak modes to time (default: both)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    from ecgnas.io import atomic_write_text

    base, label = _base_command()
    load_before = os.getloadavg()[0]
    rows = []
    for record in args.records:
        path = Path(args.data_dir) / "mitdb" / record
        for mode in args.modes:
            times = []
            summary = ""
            for _ in range(args.repeats):
                cmd = [*base, "predict", str(path), "--rpeaks", mode, "--threads", "1"]
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True)
                times.append(time.perf_counter() - t0)
                if proc.returncode != 0:
                    raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
                summary = proc.stdout
            first = summary.splitlines()[0] if summary else ""
            rows.append((record, mode, sorted(times), first))
            print(f"{record} {mode}: {min(times):.1f}-{max(times):.1f} s  {first}")
    load_after = os.getloadavg()[0]
    lines = [
        "# `ecgnas predict` wall time on DS2 records (fresh process each run)",
        "",
        f"- Date: {datetime.now().isoformat(timespec='seconds')}; {platform.machine()}, 2 CPU "
        f"cores shared with other work (load average {load_before:.1f} before, "
        f"{load_after:.1f} after); torch threads 1",
        f"- Command: `python scripts/final_predict_timing.py --records {' '.join(args.records)} "
        f"--repeats {args.repeats}"
        + (f" --modes {' '.join(args.modes)}" if list(args.modes) != list(MODES) else "")
        + "`, which runs `ecgnas predict <mitdb>/<record> --rpeaks "
        f"<mode> --threads 1` with the shipped bundle (launched as: {label})",
        "- Time: from process start to exit, including Python and torch imports, reading the "
        "record, filtering, (detector: XQRS), classification and the printed summary.",
        "- Target: under 10 s.",
        "",
        "| record | R peaks | runs | min s | median s | max s | first line of the output |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for record, mode, times, first in rows:
        lines.append(
            f"| {record} | {mode} | {len(times)} | {times[0]:.1f} | {times[len(times) // 2]:.1f} | "
            f"{times[-1]:.1f} | {first} |"
        )
    worst = max(t[-1] for _, _, t, _ in rows)
    lines += [
        "",
        f"Slowest run: {worst:.1f} s ({'within' if worst < 10 else 'over'} the 10 s target).",
        "",
    ]
    atomic_write_text(args.report, "\n".join(lines))
    print(f"wrote {args.report}")


if __name__ == "__main__":
    main()
