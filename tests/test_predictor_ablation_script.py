"""``scripts/predictor_ablation.py``: a spec's ``clp_space`` takes the encoder of another
space only when that encoder reads the benchmark's graphs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecgnas.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "predictor_ablation.py"


def test_an_encoder_of_another_graph_space_is_refused_in_one_line() -> None:
    script = load_script(SCRIPT)
    argv = ["--benchmark", "ecg", "--seeds", "1", "--labels", "10"]
    with pytest.raises(SystemExit, match="the nb201 encoder does not read ecgjoint_table"):
        script.main(['nb=dcl:{"clp_space": "nb201"}', *argv])
    with pytest.raises(SystemExit, match="unknown search space 'nb301'"):
        script.main(['x=dcl:{"clp_space": "nb301"}', *argv])
