"""``NB201Table`` and ``NB201Evaluator`` on the real ``nb201.csv.gz``, and its failure modes."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from ecgnas.benchmarks.nb201_table import (
    DATASET_NAMES,
    PROXY_MACS_PER_SECOND,
    NB201Evaluator,
    NB201Table,
)
from ecgnas.errors import ConfigError, DataError
from ecgnas.evaluate import Evaluator
from ecgnas.spaces.base import Arch
from ecgnas.spaces.nb201 import NB201Space

SIGNALS = {
    "cifar10-valid": ("c10valid_val_acc", 200, "c10valid_test_acc"),
    "cifar10": ("c10valid_val_acc", 200, "c10_test_acc"),
    "cifar100": ("c100_val_acc_12ep", 12, "c100_test_acc"),
    "ImageNet16-120": ("img_val_acc_12ep", 12, "img_test_acc"),
}


@pytest.fixture(scope="module")
def table(nasbench_dir: Path) -> NB201Table:
    return NB201Table.load(nasbench_dir.parent)


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return NB201Space()


def test_enumeration_is_a_bijection_onto_the_rows(table: NB201Table, space: NB201Space) -> None:
    archs = space.enumerate()
    assert len(archs) == 15_625
    rows = table.rows_of(archs)
    assert np.array_equal(np.sort(rows), np.arange(15_625))
    # and each row's op columns are the cell that maps to it
    assert np.array_equal(table.ops[rows], space.ops_array(archs))


def test_published_optima(table: NB201Table) -> None:
    best = table.best_test("cifar10")
    assert round(best.test_acc, 2) == 94.37
    assert best.index == 6111
    assert table.index_of(best.arch) == 6111
    assert NB201Space().to_string(best.arch) == (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
        "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    )
    assert round(table.best_test("cifar100").test_acc, 2) == 73.51
    assert round(table.best_test("ImageNet16-120").test_acc, 2) == 47.31
    by_signal = table.best_by_signal("cifar10-valid")
    assert round(by_signal.signal, 2) == 91.61
    assert by_signal.test_acc == table.entry(by_signal.arch, "cifar10-valid").test_acc


@pytest.mark.parametrize("dataset", DATASET_NAMES)
def test_evaluator_separates_signal_and_reported_accuracy(
    table: NB201Table, space: NB201Space, dataset: str
) -> None:
    signal_col, epochs, test_col = SIGNALS[dataset]
    ev = NB201Evaluator(table, dataset)
    assert isinstance(ev, Evaluator)
    rng = np.random.default_rng(0)
    for _ in range(50):
        arch = space.sample(rng)
        row = table.row_of(arch)
        res = ev.evaluate(arch)
        assert res.score == table.columns[signal_col][row]
        assert res.metrics["test_acc"] == table.columns[test_col][row]
        assert res.metrics["signal"] == signal_col
        assert res.metrics["signal_epochs"] == epochs
        assert res.metrics["test_column"] == test_col
        assert res.metrics["cost_kind"] == "proxy:flops"
        assert res.metrics["dataset"] == dataset
        assert table.arch_of_index(int(res.metrics["index"])) == arch
        assert res.cost_seconds > 0
        assert ev.evaluate(arch) == res  # the same cell always costs the same


def test_signal_and_test_columns_differ(table: NB201Table) -> None:
    for dataset in DATASET_NAMES:
        signal = table.values(dataset, "signal")
        test = table.values(dataset, "test")
        assert not np.array_equal(signal, test)
    # cifar10 and cifar10-valid search on the same signal but report different tests
    assert np.array_equal(
        table.values("cifar10", "signal"), table.values("cifar10-valid", "signal")
    )
    assert not np.array_equal(
        table.values("cifar10", "test"), table.values("cifar10-valid", "test")
    )


def test_cost_proxy_formula(table: NB201Table, space: NB201Space) -> None:
    # official index 0: flops_M_c10 = 15.64737 (the NB201 API's cost_info value)
    arch0 = table.arch_of_index(0)
    expected = 15.64737e6 * 25_000 * 200 / PROXY_MACS_PER_SECOND
    assert NB201Evaluator(table, "cifar10-valid").evaluate(arch0).cost_seconds == pytest.approx(
        expected
    )
    # cost is proportional to FLOPs within a dataset
    cost = table.values("cifar100", "cost")
    flops = table.values("cifar100", "flops")
    assert np.allclose(cost / flops, cost[0] / flops[0])
    # 12-epoch signals cost 12 epochs
    c100 = NB201Evaluator(table, "cifar100").evaluate(arch0)
    assert c100.cost_seconds == pytest.approx(15.65322e6 * 50_000 * 12 / PROXY_MACS_PER_SECOND)


def test_values_are_in_enumeration_order(table: NB201Table, space: NB201Space) -> None:
    archs = space.enumerate()
    ev = NB201Evaluator(table, "ImageNet16-120")
    signal = table.values("ImageNet16-120", "signal")
    test = table.values("ImageNet16-120", "test")
    params = table.values("ImageNet16-120", "params")
    assert signal.shape == test.shape == params.shape == (15_625,)
    for i in np.random.default_rng(1).choice(15_625, 200, replace=False):
        res = ev.evaluate(archs[i])
        assert (signal[i], test[i]) == (res.score, res.metrics["test_acc"])
        assert params[i] == table.columns["params_M_img"][table.row_of(archs[i])]


def test_bad_requests_are_config_errors(table: NB201Table) -> None:
    with pytest.raises(ConfigError, match="known: cifar10-valid, cifar10, cifar100"):
        NB201Evaluator(table, "mnist")
    with pytest.raises(ConfigError, match="unknown value"):
        table.values("cifar10", "latency")
    ev = NB201Evaluator(table, "cifar10")
    with pytest.raises(ConfigError, match="not an NB201 cell"):
        ev.evaluate(Arch("ecg1d", (1,) * 6))
    with pytest.raises(ConfigError, match="not an NB201 cell"):
        ev.evaluate(Arch("nb201", (5,) * 6))
    with pytest.raises(ConfigError):
        table.arch_of_index(15_625)


# --- loading failures ----------------------------------------------------------------------------


def _write_table(root: Path, lines: list[str]) -> Path:
    path = root / "nasbench" / "nb201.csv.gz"
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt", newline="") as fh:
        fh.write("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def real_lines(nasbench_dir: Path) -> list[str]:
    with gzip.open(nasbench_dir / "nb201.csv.gz", "rt", newline="") as fh:
        return fh.read().splitlines()


def test_missing_table_is_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="NAS-Bench-201 table not found at .*nb201.csv.gz"):
        NB201Table.load(tmp_path)


def test_not_gzip_is_data_error(tmp_path: Path) -> None:
    (tmp_path / "nasbench").mkdir()
    (tmp_path / "nasbench" / "nb201.csv.gz").write_text("index,arch_str\n0,x\n")
    with pytest.raises(DataError, match="cannot read"):
        NB201Table.load(tmp_path)


def test_truncated_table_is_data_error(tmp_path: Path, real_lines: list[str]) -> None:
    with pytest.raises(DataError, match="100 rows, expected 15625"):
        NB201Table.load(_write_table(tmp_path, real_lines[:101]))


def test_missing_column_is_data_error(tmp_path: Path, real_lines: list[str]) -> None:
    lines = [line.replace("c100_test_acc,", "c100_test_accuracy,", 1) for line in real_lines[:3]]
    with pytest.raises(DataError, match="missing columns.*c100_test_acc"):
        NB201Table.load(_write_table(tmp_path, lines))


def test_non_numeric_value_is_data_error(tmp_path: Path, real_lines: list[str]) -> None:
    lines = list(real_lines)
    fields = lines[5].split(",")
    fields[-1] = "n/a"
    lines[5] = ",".join(fields)
    with pytest.raises(
        DataError, match="line 6: column 'flopsNASLib_M_img' is not a number: 'n/a'"
    ):
        NB201Table.load(_write_table(tmp_path, lines))


def test_duplicate_cell_is_data_error(tmp_path: Path, real_lines: list[str]) -> None:
    lines = list(real_lines)
    # give row 2 the ops of row 1 (cells are found by e0..e5, not by the string)
    head = lines[1].split(",")
    fields = lines[2].split(",")
    fields[2:8] = head[2:8]
    lines[2] = ",".join(fields)
    with pytest.raises(DataError, match="has 2 rows, 1 cells have none"):
        NB201Table.load(_write_table(tmp_path, lines))
