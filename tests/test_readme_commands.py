"""Every command the README shows runs as written, with small settings.

The README's shell blocks and inline ``ecgnas ...`` / ``python scripts/...`` spans are read,
each command is rewritten by the rule for its program (``SMALL``: some flag values made
small, a few flags added, never a flag removed) and run in README order in one scratch
directory, so that later commands find what earlier ones wrote (``ecgnas tune --run D``
after the search that made ``D``). A command without a rule fails the test: a new README
example needs a rule here. The Python example block is run too.

The two commands that set up a fresh machine and run this suite are the ones ``.ci/run``
runs; the test checks that it does.
"""

from __future__ import annotations

import os
import re
import runpy
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SHELL_LANGS = {"", "bash", "sh", "shell", "console"}
PG_PLACEHOLDER = "postgresql://USER:PASSWORD@HOST:5432/ecgnas"

# --- reading the README ---------------------------------------------------------------------


def _blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return [
        (m.group(1).strip(), m.group(2)) for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)
    ]


def _shell_commands(body: str) -> list[list[str]]:
    joined = re.sub(r"\\\n\s*", " ", body)
    out: list[list[str]] = []
    for line in joined.splitlines():
        tokens = shlex.split(line, comments=True)
        part: list[str] = []
        for tok in [*tokens, "&&"]:
            if tok == "&&":
                if part:
                    out.append(part)
                part = []
            else:
                part.append(tok)
    return out


def _normalise(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """(environment assignments, argv with ``.venv/bin/`` dropped)."""
    env: dict[str, str] = {}
    while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", argv[0]):
        key, _, value = argv[0].partition("=")
        env[key] = value
        argv = argv[1:]
    if argv and argv[0].startswith(".venv/bin/"):
        argv = [argv[0][len(".venv/bin/") :], *argv[1:]]
    return env, argv


def readme_commands(text: str) -> list[tuple[dict[str, str], list[str]]]:
    """Every shell command of the README, in order (blocks, then inline spans)."""
    commands = []
    for lang, body in _blocks(text):
        if lang in SHELL_LANGS:
            commands += [_normalise(c) for c in _shell_commands(body)]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`([^`\n]+)`", prose):
        argv = span.split()
        # a command, not a name in a sentence ("`ecgnas train` writes ..."): it has arguments
        if span.startswith("python scripts/") or (argv[0] == "ecgnas" and len(argv) > 2):
            commands.append(_normalise(shlex.split(span)))
    return [c for c in commands if c[1]]


def python_blocks(text: str) -> list[str]:
    return [body for lang, body in _blocks(text) if lang == "python"]


# --- small settings -------------------------------------------------------------------------


@dataclass(frozen=True)
class Small:
    """How to make one program's commands small: flag values to set (replacing all of the
    README's values of that flag, or appended) and switches to append."""

    set: dict[str, str] = field(default_factory=dict)
    switches: tuple[str, ...] = ()


ECG_SEARCH = {
    "--max-evals": "2",
    "--epochs": "1",
    "--max-majority": "200",
    "--width": "4",
    "--threads": "1",
}

# keyed by the program and its subcommands (``ecgnas search``) or the script path
SMALL: dict[str, Small] = {
    "ecgnas data download": Small(),
    "ecgnas data info": Small(),
    "ecgnas space info": Small(),
    "ecgnas search": Small(set=ECG_SEARCH),
    "ecgnas worker": Small(set={"--max-evals": "2"}),
    "ecgnas benchmark predictor": Small(
        set={"--seeds": "1", "--labels": "20", "--variants": "dcl,gin_mse", "--jobs": "1"}
    ),
    "ecgnas benchmark nb201": Small(set={"--seeds": "1", "--budget": "30", "--jobs": "1"}),
    "ecgnas benchmark nb101": Small(set={"--seeds": "1", "--budget": "30", "--jobs": "1"}),
    "ecgnas benchmark pareto": Small(set={"--seeds": "1", "--budget": "25", "--jobs": "1"}),
    "ecgnas tune": Small(
        set={"--trials": "1", "--min-epochs": "1", "--max-epochs": "1", "--max-majority": "200"}
    ),
    "ecgnas train": Small(set={"--max-majority": "200"}),
    "ecgnas predict": Small(),
    "ecgnas export": Small(),
    "scripts/bench_data.py": Small(set={"--detector-records": "1"}),
    "scripts/bench_encodings.py": Small(set={"--repeats": "1"}),
    "scripts/verify_nb101.py": Small(set={"--limit": "20000", "--tfrecord-cells": "500"}),
    "scripts/bench_predictor_cost.py": Small(
        set={"--threads": "1", "--labels": "50", "--repeats": "1", "--clp-epochs": "1"},
        switches=("--skip-pool-count",),
    ),
    "scripts/bench_training.py": Small(
        set={"--threads": "1", "--epochs": "1", "--archs": "light", "--caps": "4000"}
    ),
    "scripts/bench_scaling.py": Small(
        set={"--workers": "1,2", "--budget": "4", "--repeats": "1", "--delay": "0"}
        | {"--long-budget": "0"},
        switches=("--no-postgres",),
    ),
    "scripts/final_compare.py": Small(
        set={"--trials": "1", "--seeds": "0", "--min-epochs": "1", "--max-epochs": "1"}
        | {"--max-majority": "200", "--out": "runs/fc", "--reports": "reports"}
    ),
    "scripts/final_predict_timing.py": Small(set={"--records": "100", "--repeats": "1"}),
    "scripts/ecg_recipe.py": Small(
        set={"--seeds": "1", "--folds": "2", "--epochs": "1", "--variants": "base,weight0"}
    ),
    "scripts/ecg_final.py": Small(
        set={"--seeds": "0", "--epochs": "1", "--folds": "2", "--max-majority": "200"}
        | {"--out": "runs/ef", "--reports": "reports"}
    ),
    "scripts/ecg_tiny.py": Small(
        set={"--final": "runs/ef", "--seeds-report": "reports/ecg_tiny_seeds.json"}
        | {"--runs": "20", "--warmup": "2", "--calibration-beats": "64"}
    ),
    "scripts/ecg_pareto.py": Small(),
    "scripts/ecg_proxy.py": Small(set={"--archs": "1", "--fidelity": "e1k2", "--seeds": "0"}),
    "scripts/ecg_throughput.py": Small(set={"--cells": "1", "--epochs": "1"}),
    "scripts/ecg_skeleton.py": Small(),
    "ecgnas benchmark ecg-table": Small(
        set={"--archs": "1", "--fidelity": "e1k2", "--table": "runs/ecg_table_small.jsonl"}
    ),
    "ecgnas benchmark ecg": Small(set={"--seeds": "1", "--budget": "30", "--jobs": "1"}),
    "scripts/search_paired_summary.py": Small(),
    "scripts/ecg_shortlist.py": Small(set={"--top": "1", "--seeds": "0", "--fidelity": "e1k2"}),
    "scripts/ecg_robustness.py": Small(
        set={"--records": "100", "--conditions": "clean,inverted", "--seconds": "120"}
    ),
}

# run by .ci/run itself (installing from scratch; this very suite)
CI_COMMANDS = {"bash scripts/install.sh", "python -m pytest -q"}


def rule_key(argv: list[str]) -> str:
    if argv[0] == "python" and len(argv) > 1 and argv[1].startswith("scripts/"):
        return argv[1]
    if argv[0] != "ecgnas":
        return " ".join(argv)
    words = [argv[0]]
    for tok in argv[1:]:
        if tok.startswith("-") or len(words) == 3:
            break
        words.append(tok)
        if " ".join(words) in SMALL:
            break
    return " ".join(words)


def make_small(argv: list[str], small: Small) -> list[str]:
    out = list(argv)
    for flag, value in small.set.items():
        if flag in out:
            i = out.index(flag) + 1
            j = i + 1
            while j < len(out) and not out[j].startswith("-"):  # nargs="+" values
                j += 1
            out[i:j] = [value]
        else:
            out += [flag, value]
    return out + [sw for sw in small.switches if sw not in out]


# --- the tests ------------------------------------------------------------------------------


def test_readme_reader_finds_commands_and_flags() -> None:
    text = (
        "```bash\n# c\nbash a.sh && .venv/bin/ecgnas x --y 1  # z\nA=1 ecgnas w \\\n  --v 2\n```\n"
        "```python\nprint(1)\n```\nsee `ecgnas q --r 3`, `ecgnas q` and `not a command`\n"
    )
    assert readme_commands(text) == [
        ({}, ["bash", "a.sh"]),
        ({}, ["ecgnas", "x", "--y", "1"]),
        ({"A": "1"}, ["ecgnas", "w", "--v", "2"]),
        ({}, ["ecgnas", "q", "--r", "3"]),
    ]
    assert python_blocks(text) == ["print(1)\n"]
    small = Small(set={"--seeds": "1", "--j": "1"}, switches=("--q",))
    assert make_small(["ecgnas", "s", "--seeds", "0", "1", "--k", "2"], small) == [
        "ecgnas", "s", "--seeds", "1", "--k", "2", "--j", "1", "--q",
    ]  # fmt: skip
    assert rule_key(["ecgnas", "benchmark", "nb201", "--seeds", "3"]) == "ecgnas benchmark nb201"
    assert rule_key(["ecgnas", "predict", "100"]) == "ecgnas predict"
    assert rule_key(["python", "scripts/x.py", "--a"]) == "scripts/x.py"


def test_every_readme_command_has_a_rule() -> None:
    commands = readme_commands(README.read_text())
    assert len(commands) >= 20
    keys = {rule_key(argv) for _, argv in commands}
    missing = sorted(k for k in keys if k not in SMALL and k not in CI_COMMANDS)
    assert not missing, f"README commands without a small-settings rule: {missing}"
    assert CI_COMMANDS <= keys, "the README lost one of its two set-up commands"
    for _, argv in commands:  # each script's flags parse exactly as the README writes them
        if rule_key(argv).startswith("scripts/"):
            script = runpy.run_path(str(REPO / argv[1]), run_name="readme_check")
            script["build_parser"]().parse_args(argv[2:])
    ci = (REPO / ".ci" / "run").read_text()
    for command in CI_COMMANDS:
        assert command in ci, f".ci/run does not run the README's {command!r}"


def _env(data: Path, tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["ECGNAS_DATA_DIR"] = str(data)
    env.setdefault("ECGNAS_CACHE_DIR", str(tmp / "cache"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    # the commands import this checkout's ecgnas, whichever checkout is installed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _resolve(argv: list[str]) -> list[str]:
    if argv[0] == "ecgnas":
        # the installed command, as a user runs it (``python -m`` would put the scratch
        # directory, where ``ecgnas train --out ecgnas/assets/...`` writes, on sys.path)
        script = Path(sys.executable).parent / "ecgnas"
        return [str(script), *argv[1:]] if script.is_file() else [sys.executable, "-m", *argv]
    if argv[0] == "python":
        script = REPO / argv[1]
        return [sys.executable, str(script), *argv[2:]]
    raise AssertionError(f"cannot run {argv}")


def _drop_studies(url: str, names: list[str]) -> None:
    import optuna

    from ecgnas.search.distributed import rdb_url

    storage = optuna.storages.get_storage(rdb_url(url))
    existing = {st.study_name for st in optuna.get_all_study_summaries(storage=storage)}
    for name in set(names) & existing:
        optuna.delete_study(study_name=name, storage=storage)


@pytest.mark.realdata
def test_readme_commands_run_as_written_with_small_settings(
    tmp_path: Path, mitdb_dir: Path, nasbench_dir: Path
) -> None:
    data = mitdb_dir.parent
    pg_url = os.environ.get("ECGNAS_TEST_POSTGRES_URL")
    env = _env(data, tmp_path)
    done: set[tuple[str, ...]] = set()
    background: list[tuple[list[str], subprocess.Popen[str]]] = []
    ran = 0
    commands = readme_commands(README.read_text())
    if pg_url:  # the README names its study; a server kept from an earlier run may hold it
        _drop_studies(pg_url, [a[a.index("--study") + 1] for _, a in commands if "--study" in a])
    for extra_env, argv in commands:
        key = rule_key(argv)
        if key in CI_COMMANDS:
            continue
        assert "--ship" not in argv, "a README command must not overwrite the shipped bundle"
        small = make_small(argv, SMALL[key])
        if any(PG_PLACEHOLDER in tok for tok in small):
            if not pg_url:
                if os.environ.get("ECGNAS_REQUIRE_POSTGRES") == "1":
                    pytest.fail("ECGNAS_TEST_POSTGRES_URL is not set")
                continue
            small = [tok.replace(PG_PLACEHOLDER, pg_url) for tok in small]
        if tuple(small) in done:
            continue
        done.add(tuple(small))
        cmd_env = {**env, **extra_env}
        coordinator = (
            key == "ecgnas search"
            and "--workers" in small
            and (small[small.index("--workers") + 1] == "0")
        )
        if coordinator:  # waits for the README's worker command: run it in the background
            proc = subprocess.Popen(
                _resolve(small), cwd=tmp_path, env=cmd_env, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )  # fmt: skip
            background.append((small, proc))
            continue
        result = subprocess.run(
            _resolve(small), cwd=tmp_path, env=cmd_env, text=True, capture_output=True,
            timeout=900,
        )  # fmt: skip
        assert result.returncode == 0, (
            f"README command failed: {shlex.join(argv)}\nran: {shlex.join(small)}\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        ran += 1
    for small, proc in background:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"README command failed: {shlex.join(small)}\n{out[-3000:]}"
        ran += 1
    assert ran >= 15
    # what the README's commands promise to leave behind
    assert (tmp_path / "beats.csv").is_file()
    assert (tmp_path / "model.onnx").is_file()
    assert (tmp_path / "runs" / "mitbih-demo" / "result.json").is_file()


@pytest.mark.realdata
def test_readme_python_example_runs(tmp_path: Path, mitdb_dir: Path) -> None:
    data = mitdb_dir.parent
    blocks = python_blocks(README.read_text())
    assert blocks, "the README lost its Python example"
    for body in blocks:
        result = subprocess.run(
            [sys.executable, "-c", body], cwd=tmp_path, env=_env(data, tmp_path), text=True,
            capture_output=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, f"README Python example failed:\n{body}\n{result.stderr}"
        assert result.stdout.strip(), "the README's Python example printed nothing"
