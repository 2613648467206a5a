"""``get_space`` and the light-import promise of ``ecgnas.spaces``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ecgnas.errors import ConfigError
from ecgnas.spaces import SPACE_NAMES, SearchSpace, get_space

SIZES = {
    "nb201": 15_625,
    "nb101": 423_624,
    "ecg1d": 117_649,
    "ecgjoint": 114_354_828,
    "manual": 432,
    "tiny": 54,
}


def test_space_names() -> None:
    assert SPACE_NAMES == ("nb201", "nb101", "ecg1d", "ecgjoint", "manual", "tiny")


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_every_name_gives_a_working_space(name: str) -> None:
    space = get_space(name)
    assert isinstance(space, SearchSpace)
    assert space.name == name
    assert space.size() == SIZES[name]
    arch = space.sample(np.random.default_rng(0))
    assert arch.space == name and space.is_valid(arch)
    assert space.path_encoding([arch]).shape == (1, space.path_length)
    assert space.to_graph(arch).x.shape[1] == space.n_node_types
    assert get_space(name) is not space  # a fresh instance per call
    # macro genes end Arch.ops after the graph's ops; only the joint space has them
    assert all(n >= 2 for n in space.macro_sizes)
    assert bool(space.macro_sizes) == (name == "ecgjoint")
    if space.macro_sizes:
        tail = arch.ops[len(arch.ops) - len(space.macro_sizes) :]
        assert all(0 <= g < n for g, n in zip(tail, space.macro_sizes))
    # every registered space pre-trains its CLP encoder on itself
    assert space.clp_space is space


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(
        ConfigError,
        match="unknown search space 'nb301'; known spaces: nb201, nb101, ecg1d, ecgjoint, manual, tiny",
    ):
        get_space("nb301")


def test_importing_spaces_is_light() -> None:
    code = (
        "import sys; import ecgnas.spaces as s; s.get_space('nb201'); s.get_space('ecg1d');"
        "print('torch' in sys.modules, 'ecgnas.spaces.nb101' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_ecg_spaces_and_entries() -> None:
    from ecgnas.spaces.registry import ECG_SPACE_NAMES, space_entry

    assert ECG_SPACE_NAMES == ("ecg1d", "ecgjoint", "manual", "tiny")
    for name in SPACE_NAMES:
        entry = space_entry(name)
        assert entry.ecg == (name in ECG_SPACE_NAMES)
        assert get_space(name).name == name
    with pytest.raises(ConfigError, match="unknown search space 'x'"):
        space_entry("x")
