"""HW-NAS-Bench costs of the NB201 cells: the table, the join on ``index``, the evaluator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgnas.benchmarks.nb201_hw import (
    HW_DEVICES,
    OBJECTIVE_DEVICES,
    HardwareCost,
    NB201HardwareTable,
    ParetoEvaluator,
    hw_column,
)
from ecgnas.benchmarks.nb201_table import N_CELLS, NB201Evaluator, NB201Table
from ecgnas.errors import ConfigError, DataError


def test_column_names_and_errors() -> None:
    assert hw_column("edgegpu", "latency", "cifar10") == "edgegpu_latency_c10"
    assert hw_column("fpga", "energy", "ImageNet16-120") == "fpga_energy_img"
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        hw_column("tpu", "latency", "cifar10")
    with pytest.raises(ConfigError, match="unknown hardware metric"):
        hw_column("fpga", "power", "cifar10")
    with pytest.raises(ConfigError, match="unknown NB201 dataset"):
        hw_column("fpga", "latency", "svhn")


def test_a_table_whose_index_is_not_a_permutation_is_refused(tmp_path: Path) -> None:
    index = np.arange(N_CELLS)
    index[5] = 4
    with pytest.raises(DataError, match="permutation"):
        NB201HardwareTable(index, {"x": np.ones(N_CELLS)})
    with pytest.raises(DataError, match="not found"):
        NB201HardwareTable.load(tmp_path)


@pytest.fixture(scope="module")
def tables(nasbench_dir: Path) -> tuple[NB201Table, NB201HardwareTable]:
    return NB201Table.load(nasbench_dir.parent), NB201HardwareTable.load(nasbench_dir.parent)


@pytest.mark.realdata
def test_the_join_on_index_reads_the_right_rows(
    tables: tuple[NB201Table, NB201HardwareTable],
) -> None:
    table, hw = tables
    cost = HardwareCost.build(table, hw, "cifar10", "edgegpu")
    assert (cost.name, cost.unit) == ("edgegpu_latency_c10", "ms")
    # the first two rows of nb201_hw.csv.gz (official indices 0 and 1)
    a0, a1 = table.arch_of_index(0), table.arch_of_index(1)
    assert cost([a0, a1]) == pytest.approx([5.807419, 6.547689])
    energy = HardwareCost.build(table, hw, "ImageNet16-120", "fpga", "energy")
    assert energy([a1]) == pytest.approx([13.1488])
    assert cost.max == pytest.approx(11.6927)
    values = cost.values()
    assert values.shape == (N_CELLS,) and (values > 0).all()
    arch = table.space.enumerate()[1234]
    assert values[1234] == pytest.approx(cost([arch])[0])
    assert len(cost([])) == 0


@pytest.mark.realdata
def test_devices_without_a_complete_column_are_refused(
    tables: tuple[NB201Table, NB201HardwareTable],
) -> None:
    table, hw = tables
    usable = hw.usable("cifar10")
    assert tuple(usable) == OBJECTIVE_DEVICES == tuple(d for d in HW_DEVICES if d != "edgetpu")
    assert usable["edgegpu"] == ("latency", "energy") and usable["raspi4"] == ("latency",)
    with pytest.raises(ConfigError, match="4,699 of 15,625 cells have no measurement"):
        HardwareCost.build(table, hw, "cifar10", "edgetpu")
    with pytest.raises(ConfigError, match="no energy for raspi4; its metrics: latency"):
        HardwareCost.build(table, hw, "cifar10", "raspi4", "energy")


@pytest.mark.realdata
def test_pareto_evaluator_adds_the_cost_and_keeps_the_rest(
    tables: tuple[NB201Table, NB201HardwareTable],
) -> None:
    table, hw = tables
    inner = NB201Evaluator(table, "cifar10")
    cost = HardwareCost.build(table, hw, "cifar10", "raspi4")
    evaluator = ParetoEvaluator(inner, cost)
    arch = table.arch_of_index(1)
    plain, with_cost = inner.evaluate(arch), evaluator.evaluate(arch)
    assert with_cost.score == plain.score and with_cost.cost_seconds == plain.cost_seconds
    assert with_cost.metrics["cost"] == pytest.approx(54.777398)
    assert with_cost.metrics["cost_name"] == "raspi4_latency_c10"
    assert {k: v for k, v in with_cost.metrics.items() if not k.startswith("cost")} == {
        k: v for k, v in plain.metrics.items() if not k.startswith("cost")
    }
    assert evaluator.space is inner.space
