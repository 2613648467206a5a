"""``ecgnas space info``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ecgnas.cli import app
from ecgnas.spaces import get_space

runner = CliRunner()


def info(*args: str) -> dict:
    result = runner.invoke(app, ["space", "info", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_nb201_info_with_table(real_data_dir: Path) -> None:
    from ecgnas.benchmarks.nb201_table import NB201Table

    out = info("nb201", "--seed", "5", "--data-dir", str(real_data_dir))
    space = get_space("nb201")
    arch = space.sample(np.random.default_rng(5))
    assert out["size"] == 15_625
    assert out["ops"] == list(space.op_names)
    assert (out["graph_node_features"], out["path_length"]) == (6, 84)
    assert out["example"] == arch.to_json()
    assert space.from_string(out["example_string"]) == arch
    table = NB201Table.load(real_data_dir)
    assert out["params"] == round(table.columns["params_M_c10"][table.row_of(arch)] * 1e6)


def test_nb201_info_without_table(tmp_path: Path) -> None:
    out = info("nb201", "--data-dir", str(tmp_path))
    assert out["params"] is None
    assert "not found" in out["params_source"]
    text = runner.invoke(app, ["space", "info", "nb201", "--data-dir", str(tmp_path)]).output
    assert "params:" in text and "unavailable (NAS-Bench-201 table not found" in text


def test_ecg1d_info_builds_the_model() -> None:
    from ecgnas.spaces.ecg1d_model import build_model, count_flops, count_params

    out = info("ecg1d", "--seed", "2")
    arch = get_space("ecg1d").sample(np.random.default_rng(2))
    assert (out["size"], out["graph_node_features"], out["path_length"]) == (117_649, 8, 258)
    assert out["example"] == arch.to_json()
    model = build_model(arch)
    assert out["params"] == count_params(model)
    assert out["macs"] == count_flops(model)


def test_ecgjoint_info_describes_macro_choices_and_the_network() -> None:
    out = info("ecgjoint", "--seed", "3")
    space = get_space("ecgjoint")
    arch = space.sample(np.random.default_rng(3))
    assert out["size"] == 114_354_828 and out["example"] == arch.to_json()
    assert (out["graph_node_features"], out["path_length"]) == (27, 277)
    assert out["macro"] == {k: v for k, v in space.values(arch).items()}
    assert out["params"] > 1000 and out["macs"] > out["params"]
    assert "recipe r3" in out["params_source"]


@pytest.mark.parametrize(("name", "size"), [("manual", 432), ("tiny", 54)])
def test_baseline_info_builds_the_model(name: str, size: int) -> None:
    from ecgnas.spaces.ecg1d_model import count_params
    from ecgnas.train.models import build_ecg_model

    out = info(name, "--seed", "3")
    arch = get_space(name).sample(np.random.default_rng(3))
    assert out["size"] == size and out["example"] == arch.to_json()
    assert out["params"] == count_params(build_ecg_model(arch, seed=0))
    assert out["params_source"].endswith("CNN, 4 classes, 6 RR features")


def test_nb101_info_reads_nb101_npz(real_data_dir: Path) -> None:
    out = info("nb101", "--seed", "1", "--data-dir", str(real_data_dir))
    space = get_space("nb101")
    arch = space.sample(np.random.default_rng(1))
    assert out["size"] == 423_624 and out["path_length"] == space.path_length
    with np.load(real_data_dir / "nasbench" / "nb101.npz") as table:
        row = int(np.flatnonzero(table["hash"] == space.canonical(arch).encode())[0])
        assert out["params"] == int(table["trainable_params"][row])


def test_text_output_lists_everything() -> None:
    result = runner.invoke(app, ["space", "info", "ecg1d"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["space:", "ecg1d"]
    assert lines[1].split() == ["size:", "117,649", "archs"]
    assert "dil_conv_k5_d4" in lines[2]
    assert any(line.startswith("path encoding:") and "258 bits" in line for line in lines)
    assert any(line.strip().startswith("params:") for line in lines)


@pytest.mark.parametrize("argv", [["space", "info", "nb301"], ["space", "info"]])
def test_bad_space_is_one_line_exit_2(argv: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "ecgnas", *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    if argv[-1] == "nb301":
        known = "nb201, nb101, ecg1d, ecgjoint, manual, tiny"
        assert proc.stderr == f"error: unknown search space 'nb301'; known spaces: {known}\n"
