"""The ECG search benchmark table: joint-space archs with their DS1-CV proxy scores.

NB201 lets a search method be compared over hundreds of seeds because every cell's accuracy
is in a table. This module does the same for ECG: ``build_table`` scores a fixed, seeded,
uniform sample of the ``ecgjoint`` space at one DS1 cross-validation fidelity
(``ecgnas.classifier.proxy``) and appends one JSON line per arch to the table file as each
finishes (resumable; ``--shard i/n`` lets several one-thread processes share the work). The
shipped table is ``ecgnas/assets/benchmarks/ecgjoint_table.jsonl``; ``ecgnas benchmark
ecg-table`` rebuilds it and ``ecgnas benchmark ecg`` searches it.

A search on the table sees only the table's archs (``ECGTableSpace``): sampling is uniform
over them; mutation and crossover make a joint-space child as usual and then take the table
arch nearest to it in genes (fewest differing genes, ties broken at random, never the parent
itself), so the evolution keeps its meaning on a sample of the space. Encodings are the
joint space's, and so is the CLP encoder of the pre-trained predictors (``clp_space``). The
evaluator (``ECGTableEvaluator``) returns the stored score in percent (the fidelity's signal
x 100, e.g. DS1-CV macro-F1) and the stored wall seconds as the cost. The table holds one
proxy score per arch: the "reported" figure of a run is that same DS1-CV proxy score (no
separate test figure exists; DS2 is never read).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ecgnas.errors import ConfigError, DataError
from ecgnas.evaluate import Result
from ecgnas.io import atomic_write_text
from ecgnas.spaces.base import Arch, ArchGraph
from ecgnas.spaces.ecgjoint import ECGJointSpace

if TYPE_CHECKING:
    from ecgnas.classifier.proxy import Fidelity

TABLE_SEED: Final = 0
"""Seed of the table's arch sample."""
TABLE_NAME: Final = "ecgjoint_table.jsonl"
MIN_ARCHS: Final = 20
"""A table with fewer archs cannot host a meaningful search."""


def shipped_table() -> Path:
    """The table shipped in the package."""
    return Path(str(resources.files("ecgnas"))) / "assets" / "benchmarks" / TABLE_NAME


def table_archs(n: int, seed: int = TABLE_SEED) -> list[Arch]:
    """The first ``n`` archs of the table's sample: uniform over the joint space, distinct
    canonical hashes, in draw order (so a larger table extends a smaller one)."""
    space = ECGJointSpace()
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    out: list[Arch] = []
    while len(out) < n:
        arch = space.sample(rng)
        if space.canonical(arch) not in seen:
            seen.add(space.canonical(arch))
            out.append(arch)
    return out


def read_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The table's rows (``DataError`` for a missing file or a corrupt line)."""
    file = Path(path)
    if not file.is_file():
        raise DataError(
            f"ECG benchmark table not found: {file} (build it: ecgnas benchmark ecg-table)"
        )
    rows = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError as exc:
            raise DataError(f"{file}:{number}: not a JSON line ({exc})") from exc
    return rows


def trains_alike(name: str, fidelity: Fidelity) -> bool:
    """Whether the named fidelity trains and scores exactly as ``fidelity`` and differs at
    most in the signal it reports (its rows can be rescored: they keep every signal)."""
    from ecgnas.classifier.proxy import FIDELITIES

    known = FIDELITIES.get(name)
    return known is not None and replace(known, signal=fidelity.signal) == fidelity


def rescored(row: dict[str, Any], fidelity: str, signal: str) -> dict[str, Any]:
    """``row`` with the score of ``signal`` (from its stored signals) under ``fidelity``."""
    return row | {"fidelity": fidelity, "signal": signal, "score": row["signals"][signal]}


def build_table(
    n_archs: int,
    fidelity: str,
    path: str | os.PathLike[str],
    *,
    seed: int = TABLE_SEED,
    shard: tuple[int, int] = (0, 1),
    train_seed: int = 0,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    on_row: Any = None,
) -> int:
    """Score the first ``n_archs`` table archs not yet in ``path`` (this shard's share),
    appending a row per arch as it finishes; returns the number scored now.

    Rows already in ``path`` must have been made at the same fidelity (``ConfigError``), or
    at one that trains alike and reports another signal: those are rescored (the file is
    rewritten, so no other process may be extending it then)."""
    from ecgnas.classifier.proxy import BeatCache, get_fidelity, scored_row

    fid = get_fidelity(fidelity)
    index, count = shard
    if not 0 <= index < count:
        raise ConfigError(f"shard must be i/n with 0 <= i < n, got {index}/{count}")
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    cache = BeatCache(data_dir, cache_dir)
    existing = read_rows(file) if file.exists() else []
    other = {r["fidelity"] for r in existing} - {fidelity}
    if any(not trains_alike(name, fid) for name in other):
        raise ConfigError(f"{file} holds rows of fidelity {sorted(other)}, not {fidelity!r}")
    if other:  # the same training, another signal: rescore the stored predictions' signals
        existing = [rescored(r, fidelity, fid.signal) for r in existing]
        atomic_write_text(file, "".join(json.dumps(r) + "\n" for r in existing))
    finished = {r["arch"] for r in existing}  # a shard scores only its own archs: read once
    done = 0
    for i, arch in enumerate(table_archs(n_archs, seed)):
        if i % count != index or arch.key() in finished:
            continue
        row = {"index": i} | scored_row(arch, fidelity, train_seed, beats=cache)
        with file.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        done += 1
        if on_row is not None:
            on_row(row)
    return done


@dataclass(frozen=True)
class ECGTable:
    """The table's archs (draw order), their scores (the fidelity's signal, in [0, 1]) and
    wall seconds."""

    archs: tuple[Arch, ...]
    scores: np.ndarray
    seconds: np.ndarray
    fidelity: str
    path: str

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> ECGTable:
        file = Path(path) if path is not None else shipped_table()
        rows = read_rows(file)
        if len(rows) < MIN_ARCHS:
            raise DataError(f"{file}: {len(rows)} archs, a search benchmark needs {MIN_ARCHS}")
        fidelities = {r["fidelity"] for r in rows}
        if len(fidelities) != 1:
            raise DataError(f"{file}: rows of several fidelities {sorted(fidelities)}")
        rows.sort(key=lambda r: r["index"])
        archs = tuple(Arch("ecgjoint", tuple(int(o) for o in r["ops"])) for r in rows)
        space = ECGJointSpace()
        bad = [a.key() for a in archs if not space.is_valid(a)]
        if bad or len({space.canonical(a) for a in archs}) != len(archs):
            raise DataError(f"{file}: invalid or repeated archs ({bad[:3]})")
        return cls(
            archs=archs,
            scores=np.array([float(r.get("score", r["macro_f1"])) for r in rows]),
            seconds=np.array([float(r["seconds"]) for r in rows]),
            fidelity=fidelities.pop(),
            path=str(file),
        )


class ECGTableSpace:
    """The joint space restricted to a table's archs (see the module docstring)."""

    def __init__(self, archs: Sequence[Arch]) -> None:
        import hashlib

        self.joint = ECGJointSpace()
        self.archs = tuple(archs)
        digest = hashlib.sha256("|".join(a.key() for a in self.archs).encode()).hexdigest()
        #: names this table (pre-trained encoders are cached by space name)
        self.name = f"ecgjoint_table_{digest[:10]}"
        self.op_names = self.joint.op_names
        self._genes = np.array([a.ops for a in self.archs], dtype=np.int64)
        self._index = {a: i for i, a in enumerate(self.archs)}

    @property
    def n_node_types(self) -> int:
        return self.joint.n_node_types

    @property
    def path_length(self) -> int:
        return self.joint.path_length

    @property
    def macro_sizes(self) -> tuple[int, ...]:
        return self.joint.macro_sizes

    @property
    def clp_space(self) -> ECGJointSpace:
        """The joint space: its pre-trained predictors use the shipped ``ecgjoint`` encoder
        (50,000 joint archs), the encoder a real joint search uses, not one pre-trained on
        the table's own archs."""
        return self.joint

    def size(self) -> int:
        return len(self.archs)

    def enumerate(self) -> list[Arch]:
        return list(self.archs)

    def is_valid(self, arch: Arch) -> bool:
        return arch in self._index

    def canonical(self, arch: Arch) -> str:
        return self.joint.canonical(arch)

    def sample(self, rng: np.random.Generator) -> Arch:
        return self.archs[int(rng.integers(len(self.archs)))]

    def nearest(self, genes: Sequence[int], rng: np.random.Generator, exclude: Arch) -> Arch:
        """The table arch with the fewest genes differing from ``genes`` (ties at random),
        other than ``exclude``."""
        distance = (self._genes != np.asarray(genes, dtype=np.int64)[None, :]).sum(axis=1)
        if exclude in self._index:
            distance[self._index[exclude]] = np.iinfo(np.int64).max
        ties = np.flatnonzero(distance == distance.min())
        return self.archs[int(ties[rng.integers(len(ties))])]

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        return self.nearest(self.joint.mutate(arch, rng).ops, rng, exclude=arch)

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        child = self.joint.crossover(a, b, rng)
        return child if child in self._index else self.nearest(child.ops, rng, exclude=a)

    def to_graph(self, arch: Arch) -> ArchGraph:
        return self.joint.to_graph(arch)

    def path_encoding(self, archs: Sequence[Arch]) -> np.ndarray:
        return self.joint.path_encoding(archs)


class ECGTableEvaluator:
    """``evaluate(arch)``: the table's DS1-CV proxy score (its fidelity's signal) in percent, its wall seconds as
    the cost; ``metrics["test_acc"]`` repeats the score (the table has no other figure)."""

    def __init__(self, table: ECGTable) -> None:
        self.table = table
        self.space = ECGTableSpace(table.archs)
        self.dataset = "mitbih"
        self._row = {a: i for i, a in enumerate(table.archs)}
        from ecgnas.classifier.proxy import SIGNAL_NAMES, get_fidelity

        self._signal = SIGNAL_NAMES[get_fidelity(table.fidelity).signal]

    def evaluate(self, arch: Arch) -> Result:
        row = self._row.get(arch)
        if row is None:
            raise ConfigError(f"not an arch of the ECG benchmark table: {arch.key()}")
        score = 100.0 * float(self.table.scores[row])
        return Result(
            score=score,
            cost_seconds=float(self.table.seconds[row]),
            metrics={
                "signal": f"DS1-CV proxy {self._signal} x 100 ({self.table.fidelity})",
                "test_acc": score,
                "cost_kind": "table",
            },
        )
