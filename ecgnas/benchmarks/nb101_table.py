"""NAS-Bench-101 as a lookup table (``NB101Table``) and its evaluator (``NB101Evaluator``).

Two sources, one table type:

* ``<data_dir>/nasbench/nb101.npz`` (shipped with the project data; see its ``SOURCE.md``):
  all 423,624 cells, but only the **seed-0 test accuracy** at 108 epochs, trainable
  parameters and FLOPs. No validation accuracy, no training time. An evaluator on it scores
  on that *test* accuracy and says so in every result, and charges a *proxy* cost.
* the official ``nasbench_only108.tfrecord`` (``NB101Table.from_tfrecord``; users download
  it): validation and test accuracy of every repeat and the recorded training time. An
  evaluator on it scores on the mean validation accuracy and charges the recorded time.

Rows are sorted by module hash (``ecgnas.spaces.nb101.module_hash``); a lookup is a binary
search (``np.searchsorted``), so loading builds no per-cell Python objects: ``nb101.npz``
loads in about 0.1-0.2 s (``reports/nb101_hash_check.md``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from ecgnas.errors import ConfigError, DataError
from ecgnas.evaluate import Result
from ecgnas.io import atomic_write
from ecgnas.paths import cache_dir as resolve_cache_dir
from ecgnas.paths import data_dir as resolve_data_dir
from ecgnas.spaces.base import Arch
from ecgnas.spaces.nb101 import (
    MAX_VERTICES,
    NB101Space,
    arch_from_bits,
    matrix_to_bits,
    module_hash,
    prune,
)

log = logging.getLogger(__name__)

NPZ_NAME = "nb101.npz"
TFRECORD_NAME = "nasbench_only108.tfrecord"
#: version of the converted-tfrecord cache format (part of its cache key)
_CACHE_VERSION = 1

#: op names of the official records -> the op codes of ``ecgnas.spaces.nb101``
_OP_CODES = {
    "input": 0,
    "conv1x1-bn-relu": 1,
    "conv3x3-bn-relu": 2,
    "maxpool3x3": 3,
    "output": 4,
}

# --- cost proxy --------------------------------------------------------------------------
#: Proxy training time of a cell in seconds: ``COST_SCALE_S * (flops_thop / 1e9) **
#: COST_EXPONENT``. A least-squares fit of log(mean 108-epoch training time over the 3
#: repeats) on log(FLOPs) over the 30 cells of ``nb101_partial.npz`` that have full official
#: records (``flops_thop`` from ``nb101.npz``; NB101 timings are TPU v2 seconds). On those 30:
#: RMSE 325 s, leave-one-out mean absolute relative error 14 %; over all 423,624 cells it
#: ranges 390-5,264 s. ``tests/benchmarks/test_nb101_table.py`` refits and checks these.
COST_SCALE_S = 1966.5
COST_EXPONENT = 0.4936
COST_PROXY_NOTE = (
    "proxy: 1966.5 s * (thop GFLOPs)^0.4936, a log-log fit of NB101 108-epoch training "
    "time on FLOPs over 30 cells with official records (LOO error ~14 %)"
)
SEED0_SIGNAL_NOTE = (
    "TEST accuracy (seed 0, 108 epochs): nb101.npz has no validation accuracy, so this "
    "search selects on test accuracy; do not report it as a held-out result"
)


def proxy_train_seconds(flops: float | np.ndarray) -> float | np.ndarray:
    """The documented cost proxy (``COST_SCALE_S * (flops / 1e9) ** COST_EXPONENT``) for
    ``flops`` in thop MACs (``nb101.npz`` column ``flops_thop``); seconds."""
    return COST_SCALE_S * (np.asarray(flops, dtype=np.float64) / 1e9) ** COST_EXPONENT


# --- the table ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NB101Table:
    """NAS-Bench-101 cells and their metrics, one row per cell, rows sorted by hash.

    Attributes (``n`` rows, ``r`` repeats)
    ---------------------------------------
    hashes: ``S32`` ``[n]``, the module hashes (ASCII hex), strictly increasing.
    adj_bits: uint32 ``[n]``, the pruned matrix (``ecgnas.spaces.nb101.TRIU_PAIRS`` bits).
    n_vertices: int8 ``[n]``, 2..7.
    ops: int8 ``[n, 7]``, op codes of ``ecgnas.spaces.nb101``, -1 padding.
    test_acc: float32 ``[n, r]``, 108-epoch test accuracy, fraction 0..1 (NaN: no repeat).
    trainable_params: int64 ``[n]``.
    val_acc: float32 ``[n, r]`` validation accuracy (fraction), or ``None`` (``nb101.npz``).
    train_time: float32 ``[n, r]`` 108-epoch training time in seconds, or ``None``.
    flops: int64 ``[n]`` thop MACs (``nb101.npz``), or ``None``.
    source: where the table came from (a path), for messages and reports.
    """

    hashes: np.ndarray
    adj_bits: np.ndarray
    n_vertices: np.ndarray
    ops: np.ndarray
    test_acc: np.ndarray
    trainable_params: np.ndarray
    val_acc: np.ndarray | None = None
    train_time: np.ndarray | None = None
    flops: np.ndarray | None = None
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.hashes)
        where = self.source or "NB101 table"
        if self.hashes.dtype != np.dtype("S32"):
            raise DataError(f"{where}: hashes must be S32, got {self.hashes.dtype}")
        checks = {
            "adj_bits": self.adj_bits.shape == (n,),
            "n_vertices": self.n_vertices.shape == (n,),
            "ops": self.ops.shape == (n, MAX_VERTICES),
            "test_acc": self.test_acc.ndim == 2 and self.test_acc.shape[0] == n,
            "trainable_params": self.trainable_params.shape == (n,),
            "val_acc": self.val_acc is None or self.val_acc.shape == self.test_acc.shape,
            "train_time": self.train_time is None or self.train_time.shape == self.test_acc.shape,
            "flops": self.flops is None or self.flops.shape == (n,),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise DataError(f"{where}: arrays of unexpected shape: {', '.join(bad)}")
        if n > 1 and not bool(np.all(self.hashes[:-1] < self.hashes[1:])):
            raise DataError(f"{where}: hashes are not sorted and unique")
        for value in self.__dict__.values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)

    # --- basic queries ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def n_repeats(self) -> int:
        return int(self.test_acc.shape[1])

    @property
    def has_validation(self) -> bool:
        """Whether the table has validation accuracy (the official file does, npz does not)."""
        return self.val_acc is not None

    def find(self, hashes: str | bytes | list[str] | np.ndarray) -> np.ndarray:
        """Row index of each hash, -1 where absent; int64 array of the input's shape."""
        keys = np.asarray(hashes, dtype="S32")
        idx = np.searchsorted(self.hashes, keys)
        idx_clipped = np.minimum(idx, max(len(self) - 1, 0))
        found = (idx < len(self)) & (self.hashes[idx_clipped] == keys) if len(self) else idx < 0
        return np.where(found, idx_clipped, -1).astype(np.int64)

    def row_of(self, module_hash: str) -> int:
        """The row of one hash; ``DataError`` naming the hash if the table lacks it."""
        row = int(self.find(module_hash))
        if row < 0:
            raise DataError(f"cell {module_hash} is not in the NB101 table {self.source}")
        return row

    def arch(self, row: int) -> Arch:
        """The ``Arch`` (pruned spec) stored in row ``row``."""
        return arch_from_bits(
            int(self.adj_bits[row]), self.ops[row].tolist(), int(self.n_vertices[row])
        )

    def random_arch(self, rng: np.random.Generator) -> Arch:
        """A cell drawn uniformly from the table's rows (unlike ``NB101Space.sample``, whose
        benchmark-style draw favours small cells)."""
        return self.arch(int(rng.integers(len(self))))

    # --- loading ------------------------------------------------------------------------
    @classmethod
    def from_npz(cls, path: str | os.PathLike[str]) -> NB101Table:
        """Read ``nb101.npz`` (seed-0 test accuracy only) or a table written by ``to_npz``.

        ``DataError`` if the file is missing, not an npz, or lacks the expected arrays.
        """
        p = Path(path)
        if not p.is_file():
            raise DataError(f"NB101 table not found: {p}")
        try:
            with np.load(p, allow_pickle=False) as z:
                names = set(z.files)
                if "val_acc_108" in names:  # written by to_npz from the official records
                    acc = {
                        "test_acc": z["test_acc_108"],
                        "val_acc": z["val_acc_108"],
                        "train_time": z["train_time_108"],
                    }
                else:
                    acc = {"test_acc": z["test_acc_108_seed0"].reshape(-1, 1)}
                return cls(
                    hashes=z["hash"].astype("S32"),
                    adj_bits=z["adj_bits"].astype(np.uint32, copy=False),
                    n_vertices=z["n_vertices"].astype(np.int8, copy=False),
                    ops=z["ops"].astype(np.int8, copy=False),
                    trainable_params=z["trainable_params"].astype(np.int64, copy=False),
                    flops=z["flops_thop"].astype(np.int64) if "flops_thop" in names else None,
                    source=str(p),
                    **acc,
                )
        except KeyError as exc:
            raise DataError(f"{p}: not an NB101 table (missing array {exc})") from exc
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise DataError(f"{p}: cannot read NB101 table ({exc})") from exc

    def to_npz(self, path: str | os.PathLike[str]) -> None:
        """Write the table atomically in the format ``from_npz`` reads."""
        arrays: dict[str, np.ndarray] = {
            "hash": self.hashes,
            "adj_bits": self.adj_bits,
            "n_vertices": self.n_vertices,
            "ops": self.ops,
            "trainable_params": self.trainable_params,
        }
        if self.val_acc is not None and self.train_time is not None:
            arrays.update(
                test_acc_108=self.test_acc, val_acc_108=self.val_acc, train_time_108=self.train_time
            )
        else:
            arrays["test_acc_108_seed0"] = self.test_acc[:, 0]
        if self.flops is not None:
            arrays["flops_thop"] = self.flops
        atomic_write(path, lambda fh: np.savez_compressed(fh, allow_pickle=False, **arrays))

    @classmethod
    def from_tfrecord(
        cls,
        path: str | os.PathLike[str],
        *,
        epochs: int = 108,
        verify_crc: bool = True,
        check_hashes: bool = False,
    ) -> NB101Table:
        """Build the table from an official NB101 TFRecord file, without TensorFlow.

        Keeps the records trained for ``epochs`` epochs (the ``only108`` file has only 108;
        the full file also 4, 12, 36). Each record is one repeat; its *final* evaluation
        (the last ``evaluation_data`` entry, as the official API's ``final_*`` values) gives
        validation/test accuracy and training time. Repeats keep file order; a cell with
        fewer repeats than others gets NaN. ``check_hashes`` recomputes every cell's module
        hash from its spec and fails on a mismatch (about 50 us per cell).

        ``DataError`` for a missing/corrupt file, an unknown op, or no record of ``epochs``.
        Converting the full official file takes on the order of a minute; ``load`` caches
        the result.
        """
        from ecgnas.benchmarks.tfrecord import iter_nb101_records

        row_of: dict[str, int] = {}  # only during conversion
        bits: list[int] = []
        n_vertices: list[int] = []
        ops_rows: list[list[int]] = []
        params: list[int] = []
        repeats: list[list[tuple[float, float, float]]] = []
        for rec in iter_nb101_records(path, verify=verify_crc):
            if rec.epochs != epochs:
                continue
            if not rec.metrics.evaluation_data:
                raise DataError(f"{path}: cell {rec.module_hash} has a record with no evaluations")
            final = rec.metrics.evaluation_data[-1]
            row = row_of.get(rec.module_hash)
            if row is None:
                row = len(bits)
                row_of[rec.module_hash] = row
                matrix, ops = _record_spec(rec.module_hash, rec.matrix, rec.ops, check_hashes)
                bits.append(matrix_to_bits(matrix))
                n_vertices.append(len(ops))
                ops_rows.append(list(ops) + [-1] * (MAX_VERTICES - len(ops)))
                params.append(rec.metrics.trainable_parameters)
                repeats.append([])
            repeats[row].append(
                (final.validation_accuracy, final.test_accuracy, final.training_time)
            )
        if not bits:
            raise DataError(f"{path}: no NAS-Bench-101 record trained for {epochs} epochs")
        n_rep = max(len(r) for r in repeats)
        metrics = np.full((len(bits), n_rep, 3), np.nan, dtype=np.float32)
        for row, reps in enumerate(repeats):
            metrics[row, : len(reps)] = reps
        hashes = np.array(list(row_of), dtype="S32")
        order = np.argsort(hashes, kind="stable")
        return cls(
            hashes=hashes[order],
            adj_bits=np.array(bits, dtype=np.uint32)[order],
            n_vertices=np.array(n_vertices, dtype=np.int8)[order],
            ops=np.array(ops_rows, dtype=np.int8)[order],
            trainable_params=np.array(params, dtype=np.int64)[order],
            val_acc=np.ascontiguousarray(metrics[order, :, 0]),
            test_acc=np.ascontiguousarray(metrics[order, :, 1]),
            train_time=np.ascontiguousarray(metrics[order, :, 2]),
            source=str(path),
        )

    @classmethod
    def load(
        cls,
        data_dir: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        source: Literal["auto", "npz", "tfrecord"] = "auto",
    ) -> NB101Table:
        """The NB101 table of the data directory (``ecgnas.paths`` rules).

        ``source="auto"`` uses ``<data>/nasbench/nasbench_only108.tfrecord`` when present
        (validation accuracy and training time), else ``<data>/nasbench/nb101.npz``. A
        converted tfrecord is cached as ``<cache>/nasbench/nb101_only108-<key>.npz``, keyed
        by the file's size and modification time; a corrupt cache entry is rebuilt.
        ``DataError`` if the chosen file is missing or corrupt.
        """
        if source not in ("auto", "npz", "tfrecord"):
            raise ConfigError(f"unknown NB101 table source {source!r} (auto, npz, tfrecord)")
        folder = resolve_data_dir(data_dir) / "nasbench"
        tfrecord = folder / TFRECORD_NAME
        if source == "tfrecord" or (source == "auto" and tfrecord.is_file()):
            if not tfrecord.is_file():
                raise DataError(f"NB101 tfrecord not found: {tfrecord}")
            return cls._load_tfrecord_cached(tfrecord, resolve_cache_dir(cache_dir))
        npz = folder / NPZ_NAME
        if not npz.is_file():
            raise DataError(
                f"NB101 table not found: {npz} (put {NPZ_NAME} or {TFRECORD_NAME} under "
                f"<data>/nasbench; set --data-dir or ECGNAS_DATA_DIR)"
            )
        return cls.from_npz(npz)

    @classmethod
    def _load_tfrecord_cached(cls, tfrecord: Path, cache: Path) -> NB101Table:
        stat = tfrecord.stat()
        key = hashlib.sha256(
            f"{tfrecord.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{_CACHE_VERSION}".encode()
        ).hexdigest()[:16]
        cached = cache / "nasbench" / f"nb101_only108-{key}.npz"
        if cached.is_file():
            try:
                table = cls.from_npz(cached)
                return replace(table, source=str(tfrecord))
            except DataError as exc:
                log.warning("rebuilding corrupt NB101 cache %s: %s", cached, exc)
        log.info("converting %s (one-off; cached as %s)", tfrecord, cached)
        table = cls.from_tfrecord(tfrecord)
        table.to_npz(cached)
        return table


def _record_spec(
    module_hash_: str,
    matrix: tuple[tuple[int, ...], ...],
    op_names: tuple[str, ...],
    check_hash: bool,
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    try:
        ops = tuple(_OP_CODES[name] for name in op_names)
    except KeyError as exc:
        raise DataError(f"NB101 record {module_hash_}: unknown op {exc}") from exc
    if len(ops) > MAX_VERTICES or any(
        v and j <= i for i, r in enumerate(matrix) for j, v in enumerate(r)
    ):
        raise DataError(
            f"NB101 record {module_hash_}: not an upper-triangular cell of <= 7 vertices"
        )
    pruned = prune(matrix, ops)
    if pruned is None:
        raise DataError(f"NB101 record {module_hash_}: the output is not reachable from the input")
    if check_hash and module_hash(*pruned) != module_hash_:
        raise DataError(
            f"NB101 record {module_hash_}: its spec hashes to {module_hash(*pruned)} instead"
        )
    return pruned


# --- the evaluator -----------------------------------------------------------------------


class NB101Evaluator:
    """Scores NB101 cells by table lookup (implements ``ecgnas.evaluate.Evaluator``).

    With validation accuracy in the table (official file): ``score`` is the validation
    accuracy in percent (mean over repeats, or repeat ``repeat``), ``cost_seconds`` the
    recorded 108-epoch training time (same aggregation), ``cost_kind == "table"``.

    Without it (``nb101.npz``): ``score`` is the seed-0 **test** accuracy in percent and
    every result says so (``metrics["signal"] == "test_acc_108_seed0"`` and
    ``metrics["signal_note"]``); ``cost_seconds`` is ``proxy_train_seconds(flops)``, with
    ``cost_kind == "proxy:flops"`` and the proxy described in ``metrics["cost_note"]``.

    Always in ``metrics``: ``hash``, ``signal``, ``signal_note``, ``test_acc`` (percent),
    ``cost_kind``, ``cost_note``, ``trainable_params``; ``val_acc`` (percent) and ``flops``
    where the table has them.

    ``ConfigError`` for an arch outside the space; ``DataError`` (naming its hash) for a
    valid cell the table lacks.
    """

    def __init__(
        self, table: NB101Table, space: NB101Space | None = None, *, repeat: int | None = None
    ) -> None:
        if repeat is not None and not 0 <= repeat < table.n_repeats:
            raise ConfigError(
                f"repeat must be in 0..{table.n_repeats - 1} for this table, got {repeat}"
            )
        if table.train_time is None and table.flops is None:
            raise DataError(f"{table.source}: NB101 table has neither training time nor FLOPs")
        self.table = table
        self.space = space if space is not None else NB101Space()
        self.repeat = repeat
        if table.has_validation:
            self.signal = "val_acc_108_mean" if repeat is None else f"val_acc_108_repeat{repeat}"
            self.signal_note = "validation accuracy (108 epochs) from the official NB101 records"
        else:
            self.signal = "test_acc_108_seed0"
            self.signal_note = SEED0_SIGNAL_NOTE
        #: True when the search signal is a test accuracy (``nb101.npz``)
        self.selects_on_test = not table.has_validation

    def _pick(self, values: np.ndarray, row: int) -> float:
        if self.repeat is not None:
            return float(values[row, self.repeat])
        return float(np.nanmean(values[row]))

    def evaluate(self, arch: Arch) -> Result:
        digest = self.space.canonical(arch)  # ConfigError for an invalid arch
        t = self.table
        row = t.row_of(digest)
        test_acc = 100.0 * self._pick(t.test_acc, row)
        metrics: dict[str, float | str] = {
            "hash": digest,
            "signal": self.signal,
            "signal_note": self.signal_note,
            "test_acc": test_acc,
            "trainable_params": float(t.trainable_params[row]),
        }
        if t.flops is not None:
            metrics["flops"] = float(t.flops[row])
        if t.val_acc is not None and t.train_time is not None:
            score = 100.0 * self._pick(t.val_acc, row)
            cost = self._pick(t.train_time, row)
            metrics.update(
                val_acc=score,
                cost_kind="table",
                cost_note="recorded 108-epoch training time (official NB101 records)",
            )
        else:
            score = test_acc
            cost = float(proxy_train_seconds(float(metrics["flops"])))
            metrics.update(cost_kind="proxy:flops", cost_note=COST_PROXY_NOTE)
        if math.isnan(score) or math.isnan(cost):
            raise DataError(f"cell {digest}: repeat {self.repeat} missing in {t.source}")
        return Result(score=score, cost_seconds=cost, metrics=metrics)
