"""The NB101 module hash against the real tables (``nasbench/nb101.npz``, ``nb101_partial.npz``).

A random 5,000-row sample here; every row is checked by ``scripts/verify_nb101.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgnas.spaces.base import Arch
from ecgnas.spaces.nb101 import NB101Space, arch_from_bits, hash_from_bits

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def table(nasbench_dir: Path) -> dict[str, np.ndarray]:
    with np.load(nasbench_dir / "nb101.npz") as z:
        return {k: z[k] for k in ("hash", "adj_bits", "ops", "n_vertices")}


@pytest.fixture(scope="module")
def partial(nasbench_dir: Path) -> dict[str, np.ndarray]:
    with np.load(nasbench_dir / "nb101_partial.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def space() -> NB101Space:
    return NB101Space()


def in_table(table: dict[str, np.ndarray], hashes: list[str]) -> np.ndarray:
    keys = np.array(hashes, dtype="S32")
    idx = np.minimum(np.searchsorted(table["hash"], keys), len(table["hash"]) - 1)
    return table["hash"][idx] == keys


def test_table_has_423624_distinct_sorted_hashes(table: dict[str, np.ndarray]) -> None:
    h = table["hash"]
    assert len(h) == 423_624
    assert bool(np.all(h[:-1] < h[1:]))  # sorted, hence distinct


def test_hash_of_5000_random_rows(table: dict[str, np.ndarray], space: NB101Space) -> None:
    rows = np.random.default_rng(0).choice(len(table["hash"]), size=5000, replace=False)
    for k, r in enumerate(rows.tolist()):
        bits, ops, n = (
            int(table["adj_bits"][r]),
            table["ops"][r].tolist(),
            int(table["n_vertices"][r]),
        )
        expected = table["hash"][r].decode()
        assert hash_from_bits(bits, ops, n) == expected, r
        if k < 1000:  # the Arch path too (pruning, validity)
            arch = arch_from_bits(bits, ops, n)
            assert space.is_valid(arch) and space.pruned(arch) == arch
            assert space.canonical(arch) == expected


def test_the_30_full_records(
    table: dict[str, np.ndarray], partial: dict[str, np.ndarray], space: NB101Space
) -> None:
    full = np.flatnonzero(partial["source"] == 0)
    assert len(full) == 30
    for r in full.tolist():
        arch = arch_from_bits(
            int(partial["adj_bits"][r]), partial["ops"][r].tolist(), int(partial["n_vertices"][r])
        )
        expected = str(partial["hash"][r])
        assert space.canonical(arch) == expected
        row = int(np.searchsorted(table["hash"], expected.encode()))
        assert table["hash"][row].decode() == expected
        assert (
            arch_from_bits(
                int(table["adj_bits"][row]),
                table["ops"][row].tolist(),
                int(table["n_vertices"][row]),
            )
            == arch
        )


def test_naslib_cells_prune_into_the_table(
    table: dict[str, np.ndarray], partial: dict[str, np.ndarray], space: NB101Space
) -> None:
    """The 500 NASLib cells are stored unpruned (7 vertices); pruned and hashed, all are rows."""
    rows = np.flatnonzero(partial["source"] == 1)
    assert len(rows) == 500
    hashes = []
    for r in rows.tolist():
        arch = arch_from_bits(int(partial["adj_bits"][r]), partial["ops"][r].tolist(), 7)
        assert space.is_valid(arch)
        hashes.append(space.canonical(arch))
    assert in_table(table, hashes).all()


def test_relabelled_table_cells_hash_the_same(
    table: dict[str, np.ndarray], space: NB101Space
) -> None:
    rng = np.random.default_rng(1)
    rows = rng.choice(len(table["hash"]), size=500, replace=False)
    changed = 0
    for r in rows.tolist():
        arch = arch_from_bits(
            int(table["adj_bits"][r]), table["ops"][r].tolist(), int(table["n_vertices"][r])
        )
        twin = space.relabel(arch, rng)
        changed += twin != arch
        assert space.canonical(twin) == table["hash"][r].decode()
    assert changed > 100


def test_samples_and_children_are_table_rows(
    table: dict[str, np.ndarray], space: NB101Space
) -> None:
    rng = np.random.default_rng(2)
    samples = [space.sample(rng) for _ in range(3000)]
    # mutation walks from table cells (large ones) and from samples
    starts: list[Arch] = [
        arch_from_bits(
            int(table["adj_bits"][r]), table["ops"][r].tolist(), int(table["n_vertices"][r])
        )
        for r in rng.choice(len(table["hash"]), size=1500, replace=False).tolist()
    ] + samples[:1500]
    children = [space.mutate(a, rng) for a in starts]
    crossed = [space.crossover(starts[k], starts[-1 - k], rng) for k in range(3000)]
    for name, archs in (("sample", samples), ("mutate", children), ("crossover", crossed)):
        assert all(space.is_valid(a) for a in archs), name
        assert in_table(table, [space.canonical(a) for a in archs]).all(), name
