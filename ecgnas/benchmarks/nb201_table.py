"""NAS-Bench-201 as a lookup table: ``NB201Table`` (the csv) and ``NB201Evaluator``.

The table is ``<data_dir>/nasbench/nb201.csv.gz`` (one row per cell, 15,625 rows; see
``nasbench/SOURCE.md`` beside it for every column). Cells are matched to rows by the op
columns ``e0..e5``, never by the official ``index``, which is the API's storage order and not
a function of the ops.

Datasets, search signal and reported accuracy (all accuracies in percent)
------------------------------------------------------------------------
============== ============================ ================== =======================
dataset        search signal (``score``)    signal epochs      reported (``test_acc``)
============== ============================ ================== =======================
cifar10-valid  ``c10valid_val_acc``         200                ``c10valid_test_acc``
cifar10        ``c10valid_val_acc``         200                ``c10_test_acc``
cifar100       ``c100_val_acc_12ep``        12                 ``c100_test_acc``
ImageNet16-120 ``img_val_acc_12ep``         12                 ``img_test_acc``
============== ============================ ================== =======================

``cifar10`` searches on the cifar10-valid validation split (trained on its 25k-image train
split), as is standard, and reports the test accuracy of the same cell trained on all 50k
images. The table has no 200-epoch validation accuracy for cifar100 and ImageNet16-120, so
their signal is the validation accuracy after NB201's 12-epoch schedule; every ``Result``
names its signal column and its epochs. The reported accuracy is never the signal.

Cost (``cost_kind = "proxy:flops"``)
-----------------------------------
The table has no training times, so an evaluation charges a proxy: the time to run the
signal's training schedule at a fixed effective throughput,

    cost_seconds = flops_M * 1e6 * train_images * signal_epochs / PROXY_MACS_PER_SECOND

with ``flops_M`` the table's forward MACs per image for the dataset, ``train_images`` the size
of the training split behind the signal (cifar10-valid 25,000; cifar100 50,000;
ImageNet16-120 151,700) and ``PROXY_MACS_PER_SECOND = 1e11`` forward MACs per second (a
training step costs about three forward passes, so this is ~0.6 TFLOP/s of arithmetic, a
plausible effective rate for these small networks on one 2019-era GPU). It gives the median
cell 39 min for 200 cifar10-valid epochs (3.1 h for the largest, 6.5 min for the smallest).
It is a scale for simulated device-day budgets, not a measurement: real NB201 epochs also
carry a fixed overhead (NATS-Bench lists about 10 s per epoch even for 12-MFLOP cells), which
this proxy leaves out, so it under-charges small cells relative to large ones. The cost of a
cell is the same at every evaluation.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgnas.errors import ConfigError, DataError
from ecgnas.evaluate import DelayedEvaluator, DirLike, Evaluator, EvaluatorSpec, Result
from ecgnas.paths import data_dir as resolve_data_dir
from ecgnas.spaces.base import Arch
from ecgnas.spaces.cell import N_EDGES
from ecgnas.spaces.nb201 import NB201Space

#: the table's path inside the data directory
NB201_CSV = Path("nasbench") / "nb201.csv.gz"
#: cells in NAS-Bench-201 (5 ops on 6 edges)
N_CELLS = 5**N_EDGES
#: effective training throughput of the cost proxy, in forward multiply-accumulates per second
PROXY_MACS_PER_SECOND = 1e11
COST_KIND = "proxy:flops"
OP_COLUMNS: tuple[str, ...] = tuple(f"e{i}" for i in range(N_EDGES))


@dataclass(frozen=True)
class NB201Dataset:
    """Which columns one NB201 dataset reads (see the module docstring)."""

    name: str
    signal_column: str
    signal_epochs: int
    test_column: str
    flops_column: str
    params_column: str
    train_images: int


DATASETS: dict[str, NB201Dataset] = {
    "cifar10-valid": NB201Dataset(
        "cifar10-valid",
        "c10valid_val_acc",
        200,
        "c10valid_test_acc",
        "flops_M_c10",
        "params_M_c10",
        25_000,
    ),
    "cifar10": NB201Dataset(
        "cifar10", "c10valid_val_acc", 200, "c10_test_acc", "flops_M_c10", "params_M_c10", 25_000
    ),
    "cifar100": NB201Dataset(
        "cifar100",
        "c100_val_acc_12ep",
        12,
        "c100_test_acc",
        "flops_M_c100",
        "params_M_c100",
        50_000,
    ),
    "ImageNet16-120": NB201Dataset(
        "ImageNet16-120",
        "img_val_acc_12ep",
        12,
        "img_test_acc",
        "flops_M_img",
        "params_M_img",
        151_700,
    ),
}
DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)
#: numeric columns the evaluator needs
REQUIRED_COLUMNS: tuple[str, ...] = tuple(
    sorted(
        {
            col
            for d in DATASETS.values()
            for col in (d.signal_column, d.test_column, d.flops_column, d.params_column)
        }
    )
)


def get_dataset(name: str) -> NB201Dataset:
    """The dataset called ``name``; ``ConfigError`` listing the known ones otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown NB201 dataset {name!r}; known: {', '.join(DATASET_NAMES)}"
        ) from None


@dataclass(frozen=True)
class TableEntry:
    """One cell's numbers for one dataset: ``signal`` and ``test_acc`` in percent."""

    arch: Arch
    index: int
    signal: float
    test_acc: float
    cost_seconds: float


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == ""
    return True


class NB201Table:
    """The NB201 csv in memory, with a cell -> row lookup.

    Build it with ``NB201Table.load``. ``index`` (official index), ``ops`` (``[15625, 6]``
    op codes) and ``columns`` (name -> float64 array) are in the file's row order; ``values``
    gives arrays in the space's enumeration order (``NB201Space().enumerate()``, op code
    order). Construction checks that every cell of the space has exactly one row and that
    ``arch_str`` agrees with ``e0..e5`` (``DataError`` otherwise).
    """

    def __init__(
        self,
        index: np.ndarray,
        ops: np.ndarray,
        arch_str: Sequence[str],
        columns: dict[str, np.ndarray],
        source: str = "<memory>",
    ) -> None:
        self.space = NB201Space()
        self.source = source
        self.index = np.asarray(index, dtype=np.int64)
        self.ops = np.asarray(ops, dtype=np.int64)
        self.columns = {name: np.asarray(v, dtype=np.float64) for name, v in columns.items()}
        self._check(arch_str)
        powers = self.space.n_ops ** np.arange(N_EDGES - 1, -1, -1, dtype=np.int64)
        self._powers = powers
        row_of_code = np.full(N_CELLS, -1, dtype=np.int64)
        row_of_code[self.ops @ powers] = np.arange(N_CELLS)
        #: row of each cell, indexed by the base-5 number of its ops (edge 0 most significant)
        self.row_of_code = row_of_code

    def _check(self, arch_str: Sequence[str]) -> None:
        where = f"{self.source}"
        n = len(self.index)
        if n != N_CELLS:
            raise DataError(f"{where}: {n} rows, expected {N_CELLS} (one per NB201 cell)")
        if self.ops.shape != (N_CELLS, N_EDGES):
            raise DataError(f"{where}: op columns have shape {self.ops.shape}")
        if self.ops.min() < 0 or self.ops.max() >= self.space.n_ops:
            raise DataError(f"{where}: op codes outside 0..{self.space.n_ops - 1}")
        if not np.array_equal(np.sort(self.index), np.arange(N_CELLS)):
            raise DataError(f"{where}: 'index' is not a permutation of 0..{N_CELLS - 1}")
        missing = [c for c in REQUIRED_COLUMNS if c not in self.columns]
        if missing:
            raise DataError(f"{where}: missing columns {missing}")
        for name in REQUIRED_COLUMNS:
            col = self.columns[name]
            if col.shape != (N_CELLS,) or not np.isfinite(col).all():
                raise DataError(f"{where}: column {name!r} has missing or non-finite values")
        codes = self.ops @ (self.space.n_ops ** np.arange(N_EDGES - 1, -1, -1))
        counts = np.bincount(codes, minlength=N_CELLS)
        if (counts != 1).any():
            dup = int(np.flatnonzero(counts > 1)[0])
            raise DataError(
                f"{where}: cell {self._arch_of_code(dup).ops} has {counts[dup]} rows, "
                f"{int((counts == 0).sum())} cells have none"
            )
        for row, text in enumerate(arch_str):
            expected = self.space.to_string(Arch(self.space.name, tuple(self.ops[row].tolist())))
            if text != expected:
                raise DataError(
                    f"{where}: row {row}: arch_str {text!r} disagrees with e0..e5 ({expected!r})"
                )

    # --- loading ----------------------------------------------------------------------
    @classmethod
    def load(cls, data_dir: str | os.PathLike[str] | None = None) -> NB201Table:
        """Read ``<data_dir>/nasbench/nb201.csv.gz`` (data dir resolved by ``ecgnas.paths``).

        ``DataError`` if the file is missing, not gzip'd csv, lacks a column, has a
        non-numeric or missing value, or does not hold exactly one row per cell.
        """
        path = resolve_data_dir(data_dir) / NB201_CSV
        if not path.is_file():
            raise DataError(
                f"NAS-Bench-201 table not found at {path} "
                "(set --data-dir or ECGNAS_DATA_DIR to the folder that holds nasbench/)"
            )
        try:
            with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                header = next(reader, None)
                body = list(reader)
        except (OSError, EOFError, zlib.error, UnicodeDecodeError, csv.Error) as exc:
            raise DataError(f"cannot read {path}: {exc}") from exc
        if not header:
            raise DataError(f"{path}: empty file")
        needed = ("index", "arch_str", *OP_COLUMNS, *REQUIRED_COLUMNS)
        missing = [c for c in needed if c not in header]
        if missing:
            raise DataError(f"{path}: missing columns {missing}")
        pos = {name: i for i, name in enumerate(header)}
        numeric = [c for c in header if c != "arch_str"]
        values = np.empty((len(body), len(numeric)), dtype=np.float64)
        for r, row in enumerate(body):
            if len(row) != len(header):
                raise DataError(f"{path}: line {r + 2} has {len(row)} fields, not {len(header)}")
            try:
                values[r] = [float(row[pos[c]]) if row[pos[c]] != "" else math.nan for c in numeric]
            except ValueError as exc:
                bad = next(c for c in numeric if not _is_number(row[pos[c]]))
                raise DataError(
                    f"{path}: line {r + 2}: column {bad!r} is not a number: {row[pos[bad]]!r}"
                ) from exc
        col = {name: values[:, i] for i, name in enumerate(numeric)}
        for name in ("index", *OP_COLUMNS):
            if not np.isfinite(col[name]).all() or (col[name] != np.round(col[name])).any():
                raise DataError(f"{path}: column {name!r} must hold whole numbers")
        ops = np.stack([col[c] for c in OP_COLUMNS], axis=1).astype(np.int64)
        arch_str = [row[pos["arch_str"]] for row in body]
        others = {k: v for k, v in col.items() if k not in ("index", *OP_COLUMNS)}
        return cls(col["index"].astype(np.int64), ops, arch_str, others, source=str(path))

    # --- lookups ----------------------------------------------------------------------
    def _arch_of_code(self, code: int) -> Arch:
        digits = (code // self.space.n_ops ** np.arange(N_EDGES - 1, -1, -1)) % self.space.n_ops
        return Arch(self.space.name, tuple(int(d) for d in digits))

    def rows_of(self, archs: Sequence[Arch]) -> np.ndarray:
        """Table rows of ``archs`` (int64); ``ConfigError`` if one is not an NB201 cell."""
        for arch in archs:
            if not self.space.is_valid(arch):
                raise ConfigError(f"not an NB201 cell: {arch.to_json()}")
        return self.row_of_code[self.space.ops_array(archs) @ self._powers]

    def row_of(self, arch: Arch) -> int:
        """Table row of one cell."""
        return int(self.rows_of([arch])[0])

    def index_of(self, arch: Arch) -> int:
        """The official NB201 index of a cell."""
        return int(self.index[self.row_of(arch)])

    def arch_of_index(self, index: int) -> Arch:
        """The cell with official index ``index`` (``ConfigError`` if out of range)."""
        if not 0 <= index < N_CELLS:
            raise ConfigError(f"NB201 index {index} outside 0..{N_CELLS - 1}")
        row = int(np.flatnonzero(self.index == index)[0])
        return Arch(self.space.name, tuple(int(o) for o in self.ops[row]))

    def cost_column(self, dataset: str) -> np.ndarray:
        """Proxy cost in seconds per row (file order); see the module docstring."""
        d = get_dataset(dataset)
        macs = self.columns[d.flops_column] * 1e6
        return macs * d.train_images * d.signal_epochs / PROXY_MACS_PER_SECOND

    def _by_row(self, dataset: str, which: str) -> np.ndarray:
        d = get_dataset(dataset)
        if which == "signal":
            return self.columns[d.signal_column]
        if which == "test":
            return self.columns[d.test_column]
        if which == "cost":
            return self.cost_column(dataset)
        if which == "flops":
            return self.columns[d.flops_column]
        if which == "params":
            return self.columns[d.params_column]
        raise ConfigError(f"unknown value {which!r}; known: signal, test, cost, flops, params")

    def values(self, dataset: str, which: str) -> np.ndarray:
        """float64 ``[15625]`` in ``NB201Space().enumerate()`` order.

        ``which``: ``"signal"`` (search signal, %), ``"test"`` (reported accuracy, %),
        ``"cost"`` (proxy seconds), ``"flops"`` (MFLOPs, NB201 convention) or ``"params"``
        (millions).
        """
        return self._by_row(dataset, which)[self.row_of_code]

    def entry(self, arch: Arch, dataset: str) -> TableEntry:
        """All numbers of one cell for ``dataset``."""
        d = get_dataset(dataset)
        row = self.row_of(arch)
        return TableEntry(
            arch=arch,
            index=int(self.index[row]),
            signal=float(self.columns[d.signal_column][row]),
            test_acc=float(self.columns[d.test_column][row]),
            cost_seconds=float(self.cost_column(dataset)[row]),
        )

    def _entry_of_row(self, row: int, dataset: str) -> TableEntry:
        arch = Arch(self.space.name, tuple(int(o) for o in self.ops[row]))
        return self.entry(arch, dataset)

    def best_test(self, dataset: str) -> TableEntry:
        """The cell with the highest reported (test) accuracy: the oracle a search can reach.

        Ties go to the lowest table row.
        """
        return self._entry_of_row(int(np.argmax(self._by_row(dataset, "test"))), dataset)

    def best_by_signal(self, dataset: str) -> TableEntry:
        """The cell the search signal ranks first, with its test accuracy (ties: lowest row)."""
        return self._entry_of_row(int(np.argmax(self._by_row(dataset, "signal"))), dataset)


class NB201Evaluator:
    """``Evaluator`` for NB201 on one dataset: a table lookup, no training.

    ``evaluate(arch)`` returns ``Result(score=signal %, cost_seconds=proxy)`` with metrics
    ``dataset``, ``signal`` (column name), ``signal_epochs``, ``test_acc``, ``test_column``,
    ``index`` (official), ``flops_M``, ``cost_kind`` (``"proxy:flops"``).
    """

    def __init__(self, table: NB201Table, dataset: str = "cifar10-valid") -> None:
        self.table = table
        self.dataset = get_dataset(dataset)
        self.space = table.space
        self._cost = table.cost_column(dataset)

    def evaluate(self, arch: Arch) -> Result:
        """Look ``arch`` up; ``ConfigError`` if it is not an NB201 cell."""
        d = self.dataset
        row = self.table.row_of(arch)
        cols = self.table.columns
        return Result(
            score=float(cols[d.signal_column][row]),
            cost_seconds=float(self._cost[row]),
            metrics={
                "dataset": d.name,
                "signal": d.signal_column,
                "signal_epochs": d.signal_epochs,
                "test_acc": float(cols[d.test_column][row]),
                "test_column": d.test_column,
                "index": int(self.table.index[row]),
                "flops_M": float(cols[d.flops_column][row]),
                "cost_kind": COST_KIND,
            },
        )


def build_nb201_evaluator(
    spec: EvaluatorSpec, data_dir: DirLike = None, cache_dir: DirLike = None
) -> Evaluator:
    """The evaluator of an ``nb201_spec`` (``EvaluatorFactory``; ``cache_dir`` is unused):
    the table from ``data_dir``, else the spec's ``data_dir``, else the default."""
    table = NB201Table.load(data_dir if data_dir is not None else spec.get("data_dir"))
    inner = NB201Evaluator(table, str(spec.get("dataset", "cifar10-valid")))
    delay = float(spec.get("delay_s", 0.0))
    return DelayedEvaluator(inner, delay) if delay else inner


def nb201_spec(
    dataset: str = "cifar10-valid", delay_s: float = 0.0, data_dir: str | None = None
) -> EvaluatorSpec:
    """The spec of the NB201 lookup evaluator with an artificial ``delay_s`` per evaluation.

    ``data_dir`` is recorded for the workers; leave it ``None`` when workers on other
    machines resolve their own (``--data-dir`` or ``ECGNAS_DATA_DIR``).
    """
    get_dataset(dataset)
    if not delay_s >= 0:
        raise ConfigError(f"delay_s must be >= 0, got {delay_s}")
    spec: EvaluatorSpec = {"evaluator": "nb201", "dataset": dataset, "delay_s": float(delay_s)}
    if data_dir is not None:
        spec["data_dir"] = str(data_dir)
    return spec
