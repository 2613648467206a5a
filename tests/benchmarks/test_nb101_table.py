"""NB101Table (npz) and NB101Evaluator: the real table, tiny synthetic tables, bad files.

Tables built from TFRecord files are tested in ``test_tfrecord.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgnas.benchmarks.nb101_table import (
    COST_EXPONENT,
    COST_SCALE_S,
    NB101Evaluator,
    NB101Table,
    proxy_train_seconds,
)
from ecgnas.errors import ConfigError, DataError
from ecgnas.evaluate import Evaluator
from ecgnas.spaces.base import Arch
from ecgnas.spaces.nb101 import NB101Space, matrix_to_bits, module_hash

ROW0_HASH = "00005c142e6f48ac74fdcf73e3439874"
BEST_HASH_PREFIX = "ba0a27ca"


@pytest.fixture(scope="module")
def real_table(nasbench_dir: Path) -> NB101Table:
    return NB101Table.load(nasbench_dir.parent, source="npz")


def tiny_cells() -> list[Arch]:
    space = NB101Space()
    specs = [
        (((0, 1), (0, 0)), (0, 4)),
        (((0, 1, 0), (0, 0, 1), (0, 0, 0)), (0, 2, 4)),
        (((0, 1, 1), (0, 0, 1), (0, 0, 0)), (0, 3, 4)),
    ]
    return [space.make(m, o) for m, o in specs]


def tiny_table(with_validation: bool = False) -> NB101Table:
    """3 cells, sorted by hash; accuracies 0.8 + 0.01 * row (+ repeat offsets)."""
    cells = tiny_cells()
    hashes = [module_hash(a.matrix, a.ops) for a in cells]
    order = np.argsort(hashes)
    cells = [cells[i] for i in order]
    n = len(cells)
    ops = np.full((n, 7), -1, dtype=np.int8)
    for r, a in enumerate(cells):
        ops[r, : len(a.ops)] = a.ops
    base = 0.8 + 0.01 * np.arange(n, dtype=np.float32)
    kwargs: dict = {}
    if with_validation:
        rep = np.array([0.0, 0.002, 0.004], dtype=np.float32)
        kwargs = {
            "test_acc": base[:, None] + rep,
            "val_acc": base[:, None] + rep + 0.05,
            "train_time": np.array([[100.0, 110.0, 120.0]] * n, dtype=np.float32),
        }
    else:
        kwargs = {"test_acc": base[:, None], "flops": np.array([1e9, 4e9, 9e9], dtype=np.int64)}
    return NB101Table(
        hashes=np.array(sorted(hashes), dtype="S32"),
        adj_bits=np.array([matrix_to_bits(a.matrix) for a in cells], dtype=np.uint32),
        n_vertices=np.array([len(a.ops) for a in cells], dtype=np.int8),
        ops=ops,
        trainable_params=np.arange(n, dtype=np.int64) + 1000,
        source="tiny",
        **kwargs,
    )


# --- the real table ---------------------------------------------------------------------


@pytest.mark.realdata
def test_real_table_contents(real_table: NB101Table) -> None:
    t = real_table
    assert len(t) == 423_624 and t.n_repeats == 1 and not t.has_validation
    assert t.hashes[0].decode() == ROW0_HASH
    assert t.test_acc[0, 0] == pytest.approx(0.921174, abs=1e-6)
    assert int(t.trainable_params[0]) == 8_555_530
    best = int(np.argmax(t.test_acc[:, 0]))
    assert t.hashes[best].decode().startswith(BEST_HASH_PREFIX)
    assert t.test_acc[best, 0] == pytest.approx(0.94661, abs=1e-5)
    assert t.flops is not None and t.flops.min() > 0
    assert not t.hashes.flags.writeable


@pytest.mark.realdata
def test_real_table_lookup(real_table: NB101Table) -> None:
    space = NB101Space()
    rows = [0, 1, 211_000, 423_623]
    found = real_table.find([real_table.hashes[r].decode() for r in rows] + ["f" * 32, "0" * 32])
    assert found.tolist() == [*rows, -1, -1]
    for r in rows:
        assert space.canonical(real_table.arch(r)) == real_table.hashes[r].decode()
    with pytest.raises(DataError, match="f" * 32):
        real_table.row_of("f" * 32)
    rng = np.random.default_rng(0)
    sizes = [len(real_table.random_arch(rng).ops) for _ in range(300)]
    assert np.mean(sizes) > 6  # uniform over cells: most cells have 7 vertices


@pytest.mark.realdata
def test_evaluator_on_the_real_table(real_table: NB101Table) -> None:
    ev = NB101Evaluator(real_table)
    assert isinstance(ev, Evaluator) and ev.selects_on_test
    best = int(np.argmax(real_table.test_acc[:, 0]))
    res = ev.evaluate(real_table.arch(best))
    assert res.score == pytest.approx(94.661, abs=1e-3)
    assert res.metrics["test_acc"] == res.score
    assert res.metrics["signal"] == "test_acc_108_seed0"
    assert "TEST accuracy" in str(res.metrics["signal_note"])
    assert res.metrics["hash"] == real_table.hashes[best].decode()
    assert res.metrics["cost_kind"] == "proxy:flops"
    assert res.cost_seconds == pytest.approx(proxy_train_seconds(real_table.flops[best]))
    # every arch the space produces evaluates; isomorphic copies score the same
    space = ev.space
    rng = np.random.default_rng(3)
    for _ in range(200):
        arch = space.sample(rng)
        r1, r2 = ev.evaluate(arch), ev.evaluate(space.relabel(arch, rng))
        assert r1 == r2 and 0 < r1.score < 100 and r1.cost_seconds > 0


@pytest.mark.realdata
def test_cost_proxy_constants_refit(nasbench_dir: Path, real_table: NB101Table) -> None:
    """The proxy constants are the log-log fit of training time on FLOPs over the 30 cells
    with full official records."""
    with np.load(nasbench_dir / "nb101_partial.npz") as z:
        full = z["source"] == 0
        hashes = z["hash"][full]
        seconds = z["train_time_108"][full].mean(axis=1).astype(np.float64)
    rows = real_table.find(list(hashes))
    assert (rows >= 0).all() and len(rows) == 30
    flops = real_table.flops[rows].astype(np.float64)
    slope, intercept = np.polyfit(np.log(flops / 1e9), np.log(seconds), 1)
    assert slope == pytest.approx(COST_EXPONENT, abs=1e-4)
    assert np.exp(intercept) == pytest.approx(COST_SCALE_S, rel=1e-4)
    rel_err = np.abs(proxy_train_seconds(flops) - seconds) / seconds
    assert rel_err.mean() < 0.15
    all_costs = proxy_train_seconds(real_table.flops)
    assert 385 < all_costs.min() < 395 and 5255 < all_costs.max() < 5275


# --- tiny tables ------------------------------------------------------------------------


def test_tiny_seed0_table_evaluator() -> None:
    t = tiny_table()
    ev = NB101Evaluator(t)
    for row in range(3):
        res = ev.evaluate(t.arch(row))
        assert res.score == pytest.approx(100 * (0.8 + 0.01 * row), abs=1e-4)
        assert res.cost_seconds == pytest.approx(COST_SCALE_S * (row + 1) ** (2 * COST_EXPONENT))
        assert res.metrics["flops"] == float(t.flops[row])
        assert res.metrics["trainable_params"] == 1000.0 + row


def test_validation_table_evaluator() -> None:
    t = tiny_table(with_validation=True)
    mean = NB101Evaluator(t)
    assert not mean.selects_on_test and mean.signal == "val_acc_108_mean"
    res = mean.evaluate(t.arch(1))
    assert res.score == pytest.approx(100 * (0.81 + 0.002 + 0.05), abs=1e-4)
    assert res.metrics["val_acc"] == res.score
    assert res.metrics["test_acc"] == pytest.approx(100 * (0.81 + 0.002), abs=1e-4)
    assert res.cost_seconds == pytest.approx(110.0)
    assert res.metrics["cost_kind"] == "table"
    one = NB101Evaluator(t, repeat=2)
    res2 = one.evaluate(t.arch(1))
    assert res2.score == pytest.approx(100 * (0.81 + 0.004 + 0.05), abs=1e-4)
    assert res2.cost_seconds == pytest.approx(120.0)
    assert res2.metrics["signal"] == "val_acc_108_repeat2"
    with pytest.raises(ConfigError):
        NB101Evaluator(t, repeat=3)


def test_evaluator_errors() -> None:
    ev = NB101Evaluator(tiny_table())
    with pytest.raises(ConfigError):
        ev.evaluate(Arch("nb101", (0, 2, 4), ((0, 1, 0), (0, 0, 0), (0, 0, 0))))
    with pytest.raises(ConfigError):
        ev.evaluate(Arch("nb201", (0, 1, 2, 3, 4, 0)))
    missing = NB101Space().make(((0, 1, 0), (0, 0, 1), (0, 0, 0)), (0, 1, 4))
    with pytest.raises(DataError, match=NB101Space().canonical(missing)):
        ev.evaluate(missing)


def test_npz_round_trip(tmp_path: Path) -> None:
    for with_val in (False, True):
        t = tiny_table(with_validation=with_val)
        path = tmp_path / f"t{with_val}.npz"
        t.to_npz(path)
        back = NB101Table.from_npz(path)
        assert back.has_validation == with_val and len(back) == 3
        for name in ("hashes", "adj_bits", "n_vertices", "ops", "test_acc", "trainable_params"):
            assert np.array_equal(getattr(back, name), getattr(t, name)), name
        if with_val:
            assert np.array_equal(back.val_acc, t.val_acc)
            assert np.array_equal(back.train_time, t.train_time)
        else:
            assert np.array_equal(back.flops, t.flops)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tFalse.npz", "tTrue.npz"]


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        NB101Table.from_npz(tmp_path / "nope.npz")
    with pytest.raises(DataError, match="nb101.npz"):
        NB101Table.load(tmp_path)  # empty data dir
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip file")
    with pytest.raises(DataError, match="cannot read"):
        NB101Table.from_npz(garbage)
    t = tiny_table()
    t.to_npz(tmp_path / "ok.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes((tmp_path / "ok.npz").read_bytes()[:200])
    with pytest.raises(DataError):
        NB101Table.from_npz(truncated)
    np.savez(tmp_path / "other.npz", hash=t.hashes)
    with pytest.raises(DataError, match="missing array"):
        NB101Table.from_npz(tmp_path / "other.npz")
    np.savez(
        tmp_path / "unsorted.npz",
        hash=t.hashes[::-1],
        adj_bits=t.adj_bits,
        n_vertices=t.n_vertices,
        ops=t.ops,
        trainable_params=t.trainable_params,
        test_acc_108_seed0=t.test_acc[:, 0],
    )
    with pytest.raises(DataError, match="not sorted"):
        NB101Table.from_npz(tmp_path / "unsorted.npz")
    with pytest.raises(ConfigError):
        NB101Table.load(tmp_path, source="csv")  # type: ignore[arg-type]


def test_load_uses_the_data_dir_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "nasbench").mkdir()
    tiny_table().to_npz(tmp_path / "nasbench" / "nb101.npz")
    monkeypatch.setenv("ECGNAS_DATA_DIR", str(tmp_path))
    t = NB101Table.load()
    assert len(t) == 3 and t.source == str(tmp_path / "nasbench" / "nb101.npz")
    with pytest.raises(DataError, match="tfrecord not found"):
        NB101Table.load(source="tfrecord")
