"""The pareto benchmark: the hypervolume and its reference point, paired runs on the real
NB201 + HW-NAS-Bench tables, the record of a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgnas.benchmarks.pareto_bench import (
    REFERENCE_FACTOR,
    ParetoConfig,
    front_of,
    hv_curve,
    load_pareto,
    normalised_hv,
    run_pareto,
)
from ecgnas.errors import ConfigError


def test_normalised_hypervolume_by_hand() -> None:
    # reference (0 %, 10): (50 %, 5) covers 0.5 x 0.5; adding (80 %, 8) adds 0.3 x 0.2
    assert normalised_hv([50.0], [5.0], 10.0) == pytest.approx(0.25)
    assert normalised_hv([50.0, 80.0], [5.0, 8.0], 10.0) == pytest.approx(0.25 + 0.06)
    assert normalised_hv([50.0, 80.0, 40.0], [5.0, 8.0, 6.0], 10.0) == pytest.approx(0.31)
    assert normalised_hv([], [], 10.0) == 0.0
    assert normalised_hv([100.0], [0.0], 10.0) == pytest.approx(1.0)


def test_front_of_sorts_the_non_dominated_by_cost() -> None:
    acc = np.array([80.0, 50.0, 40.0, 90.0, 50.0])
    cost = np.array([8.0, 5.0, 6.0, 9.0, 4.0])
    assert front_of(acc, cost).tolist() == [4, 0, 3]
    assert hv_curve(np.array([10.0] * 12), np.ones(12), 2.0) == [0.05, 0.05, 0.05]


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        ParetoConfig(device="tpu", methods=("random",), seeds=(0,))
    with pytest.raises(ConfigError, match="edgetpu' cannot be an objective"):
        ParetoConfig(device="edgetpu", methods=("random",), seeds=(0,))
    with pytest.raises(ConfigError, match="unknown methods \\['rea'\\]"):
        ParetoConfig(device="fpga", methods=("rea",), seeds=(0,))
    with pytest.raises(ConfigError, match="nb201 only"):
        ParetoConfig(device="fpga", methods=("random",), seeds=(0,), benchmark="nb101")
    with pytest.raises(ConfigError, match="metric"):
        ParetoConfig(device="fpga", methods=("random",), seeds=(0,), metric="power")
    with pytest.raises(ConfigError, match="seed"):
        ParetoConfig(device="fpga", methods=("random",), seeds=())


@pytest.mark.realdata
def test_reference_point_and_the_table_front(nasbench_dir: Path) -> None:
    config = ParetoConfig(
        device="edgegpu", methods=("random",), seeds=(0,), data_dir=str(nasbench_dir.parent)
    )
    evaluator, cost, ref = load_pareto(config)
    assert ref.cost_max == pytest.approx(11.6927)
    assert ref.cost_ref == pytest.approx(REFERENCE_FACTOR * 11.6927)
    assert (ref.signal_name, ref.test_name) == ("c10valid_val_acc", "c10_test_acc")
    # the front starts at the cheapest cell and ends at the most accurate one (91.61 %)
    front = np.array(ref.optimal_front_signal)
    assert front[0, 1] == pytest.approx(cost.values().min())
    assert front[-1, 0] == pytest.approx(91.6067, abs=1e-3)
    assert (np.diff(front[:, 0]) > 0).all() and (np.diff(front[:, 1]) > 0).all()
    assert ref.optimal_hv_signal == pytest.approx(
        normalised_hv(front[:, 0], front[:, 1], ref.cost_ref), abs=1e-6
    )
    # no set of cells beats the whole table
    table = evaluator.inner.table
    acc = table.values("cifar10", "signal")
    rng = np.random.default_rng(0)
    pick = rng.choice(len(acc), 500, replace=False)
    assert normalised_hv(acc[pick], cost.values()[pick], ref.cost_ref) < ref.optimal_hv_signal


@pytest.mark.realdata
def test_runs_are_paired_and_recorded_from_the_evaluations(nasbench_dir: Path) -> None:
    config = ParetoConfig(
        device="raspi4",
        methods=("dcl_mo", "nsga2", "random"),
        seeds=(0, 1),
        budget=30,
        data_dir=str(nasbench_dir.parent),
        method_settings={
            "dcl_mo": {"n_init": 10, "population": 10, "offspring": 30, "t_gap": 2}
            | {"n_infill": 5},
        },
    )
    evaluator, cost, ref = load_pareto(config)
    records = run_pareto(config)
    assert [(r.method, r.seed) for r in records] == [
        ("dcl_mo", 0), ("dcl_mo", 1), ("nsga2", 0), ("nsga2", 1), ("random", 0), ("random", 1),
    ]  # fmt: skip
    table = evaluator.inner.table
    for r in records:
        assert r.n_evals == 30 and len(r.indices) == len(set(r.indices)) == 30  # no repeats
        archs = [table.arch_of_index(i) for i in r.indices]
        signal = np.array([evaluator.evaluate(a).score for a in archs])
        test = np.array([evaluator.evaluate(a).metrics["test_acc"] for a in archs])
        c = cost(archs)
        assert r.hv_signal == pytest.approx(normalised_hv(signal, c, ref.cost_ref))
        assert r.hv_test == pytest.approx(normalised_hv(test, c, ref.cost_ref))
        assert 0 < r.hv_signal < ref.optimal_hv_signal
        # the front: evaluated archs, their numbers, no evaluated arch dominates one of them
        front = np.array(r.front)
        assert set(front[:, 3].astype(int)) <= set(r.indices)
        at = [r.indices.index(int(i)) for i in front[:, 3]]
        assert front[:, 0] == pytest.approx(signal[at]) and front[:, 2] == pytest.approx(c[at])
        for acc, cst in front[:, [0, 2]]:
            assert not ((signal >= acc) & (c <= cst) & ((signal > acc) | (c < cst))).any()
        assert normalised_hv(front[:, 0], front[:, 2], ref.cost_ref) == pytest.approx(r.hv_signal)
        assert r.hv_curve[-1] == pytest.approx(r.hv_signal, abs=1e-6)
        assert r.hv_curve == sorted(r.hv_curve)  # adding archs never loses area
    by = {(r.method, r.seed): r for r in records}
    for seed in (0, 1):  # the first ten archs are the same initial sample in every method
        first = {m: by[(m, seed)].indices[:10] for m in config.methods}
        assert first["dcl_mo"] == first["nsga2"] == first["random"]
