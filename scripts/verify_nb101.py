"""Verify the NB101 module hash on every cell of ``nb101.npz`` and write a markdown report.

    python scripts/verify_nb101.py [--data-dir DIR] [--out reports/nb101_hash_check.md]

Checks (exit code 1 if any fails):

1. the hash computed from (``adj_bits``, ``ops``, ``n_vertices``) equals the stored hash for
   all 423,624 rows, and the stored hashes are sorted and distinct;
2. the 30 full official records of ``nb101_partial.npz``: their specs hash to their hashes
   and equal the npz row of that hash;
3. the 500 NASLib cells of ``nb101_partial.npz`` (unpruned 7-vertex specs), pruned and
   hashed, are all rows of the table;
4. random NB101 samples, mutations and crossovers are valid table rows.

It also times the table load, the hash, the search-space operators and the path encoding,
and compares the size distribution of ``NB101Space.sample`` with the table's.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import platform
import struct
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime

import numpy as np

from ecgnas.benchmarks.nb101_table import NB101Table
from ecgnas.benchmarks.tfrecord import iter_tfrecords, masked_crc32c
from ecgnas.io import atomic_write_text
from ecgnas.paths import data_dir as resolve_data_dir
from ecgnas.spaces.nb101 import NB101_OPS, NB101Space, arch_from_bits, hash_from_bits

log = logging.getLogger("verify_nb101")


def _timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def hash_every_row(table: NB101Table, limit: int | None = None) -> tuple[list[str], float]:
    """Hash every row (or the first ``limit`` rows) from its bits; the seconds it took."""
    rows = slice(0, limit)
    bits = table.adj_bits[rows].tolist()
    ops, nv = table.ops[rows].tolist(), table.n_vertices[rows].tolist()
    start = time.perf_counter()
    out = []
    for i in range(len(bits)):
        out.append(hash_from_bits(bits[i], ops[i], nv[i]))
        if i and i % 100_000 == 0:
            log.info("hashed %d / %d rows", i, len(bits))
    return out, time.perf_counter() - start


def _synthetic_official_file(table: NB101Table, n_cells: int, path: str) -> int:
    """Write ``n_cells`` real table cells x 3 repeats as official-format NB101 records with
    made-up metrics (same framing, JSON and protobuf layout as the official file)."""

    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            low, n = n & 0x7F, n >> 7
            out.append(low | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def evaluation(epoch: float, seconds: float, acc: float) -> bytes:
        doubles = b"".join(
            bytes([k << 3 | 1]) + struct.pack("<d", v)
            for k, v in enumerate((epoch, seconds, acc, acc, acc), start=1)
        )
        return doubles + b"\x32" + varint(0)  # empty checkpoint_path

    rng = np.random.default_rng(1)
    with open(path, "wb") as fh:
        for r in rng.choice(len(table), size=n_cells, replace=False).tolist():
            arch = table.arch(r)
            adjacency = "".join(str(v) for row in arch.matrix for v in row)
            ops = ",".join(NB101_OPS[o] for o in arch.ops)
            for rep in range(3):
                evals = [evaluation(e, 17.0 * e, 0.9 + 0.001 * rep) for e in (0.0, 54.0, 108.0)]
                msg = b"".join(b"\x0a" + varint(len(e)) + e for e in evals)
                msg += b"\x10" + varint(int(table.trainable_params[r])) + b"\x19" + bytes(8)
                payload = json.dumps(
                    [table.hashes[r].decode(), 108, adjacency, ops, base64.b64encode(msg).decode()]
                ).encode()
                header = struct.pack("<Q", len(payload))
                fh.write(header + struct.pack("<I", masked_crc32c(header)) + payload)
                fh.write(struct.pack("<I", masked_crc32c(payload)))
    return 3 * n_cells


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="data directory (default: ecgnas rules)")
    parser.add_argument("--out", default="reports/nb101_hash_check.md")
    parser.add_argument(
        "--tfrecord-cells",
        type=int,
        default=10_000,
        help="cells in the synthetic official-format file timed for the reader (0: skip)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="hash only the first N rows of nb101.npz (a quick check; default: every row)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    wall0, cpu0 = time.perf_counter(), time.process_time()
    nasbench = resolve_data_dir(args.data_dir) / "nasbench"
    table, t_load = _timed(NB101Table.from_npz, nasbench / "nb101.npz")
    stored = table.hashes.astype(str).tolist()
    results: list[tuple[str, bool, str]] = []

    # 1. every row (or the first --limit rows)
    computed, t_hash = hash_every_row(table, args.limit)
    n_hashed = len(computed)
    partial = n_hashed < len(table)
    rows_label = f"the first {n_hashed:,} rows (--limit)" if partial else "every row"
    mismatches = [i for i, (a, b) in enumerate(zip(computed, stored)) if a != b]
    distinct = len(set(computed))
    sorted_unique = bool(np.all(table.hashes[:-1] < table.hashes[1:]))
    results.append(
        (
            "computed hash == stored hash, "
            + (
                f"first {n_hashed:,} rows of nb101.npz only (--limit)"
                if partial
                else rows_label + " of nb101.npz"
            ),
            not mismatches and len(table) == 423_624,
            f"{n_hashed - len(mismatches):,} / {n_hashed:,} equal"
            + (f" ({len(table):,} rows in the table)" if partial else "")
            + (f"; first mismatch at row {mismatches[0]}" if mismatches else ""),
        )
    )
    results.append(
        (
            "hashes distinct (and stored ones sorted)",
            distinct == (n_hashed if partial else 423_624) and sorted_unique,
            f"{distinct:,} distinct computed hashes"
            + (f" (first {n_hashed:,} rows)" if partial else "")
            + f"; stored sorted and unique: {sorted_unique}",
        )
    )

    # 2./3. nb101_partial.npz
    space = NB101Space()
    with np.load(nasbench / "nb101_partial.npz") as z:
        part = {k: z[k] for k in z.files}
    full = np.flatnonzero(part["source"] == 0).tolist()
    ok_full = 0
    for r in full:
        arch = arch_from_bits(
            int(part["adj_bits"][r]), part["ops"][r].tolist(), int(part["n_vertices"][r])
        )
        h = str(part["hash"][r])
        row = int(table.find(h))
        ok_full += space.canonical(arch) == h and row >= 0 and table.arch(row) == arch
    results.append(
        (
            "30 full official records (nb101_partial.npz source 0)",
            ok_full == len(full) == 30,
            f"{ok_full} / {len(full)}: hash equal and spec equal to the table row",
        )
    )
    naslib = np.flatnonzero(part["source"] == 1).tolist()
    naslib_hashes = [
        space.canonical(arch_from_bits(int(part["adj_bits"][r]), part["ops"][r].tolist(), 7))
        for r in naslib
    ]
    n_found = int((table.find(naslib_hashes) >= 0).sum())
    results.append(
        (
            "500 NASLib cells (source 1, unpruned) pruned + hashed are table rows",
            n_found == len(naslib) == 500,
            f"{n_found} / {len(naslib)}",
        )
    )

    # 4. operators land on table rows; timings
    rng = np.random.default_rng(0)
    n_ops = 5000
    samples, t_sample = _timed(lambda: [space.sample(rng) for _ in range(n_ops)])
    fresh = NB101Space()
    _, t_canon = _timed(lambda: [fresh.canonical(a) for a in samples])
    _, t_canon_cached = _timed(lambda: [fresh.canonical(a) for a in samples])
    starts = [table.random_arch(rng) for _ in range(n_ops)]
    children, t_mutate = _timed(lambda: [space.mutate(a, rng) for a in starts])
    crossed, t_cross = _timed(
        lambda: [space.crossover(starts[k], starts[-1 - k], rng) for k in range(n_ops)]
    )
    _, t_path = _timed(space.path_encoding, starts)
    _, t_graph = _timed(lambda: [space.to_graph(a) for a in starts])
    for name, archs in (("samples", samples), ("mutations", children), ("crossovers", crossed)):
        found = table.find([space.canonical(a) for a in archs]) >= 0
        valid = all(space.is_valid(a) for a in archs)
        results.append(
            (
                f"{n_ops:,} random {name} valid and in the table",
                bool(found.all()) and valid,
                f"{int(found.sum()):,} / {n_ops:,} in the table; all valid: {valid}",
            )
        )

    # the TFRecord reader, on a synthetic file in the official format
    tf_lines: list[str] = []
    if args.tfrecord_cells > 0:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "synthetic_only108.tfrecord")
            n_rec = _synthetic_official_file(table, args.tfrecord_cells, path)
            size = os.path.getsize(path)
            _, t_frames = _timed(lambda: sum(1 for _ in iter_tfrecords(path)))
            built, t_build = _timed(NB101Table.from_tfrecord, path)
            _, t_build_check = _timed(NB101Table.from_tfrecord, path, check_hashes=True)
        same = bool(np.all(table.find(built.hashes.astype(str)) >= 0))
        results.append(
            (
                "synthetic official-format file: every cell joins the table",
                same and len(built) == args.tfrecord_cells,
                f"{len(built):,} cells from {n_rec:,} records",
            )
        )
        full_records = 1_270_872  # 423,624 cells x 3 repeats in nasbench_only108.tfrecord
        tf_lines = [
            "## TFRecord reader (synthetic file in the official format)",
            "",
            f"{args.tfrecord_cells:,} table cells x 3 repeats, made-up metrics, "
            f"{size / n_rec:.0f} bytes per record ({size / 1e6:.1f} MB).",
            "",
            "| what | total | per record | extrapolated to 1,270,872 records |",
            "| --- | --- | --- | --- |",
            f"| framing + both CRCs (`iter_tfrecords`) | {t_frames:.2f} s "
            f"({size / t_frames / 1e6:.0f} MB/s) | {t_frames / n_rec * 1e6:.1f} us | "
            f"{t_frames / n_rec * full_records:.0f} s |",
            f"| `NB101Table.from_tfrecord` | {t_build:.2f} s | {t_build / n_rec * 1e6:.1f} us | "
            f"{t_build / n_rec * full_records:.0f} s |",
            f"| `from_tfrecord(check_hashes=True)` | {t_build_check:.2f} s | "
            f"{t_build_check / n_rec * 1e6:.1f} us | "
            f"{t_build_check / n_rec * full_records:.0f} s |",
            "",
            "`NB101Table.load` converts the official file once and caches the table as npz.",
            "",
        ]

    sample_sizes = Counter(len(a.ops) for a in samples)
    table_sizes = Counter(table.n_vertices.tolist())
    all_ok = all(ok for _, ok, _ in results)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    cli_args = sys.argv[1:] if argv is None else argv
    lines = [
        "# NB101 module hash check",
        "",
        f"- command: `{' '.join(['python scripts/verify_nb101.py', *cli_args])}`",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} CPUs (shared), Python {platform.python_version()}, "
        f"numpy {np.__version__}, single process",
        f"- data: `{nasbench}` (`nb101.npz`, `nb101_partial.npz`)",
        f"- result: **{'all checks passed' if all_ok else 'FAILED'}**"
        + (
            f" (a partial check: only the first {n_hashed:,} of {len(table):,} rows were hashed)"
            if partial
            else ""
        ),
        f"- run time: {wall:.0f} s wall, {cpu:.0f} s CPU (timings below are wall clock; "
        "a CPU share well under 100 % means the machine was busy with other work)",
        "",
        "| check | result | detail |",
        "| --- | --- | --- |",
        *[f"| {name} | {'pass' if ok else 'FAIL'} | {detail} |" for name, ok, detail in results],
        "",
        "## Timings",
        "",
        "| what | total | per item |",
        "| --- | --- | --- |",
        f"| load `nb101.npz` (`NB101Table.from_npz`) | {t_load:.3f} s | |",
        f"| hash {rows_label} (`hash_from_bits`) | {t_hash:.1f} s | "
        f"{t_hash / max(n_hashed, 1) * 1e6:.1f} us |",
        f"| `NB101Space.canonical`, uncached ({n_ops:,} samples) | {t_canon:.3f} s | "
        f"{t_canon / n_ops * 1e6:.1f} us |",
        f"| `NB101Space.canonical`, cached | {t_canon_cached:.3f} s | "
        f"{t_canon_cached / n_ops * 1e6:.2f} us |",
        f"| `sample` | {t_sample:.3f} s | {t_sample / n_ops * 1e6:.1f} us |",
        f"| `mutate` (table cells) | {t_mutate:.3f} s | {t_mutate / n_ops * 1e6:.1f} us |",
        f"| `crossover` (table cells) | {t_cross:.3f} s | {t_cross / n_ops * 1e6:.1f} us |",
        f"| `path_encoding` ({n_ops:,} table cells, one call) | {t_path:.3f} s | "
        f"{t_path / n_ops * 1e6:.1f} us |",
        f"| `to_graph` | {t_graph:.3f} s | {t_graph / n_ops * 1e6:.1f} us |",
        "",
        "## Cell sizes: `NB101Space.sample` vs the table",
        "",
        "The benchmark's own random-spec sampler (uniform 7x7 upper-triangular 0/1 matrix, "
        "redrawn until valid) is far from uniform over cells: most accepted specs prune to "
        "small cells. Use `NB101Table.random_arch` for a uniform draw.",
        "",
        "| vertices | share of samples | share of table cells |",
        "| --- | --- | --- |",
        *[
            f"| {k} | {sample_sizes.get(k, 0) / n_ops:.3f} | {table_sizes.get(k, 0) / len(table):.4f} |"
            for k in range(2, 8)
        ],
        "",
        *tf_lines,
    ]
    atomic_write_text(args.out, "\n".join(lines))
    log.info("wrote %s: %s", args.out, "all checks passed" if all_ok else "FAILED")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
