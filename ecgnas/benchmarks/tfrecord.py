"""Read TFRecord files and NAS-Bench-101 records without TensorFlow or protobuf.

TFRecord framing (one record after another, little-endian)::

    uint64 length | uint32 masked_crc32c(length bytes) | payload | uint32 masked_crc32c(payload)

where ``masked_crc32c(x) = ((c >> 15) | (c << 17)) + 0xA282EAD8 (mod 2**32)`` with ``c`` the
CRC-32C (Castagnoli) of ``x``. Both CRCs are verified by default; a mismatch, a truncated
record or a malformed payload is a ``DataError`` naming the byte offset.

A NAS-Bench-101 record (``nasbench_only108.tfrecord``, ``nasbench_full.tfrecord``) is one
training run: its payload is the UTF-8 JSON list
``[module_hash, epochs, raw_adjacency, raw_operations, raw_metrics]`` where
``raw_adjacency`` is the row-major n x n 0/1 matrix as a string of digits, ``raw_operations``
the comma-separated op names, and ``raw_metrics`` base64 of a protobuf ``ModelMetrics``
message (``nasbench/lib/model_metrics.proto``, proto2)::

    ModelMetrics   { repeated EvaluationData evaluation_data = 1;
                     optional int32 trainable_parameters = 2;  optional double total_time = 3; }
    EvaluationData { optional double current_epoch = 1;  optional double training_time = 2;
                     optional double train_accuracy = 3;  optional double validation_accuracy = 4;
                     optional double test_accuracy = 5;  optional string checkpoint_path = 6; }

The wire-format decoder here is small and generic (varint, 64-bit, length-delimited, 32-bit);
unknown fields are skipped. ``trainable_parameters`` is read as a varint (``int32``, as the
published proto declares) or, if a writer stored it as a double, as a 64-bit float.

Speed: CRCs are checked in numpy, many records at a time (``crc32c_many``); JSON and
protobuf decoding are pure Python (a few tens of microseconds per record).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgnas.errors import DataError

_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_MASK_DELTA = 0xA282EAD8
_HEADER = 12  # uint64 length + uint32 length CRC
_FOOTER = 4  # uint32 payload CRC
_DEFAULT_CHUNK = 32 << 20


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE: tuple[int, ...] = _crc_table()
_TABLE_NP = np.array(_TABLE, dtype=np.uint32)
_TABLE_NP.setflags(write=False)


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """CRC-32C of ``data`` (pure Python; about 0.1 us per byte). ``crc32c(b"123456789")``
    is ``0xE3069283``."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def mask_crc(crc: int) -> int:
    """The TFRecord masking of a CRC-32C value."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """``mask_crc(crc32c(data))``, the value TFRecord stores."""
    return mask_crc(crc32c(data))


def crc32c_many(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """CRC-32C of many byte ranges of one buffer at once, vectorised over the ranges.

    ``buf`` is uint8 ``[N]``; ``starts`` and ``lengths`` are integer ``[k]``. Returns uint32
    ``[k]``, the CRC of ``buf[starts[i] : starts[i] + lengths[i]]``. One numpy step per byte
    position of the longest range, so it pays for many ranges of similar length (TFRecord
    payloads); raises ``ValueError`` for a range outside ``buf``.
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    if starts.shape != lengths.shape or starts.ndim != 1:
        raise ValueError("starts and lengths must be 1-D arrays of one length")
    if len(starts) and (
        starts.min() < 0 or lengths.min() < 0 or (starts + lengths).max() > len(buf)
    ):
        raise ValueError("a byte range lies outside the buffer")
    order = np.argsort(-lengths, kind="stable")
    s_starts, s_lengths = starts[order], lengths[order]
    state = np.full(len(starts), 0xFFFFFFFF, dtype=np.uint32)
    if len(starts):
        # active(t) = number of ranges longer than t; ranges are sorted longest first
        active = np.searchsorted(-s_lengths, -np.arange(int(s_lengths[0])), side="left")
        eight = np.uint32(8)
        low = np.uint32(0xFF)
        for t, k in enumerate(active.tolist()):
            byte = buf[s_starts[:k] + t]
            cur = state[:k]
            state[:k] = _TABLE_NP[(cur ^ byte) & low] ^ (cur >> eight)
    out = np.empty_like(state)
    out[order] = state ^ np.uint32(0xFFFFFFFF)
    return out


def _mask_many(crcs: np.ndarray) -> np.ndarray:
    c = crcs.astype(np.uint64)
    rotated = ((c >> np.uint64(15)) | (c << np.uint64(17))) & np.uint64(0xFFFFFFFF)
    return ((rotated + np.uint64(_MASK_DELTA)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def iter_tfrecords(
    path: str | os.PathLike[str], *, verify: bool = True, chunk_bytes: int = _DEFAULT_CHUNK
) -> Iterator[bytes]:
    """Yield the payload of every record of a TFRecord file, in file order.

    Reads ``chunk_bytes`` at a time and checks the CRCs of each chunk's records together
    (``verify=False`` skips them). ``DataError`` for a missing file, a truncated record, a
    CRC mismatch (naming the record index and byte offset), or trailing garbage.
    """
    p = Path(path)
    try:
        fh = open(p, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        raise DataError(f"cannot open TFRecord file {p}: {exc.strerror or exc}") from exc
    try:
        file_size = os.fstat(fh.fileno()).st_size
        pending = b""
        base = 0  # file offset of pending[0]
        index = 0  # index of the next record
        while True:
            data = fh.read(chunk_bytes)
            buf = pending + data if pending else data
            spans: list[tuple[int, int]] = []  # (payload start in buf, payload length)
            pos = 0
            while pos + _HEADER <= len(buf):
                (length,) = struct.unpack_from("<Q", buf, pos)
                end = pos + _HEADER + length + _FOOTER
                if base + end > file_size:
                    _raise_bad_tail(p, buf, pos, base, index + len(spans), verify)
                if end > len(buf):
                    break
                spans.append((pos + _HEADER, length))
                pos = end
            if spans:
                if verify:
                    _verify_chunk(p, buf, spans, base, index)
                for start, length in spans:
                    yield buf[start : start + length]
                index += len(spans)
            pending = buf[pos:]
            base += pos
            if not data:
                if pending:
                    raise DataError(
                        f"{p}: truncated record {index} at byte {base} "
                        f"({len(pending)} trailing bytes)"
                    )
                return
    finally:
        fh.close()


def _raise_bad_tail(p: Path, buf: bytes, pos: int, base: int, index: int, verify: bool) -> None:
    header = buf[pos : pos + 8]
    (stored,) = struct.unpack_from("<I", buf, pos + 8)
    if verify and masked_crc32c(header) != stored:
        raise DataError(f"{p}: record {index} at byte {base + pos}: length CRC mismatch")
    raise DataError(f"{p}: truncated record {index} at byte {base + pos}")


def _verify_chunk(
    p: Path, buf: bytes, spans: Sequence[tuple[int, int]], base: int, first_index: int
) -> None:
    arr = np.frombuffer(buf, dtype=np.uint8)
    starts = np.fromiter((s for s, _ in spans), dtype=np.int64, count=len(spans))
    lengths = np.fromiter((n for _, n in spans), dtype=np.int64, count=len(spans))
    header_starts = starts - _HEADER
    want_len = _read_u32(arr, header_starts + 8)
    got_len = _mask_many(crc32c_many(arr, header_starts, np.full_like(starts, 8)))
    want_data = _read_u32(arr, starts + lengths)
    got_data = _mask_many(crc32c_many(arr, starts, lengths))
    for name, want, got in (("length", want_len, got_len), ("payload", want_data, got_data)):
        bad = np.flatnonzero(want != got)
        if len(bad):
            i = int(bad[0])
            raise DataError(
                f"{p}: record {first_index + i} at byte {base + int(header_starts[i])}: "
                f"{name} CRC mismatch ({len(bad)} bad record(s) in this chunk)"
            )


def _read_u32(arr: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    b = arr[offsets[:, None] + np.arange(4)].astype(np.uint32)
    return b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16) | (b[:, 3] << 24)


# --- protobuf wire format ------------------------------------------------------------------

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``buf[pos]``; returns ``(value, next_pos)``.

    ``DataError`` if the buffer ends inside the varint or it is longer than 10 bytes.
    """
    value = 0
    shift = 0
    n = len(buf)
    while True:
        if pos >= n:
            raise DataError("protobuf: truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise DataError("protobuf: varint longer than 10 bytes")


def iter_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field_number, wire_type, value)`` of every field of a protobuf message.

    ``value`` is an ``int`` for varints and ``bytes`` otherwise (8 bytes for 64-bit fields,
    4 for 32-bit, the payload for length-delimited ones). ``DataError`` for a truncated
    message, a field number 0, or a group / unknown wire type.
    """
    pos = 0
    n = len(buf)
    while pos < n:
        key = buf[pos]
        if key < 0x80:  # one-byte key: every field number below 16
            pos += 1
        else:
            key, pos = read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise DataError("protobuf: field number 0")
        if wire == FIXED64:
            size = 8
        elif wire == VARINT:
            value, pos = read_varint(buf, pos)
            yield field, wire, value
            continue
        elif wire == LENGTH_DELIMITED:
            size, pos = read_varint(buf, pos)
        elif wire == FIXED32:
            size = 4
        else:
            raise DataError(f"protobuf: unsupported wire type {wire} (field {field})")
        end = pos + size
        if end > n:
            raise DataError(f"protobuf: field {field} runs past the end of the message")
        yield field, wire, buf[pos:end]
        pos = end


_DOUBLE = struct.Struct("<d")


def _as_double(field: int, wire: int, value: int | bytes) -> float:
    if wire == FIXED64 and isinstance(value, bytes):
        return float(_DOUBLE.unpack(value)[0])
    raise DataError(f"protobuf: field {field} should be a double (wire type 1), got {wire}")


def _as_int(field: int, wire: int, value: int | bytes) -> int:
    if wire == VARINT and isinstance(value, int):
        return value - (1 << 64) if value >= 1 << 63 else value
    if wire == FIXED64 and isinstance(value, bytes):
        return int(round(_DOUBLE.unpack(value)[0]))
    raise DataError(f"protobuf: field {field} should be an integer, got wire type {wire}")


@dataclass(frozen=True)
class EvaluationData:
    """One evaluation during training (NB101 ``EvaluationData``). Times in seconds,
    accuracies as fractions in [0, 1]; absent fields are 0 (proto2 defaults)."""

    current_epoch: float = 0.0
    training_time: float = 0.0
    train_accuracy: float = 0.0
    validation_accuracy: float = 0.0
    test_accuracy: float = 0.0
    checkpoint_path: str = ""


@dataclass(frozen=True)
class ModelMetrics:
    """NB101 ``ModelMetrics``: the evaluations of one run (step 0, halfway, final for the
    published files), the trainable parameter count and the total time in seconds."""

    evaluation_data: tuple[EvaluationData, ...] = ()
    trainable_parameters: int = 0
    total_time: float = 0.0


_EVAL_DOUBLES = {
    1: "current_epoch",
    2: "training_time",
    3: "train_accuracy",
    4: "validation_accuracy",
    5: "test_accuracy",
}


def decode_evaluation_data(buf: bytes) -> EvaluationData:
    """Decode an ``EvaluationData`` message (``DataError`` if malformed)."""
    doubles: dict[str, float] = {}
    checkpoint_path = ""
    unpack = _DOUBLE.unpack
    for field, wire, value in iter_fields(buf):
        name = _EVAL_DOUBLES.get(field)
        if name is not None:
            # iter_fields yields bytes for every FIXED64 field: the isinstance is for the types
            if wire == FIXED64 and isinstance(value, bytes):
                doubles[name] = unpack(value)[0]
            else:
                doubles[name] = _as_double(field, wire, value)
        elif field == 6:
            if wire != LENGTH_DELIMITED or not isinstance(value, bytes):
                raise DataError("protobuf: checkpoint_path should be a string")
            checkpoint_path = value.decode("utf-8", errors="replace")
    return EvaluationData(**doubles, checkpoint_path=checkpoint_path)


def decode_model_metrics(buf: bytes) -> ModelMetrics:
    """Decode a ``ModelMetrics`` message (``DataError`` if malformed)."""
    evals: list[EvaluationData] = []
    params = 0
    total = 0.0
    for field, wire, value in iter_fields(buf):
        if field == 1:
            if wire != LENGTH_DELIMITED or not isinstance(value, bytes):
                raise DataError("protobuf: evaluation_data should be a message")
            evals.append(decode_evaluation_data(value))
        elif field == 2:
            params = _as_int(field, wire, value)
        elif field == 3:
            total = _as_double(field, wire, value)
    return ModelMetrics(tuple(evals), params, total)


# --- NAS-Bench-101 records -------------------------------------------------------------------


@dataclass(frozen=True)
class NB101Record:
    """One NB101 training run as stored in the official file.

    ``matrix`` is the n x n adjacency matrix (tuple of rows) and ``ops`` the n op names
    (``"input"``, ``"conv3x3-bn-relu"``, ..., ``"output"``), as stored (not re-pruned).
    """

    module_hash: str
    epochs: int
    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]
    metrics: ModelMetrics


def parse_nb101_record(payload: bytes) -> NB101Record:
    """Parse one NB101 TFRecord payload (see the module docstring); ``DataError`` if it is
    not one."""
    try:
        row = json.loads(payload.decode("utf-8"))
        module_hash, epochs, raw_adjacency, raw_operations, raw_metrics = row
        metrics_bytes = base64.b64decode(raw_metrics, validate=True)
    except (UnicodeDecodeError, ValueError, TypeError, binascii.Error) as exc:
        raise DataError(f"not a NAS-Bench-101 record: {exc}") from exc
    if not (
        isinstance(module_hash, str)
        and isinstance(epochs, int)
        and isinstance(raw_adjacency, str)
        and isinstance(raw_operations, str)
    ):
        raise DataError("not a NAS-Bench-101 record: unexpected field types")
    n = int(round(len(raw_adjacency) ** 0.5))
    if n * n != len(raw_adjacency) or not set(raw_adjacency) <= {"0", "1"}:
        raise DataError(f"NAS-Bench-101 record {module_hash}: bad adjacency {raw_adjacency!r}")
    digits = [int(c) for c in raw_adjacency]
    matrix = tuple(tuple(digits[i * n : (i + 1) * n]) for i in range(n))
    ops = tuple(raw_operations.split(","))
    if len(ops) != n:
        raise DataError(
            f"NAS-Bench-101 record {module_hash}: {len(ops)} ops for a {n}-vertex matrix"
        )
    return NB101Record(module_hash, epochs, matrix, ops, decode_model_metrics(metrics_bytes))


def iter_nb101_records(
    path: str | os.PathLike[str], *, verify: bool = True, chunk_bytes: int = _DEFAULT_CHUNK
) -> Iterator[NB101Record]:
    """Every record of an official NB101 TFRecord file, in file order (``DataError`` on
    corruption; the message names the record index)."""
    for index, payload in enumerate(iter_tfrecords(path, verify=verify, chunk_bytes=chunk_bytes)):
        try:
            yield parse_nb101_record(payload)
        except DataError as exc:
            raise DataError(f"{path}: record {index}: {exc}") from exc
