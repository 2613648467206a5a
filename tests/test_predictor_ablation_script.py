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


def test_the_clp_space_of_a_spec_defaults_to_the_benchmark_space_s() -> None:
    """No ``clp_space``: the benchmark space's own ``clp_space`` (the joint space for the ECG
    table); ``"own"``: the benchmark space itself (the table pre-trains on its archs)."""
    import numpy as np

    from ecgnas.benchmarks.ecg_table import ECGTableSpace
    from ecgnas.spaces import get_space

    script = load_script(SCRIPT)
    joint = get_space("ecgjoint")
    table = ECGTableSpace([joint.sample(np.random.default_rng(0))])
    assert script.resolve_clp_space("x", None, table) is table.joint
    assert script.resolve_clp_space("x", "own", table) is table
    assert script.resolve_clp_space("x", "ecgjoint", table).name == "ecgjoint"
    nb201 = get_space("nb201")
    assert script.resolve_clp_space("x", None, nb201) is nb201
