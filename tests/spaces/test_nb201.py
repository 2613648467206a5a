"""``NB201Space``: size, official strings, and agreement with the real ``nb201.csv.gz``."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest

from ecgnas.errors import ConfigError
from ecgnas.spaces.base import Arch
from ecgnas.spaces.nb201 import NB201_OPS, NB201Space


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return NB201Space()


def test_shape_of_the_space(space: NB201Space) -> None:
    assert space.name == "nb201"
    assert space.op_names == NB201_OPS
    assert space.op_names == (
        "none",
        "skip_connect",
        "nor_conv_1x1",
        "nor_conv_3x3",
        "avg_pool_3x3",
    )
    assert space.size() == 15_625
    assert space.n_node_types == 6  # input, 4 ops, output
    assert space.path_length == 4 + 16 + 64


def test_string_of_a_known_cell(space: NB201Space) -> None:
    # index 0 of the official benchmark
    text = (
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|"
        "+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    )
    arch = space.from_string(text)
    assert arch == Arch("nb201", (4, 2, 1, 2, 1, 1))
    assert space.to_string(arch) == text


def test_string_round_trip_of_every_cell(space: NB201Space) -> None:
    archs = space.enumerate()
    texts = [space.to_string(a) for a in archs]
    assert len(set(texts)) == 15_625
    assert [space.from_string(t) for t in texts] == archs


@pytest.mark.parametrize(
    "text",
    [
        "",
        "|none~0|+|none~0|none~1|",
        "|none~0|+|none~0|+|none~0|none~1|none~2|",
        "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~0|+|none~0|none~0|+|none~0|none~1|none~2|",
        "|none~x|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~5|+|none~0|none~1|+|none~0|none~1|none~2|",
    ],
)
def test_malformed_strings_are_config_errors(space: NB201Space, text: str) -> None:
    with pytest.raises(ConfigError, match="not an NB201 arch string"):
        space.from_string(text)


def test_every_table_row_parses_to_its_op_columns(nasbench_dir: Path, space: NB201Space) -> None:
    """Read the csv directly (not through the evaluator): strings and e0..e5 agree."""
    with gzip.open(nasbench_dir / "nb201.csv.gz", "rt", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 15_625
    archs = [space.from_string(r["arch_str"]) for r in rows]
    ops = np.array([[int(r[f"e{i}"]) for i in range(6)] for r in rows])
    assert np.array_equal(space.ops_array(archs), ops)
    assert [space.to_string(a) for a in archs] == [r["arch_str"] for r in rows]
    # the table covers the space: every enumerated cell has exactly one row
    assert set(archs) == set(space.enumerate())
