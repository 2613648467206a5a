"""HW-NAS-Bench hardware costs of the NB201 cells: ``NB201HardwareTable``, ``HardwareCost``,
``ParetoEvaluator``.

The table is ``<data_dir>/nasbench/nb201_hw.csv.gz`` (``nasbench/SOURCE.md`` describes every
column): one row per NB201 official ``index``, columns ``<device>_<metric>_<suffix>`` with
suffix ``c10`` (cifar10 and cifar10-valid), ``c100`` or ``img`` (ImageNet16-120). Units are
HW-NAS-Bench's: latency in ms, energy in mJ. Rows are joined to ``nb201.csv.gz`` on ``index``.

Devices and metrics in the table: edgegpu (latency, energy), raspi4 (latency), edgetpu
(latency), pixel3 (latency), eyeriss (latency, energy), fpga (latency, energy). edgetpu has
no measurement (``-1``) for 4,699 of the 15,625 cells in every dataset, so it cannot serve as
an objective over the whole space: asking for it is a ``ConfigError`` that says so.
"""

from __future__ import annotations

import csv
import gzip
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgnas.benchmarks.nb201_table import N_CELLS, NB201Evaluator, NB201Table
from ecgnas.errors import ConfigError, DataError
from ecgnas.evaluate import Result
from ecgnas.paths import data_dir as resolve_data_dir
from ecgnas.spaces.base import Arch

#: the table's path inside the data directory
NB201_HW_CSV = Path("nasbench") / "nb201_hw.csv.gz"
#: the HW-NAS-Bench devices of the table, in its column order
HW_DEVICES: tuple[str, ...] = ("edgegpu", "raspi4", "edgetpu", "pixel3", "eyeriss", "fpga")
#: devices that lack measurements for part of the space, and why they cannot be an objective
INCOMPLETE_DEVICES: dict[str, str] = {
    "edgetpu": "4,699 of 15,625 cells have no measurement (-1) in HW-NAS-Bench"
}
#: the devices whose cost covers every cell (what ``ecgnas benchmark pareto --hw`` accepts)
OBJECTIVE_DEVICES: tuple[str, ...] = tuple(d for d in HW_DEVICES if d not in INCOMPLETE_DEVICES)
#: cost metrics and their units
HW_METRICS: dict[str, str] = {"latency": "ms", "energy": "mJ"}
#: the column suffix of each NB201 dataset
DATASET_SUFFIX: dict[str, str] = {
    "cifar10": "c10",
    "cifar10-valid": "c10",
    "cifar100": "c100",
    "ImageNet16-120": "img",
}


def hw_column(device: str, metric: str, dataset: str) -> str:
    """``<device>_<metric>_<suffix>``; ``ConfigError`` for an unknown device, metric or dataset."""
    if device not in HW_DEVICES:
        raise ConfigError(f"unknown device {device!r}; known: {', '.join(HW_DEVICES)}")
    if metric not in HW_METRICS:
        raise ConfigError(f"unknown hardware metric {metric!r}; known: {', '.join(HW_METRICS)}")
    if dataset not in DATASET_SUFFIX:
        raise ConfigError(f"unknown NB201 dataset {dataset!r}; known: {', '.join(DATASET_SUFFIX)}")
    return f"{device}_{metric}_{DATASET_SUFFIX[dataset]}"


class NB201HardwareTable:
    """The HW-NAS-Bench csv in memory: ``index`` (int64 ``[15625]``) and its numeric columns
    (name -> float64 ``[15625]``), in the file's row order. ``DataError`` unless ``index`` is
    a permutation of 0..15624."""

    def __init__(
        self, index: np.ndarray, columns: dict[str, np.ndarray], source: str = "<memory>"
    ) -> None:
        self.index = np.asarray(index, dtype=np.int64)
        self.columns = {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}
        self.source = source
        if len(self.index) != N_CELLS or not np.array_equal(
            np.sort(self.index), np.arange(N_CELLS)
        ):
            raise DataError(f"{source}: 'index' is not a permutation of 0..{N_CELLS - 1}")
        for name, col in self.columns.items():
            if col.shape != (N_CELLS,):
                raise DataError(f"{source}: column {name!r} has {len(col)} values")
        #: table row of each official NB201 index
        self.row_of_index = np.empty(N_CELLS, dtype=np.int64)
        self.row_of_index[self.index] = np.arange(N_CELLS)

    @classmethod
    def load(cls, data_dir: str | os.PathLike[str] | None = None) -> NB201HardwareTable:
        """Read ``<data_dir>/nasbench/nb201_hw.csv.gz`` (``DataError`` if missing or malformed)."""
        path = resolve_data_dir(data_dir) / NB201_HW_CSV
        if not path.is_file():
            raise DataError(
                f"HW-NAS-Bench table not found at {path} "
                "(set --data-dir or ECGNAS_DATA_DIR to the folder that holds nasbench/)"
            )
        try:
            with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
                rows = list(csv.reader(fh))
        except (OSError, EOFError, zlib.error, UnicodeDecodeError, csv.Error) as exc:
            raise DataError(f"cannot read {path}: {exc}") from exc
        if not rows or "index" not in rows[0]:
            raise DataError(f"{path}: no header with an 'index' column")
        header, body = rows[0], rows[1:]
        try:
            values = np.array(body, dtype=np.float64)
        except ValueError as exc:
            raise DataError(f"{path}: a value is not a number ({exc})") from exc
        if values.shape != (len(body), len(header)):
            raise DataError(f"{path}: rows of unequal length")
        if not np.isfinite(values).all():
            raise DataError(f"{path}: missing or non-finite values")
        cols = {name: values[:, i] for i, name in enumerate(header)}
        index = cols.pop("index")
        if (index != np.round(index)).any():
            raise DataError(f"{path}: column 'index' must hold whole numbers")
        return cls(index.astype(np.int64), cols, source=str(path))

    def column(self, device: str, metric: str, dataset: str) -> np.ndarray:
        """float64 ``[15625]`` in the file's row order (``ConfigError`` if the table lacks it
        or it has cells without a measurement, i.e. a value <= 0)."""
        name = hw_column(device, metric, dataset)
        if name not in self.columns:
            have = sorted(
                {c.split("_")[1] for c in self.columns if c.startswith(device + "_")}
                & set(HW_METRICS)
            )
            raise ConfigError(
                f"the table has no {metric} for {device}; its metrics: {', '.join(have) or 'none'}"
            )
        values = self.columns[name]
        missing = int((values <= 0).sum())
        if missing:
            raise ConfigError(
                f"{device} {metric}: {missing:,} of {N_CELLS:,} cells have no measurement "
                f"(value <= 0) in HW-NAS-Bench, so it cannot be an objective over the space"
            )
        return values

    def usable(self, dataset: str = "cifar10") -> dict[str, tuple[str, ...]]:
        """device -> the metrics that are complete for ``dataset`` (what ``--hw`` can use)."""
        out: dict[str, tuple[str, ...]] = {}
        for device in HW_DEVICES:
            metrics = tuple(
                m
                for m in HW_METRICS
                if hw_column(device, m, dataset) in self.columns
                and (self.columns[hw_column(device, m, dataset)] > 0).all()
            )
            if metrics:
                out[device] = metrics
        return out


@dataclass(frozen=True)
class HardwareCost:
    """The cost objective: one device metric of every NB201 cell (a ``CostFunction``).

    ``by_row`` is float64 ``[15625]`` in ``nb201.csv.gz`` row order (joined on ``index``);
    calling it with archs returns their costs (``ConfigError`` for a non-NB201 arch).
    """

    table: NB201Table
    by_row: np.ndarray
    name: str
    unit: str
    device: str
    metric: str

    @classmethod
    def build(
        cls,
        table: NB201Table,
        hw: NB201HardwareTable,
        dataset: str,
        device: str,
        metric: str = "latency",
    ) -> HardwareCost:
        values = hw.column(device, metric, dataset)
        by_row = values[hw.row_of_index[table.index]]
        return cls(
            table, by_row, hw_column(device, metric, dataset), HW_METRICS[metric], device, metric
        )

    def __call__(self, archs: Sequence[Arch]) -> np.ndarray:
        if len(archs) == 0:
            return np.zeros(0, dtype=np.float64)
        out: np.ndarray = self.by_row[self.table.rows_of(archs)]
        return out

    def values(self) -> np.ndarray:
        """float64 ``[15625]`` in ``NB201Space().enumerate()`` order (as ``NB201Table.values``)."""
        out: np.ndarray = self.by_row[self.table.row_of_code]
        return out

    @property
    def max(self) -> float:
        return float(self.by_row.max())


class ParetoEvaluator:
    """``NB201Evaluator`` whose ``Result.metrics`` also carry the cell's cost: ``cost`` (the
    value), ``cost_name`` (the column) and ``cost_unit``. Score and budget cost unchanged."""

    def __init__(self, inner: NB201Evaluator, cost: HardwareCost) -> None:
        self.inner = inner
        self.cost = cost
        self.space = inner.space
        self.dataset = inner.dataset

    def evaluate(self, arch: Arch) -> Result:
        result = self.inner.evaluate(arch)
        metrics = dict(result.metrics)
        metrics["cost"] = float(self.cost([arch])[0])
        metrics["cost_name"] = self.cost.name
        metrics["cost_unit"] = self.cost.unit
        return Result(result.score, result.cost_seconds, metrics)
