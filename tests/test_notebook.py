"""Execute ``notebooks/quickstart.ipynb`` on the real data and check what it printed and drew.

The notebook runs in a fresh ipykernel of *this* interpreter (``sys.executable``, whatever
kernelspecs are installed for the user), with ``cwd`` = ``notebooks/`` and the data and cache
directories passed through the environment. The committed notebook is not modified; the
executed copy is written to the test's temporary directory.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from traitlets import default

pytestmark = pytest.mark.realdata

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"
CELL_TIMEOUT_S = 300

# DS1 beats per class (N, S, V, F) that ``load_beats`` keeps: all annotated beats (de Chazal's
# DS1, AAMI classes) minus those whose window falls off a record's edge (18 N, 1 F).
DS1_KEPT = {"N": 45866 - 18, "S": 944, "V": 3788, "F": 415 - 1}
RECORD_100_BEATS = 2273  # annotated beats of MIT-BIH record 100 (2239 N, 33 A, 1 V)
NB201_BEST_TEST = 94.3733  # highest CIFAR-10 test accuracy in NB201 (percent)


class ThisPythonKernelManager(AsyncKernelManager):
    """Starts ipykernel with ``sys.executable``, ignoring kernelspecs found on disk."""

    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self) -> KernelSpecManager:
        return KernelSpecManager(kernel_dirs=[])


def _stream(nb: nbformat.NotebookNode, name: str) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "stream" and out.name == name
    )


def _search(pattern: str, text: str) -> re.Match[str]:
    match = re.search(pattern, text, flags=re.MULTILINE)
    assert match is not None, f"no line matching {pattern!r} in the notebook's output:\n{text}"
    return match


@pytest.fixture(scope="module")
def executed(
    real_data_dir: Path,
    mitdb_dir: Path,
    nasbench_dir: Path,
    shared_cache_dir: Path,
    tmp_path_factory,
) -> nbformat.NotebookNode:
    assert ThisPythonKernelManager(kernel_name="python3").kernel_spec.argv[0] == sys.executable
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # one extra cell (in this copy only) reports which interpreter ran the notebook
    nb.cells.append(
        nbformat.v4.new_code_cell("import sys\nprint('kernel python:', sys.executable)")
    )
    env = dict(os.environ)
    env["ECGNAS_DATA_DIR"] = str(real_data_dir)
    env["ECGNAS_CACHE_DIR"] = str(shared_cache_dir)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        kernel_manager_class=ThisPythonKernelManager,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
        record_timing=False,
    )
    client.execute(env=env)
    nbformat.write(nb, tmp_path_factory.mktemp("notebook") / NOTEBOOK.name)
    return nb


def test_notebook_is_small_and_valid() -> None:
    assert NOTEBOOK.stat().st_size < 1_500_000
    nbformat.validate(nbformat.read(NOTEBOOK, as_version=4))


def test_runs_clean_in_this_interpreter(executed: nbformat.NotebookNode) -> None:
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    assert _stream(executed, "stderr") == ""
    python = _search(r"^kernel python: (.+)$", _stream(executed, "stdout")).group(1)
    assert python.strip() == sys.executable


def test_draws_the_figures(executed: nbformat.NotebookNode) -> None:
    pngs = [
        o
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert len(pngs) >= 4


def test_ds1_class_counts(executed: nbformat.NotebookNode) -> None:
    out = _stream(executed, "stdout")
    m = _search(r"^DS1 beats: N=(\d+) S=(\d+) V=(\d+) F=(\d+) total=(\d+)$", out)
    counts = dict(zip("NSVF", map(int, m.groups()[:4])))
    assert counts == DS1_KEPT
    assert int(m.group(5)) == sum(DS1_KEPT.values())


def test_search_benchmark(executed: nbformat.NotebookNode) -> None:
    out = _stream(executed, "stdout")
    m = _search(
        r"^mean best test accuracy after 100 evals: "
        r"dcl_enas=([\d.]+) rea=([\d.]+) random=([\d.]+)$",
        out,
    )
    dcl, rea, rnd = map(float, m.groups())
    for acc in (dcl, rea, rnd):
        assert 90.0 < acc <= NB201_BEST_TEST + 1e-3
    assert dcl > rnd
    assert dcl > 93.8
    assert "30 runs in" in out


def test_predictor_ranking(executed: nbformat.NotebookNode) -> None:
    out = _stream(executed, "stdout")
    m = _search(
        r"^Kendall tau \(50 labels, 15575 unlabelled cells\): dcl=([\d.]+) gin_mse=([\d.]+)$", out
    )
    dcl, gin_mse = map(float, m.groups())
    assert dcl > 0.6
    assert dcl > gin_mse


def test_shipped_classifier_on_record_100(executed: nbformat.NotebookNode) -> None:
    out = _stream(executed, "stdout")
    m = _search(r"^record 100: (\d+) beats classified in .* \((\d+) beats at the", out)
    n, dropped = int(m.group(1)), int(m.group(2))
    assert n + dropped == RECORD_100_BEATS
    acc = float(_search(r"^record 100 accuracy: ([\d.]+) ", out).group(1))
    assert acc > 0.95
    # the printed confusion matrix: 4 rows N, S, V, F of 4 counts each
    rows = {
        c: [int(v) for v in _search(rf"^ *{c}((?: +\d+){{4}})$", out).group(1).split()]
        for c in "NSVF"
    }
    assert sum(map(sum, rows.values())) == n
    correct = sum(rows[c][i] for i, c in enumerate("NSVF"))
    assert correct / n == pytest.approx(acc, abs=1e-4)
    assert sum(rows["S"]) == 33 and sum(rows["V"]) == 1
