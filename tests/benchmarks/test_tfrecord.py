"""TFRecord framing, the protobuf decoder and NB101 records, on small files the tests write.

The writer side (CRC-32C, TFRecord framing, protobuf encoding) is implemented here again,
independently of the library, so a bug cannot cancel itself out.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from ecgnas.benchmarks import tfrecord as tfr
from ecgnas.benchmarks.nb101_table import NB101Evaluator, NB101Table
from ecgnas.errors import DataError
from ecgnas.spaces.nb101 import NB101Space, module_hash

# --- an independent writer ------------------------------------------------------------------


def ref_crc32c(data: bytes) -> int:
    """Bit-by-bit CRC-32C (Castagnoli, reflected 0x82F63B78)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def ref_masked(data: bytes) -> int:
    crc = ref_crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) % (1 << 32)


def frame(payload: bytes) -> bytes:
    header = struct.pack("<Q", len(payload))
    return (
        header
        + struct.pack("<I", ref_masked(header))
        + payload
        + struct.pack("<I", ref_masked(payload))
    )


def write_records(path: Path, payloads: list[bytes]) -> list[int]:
    """Write a TFRecord file; returns the byte offset of each record."""
    offsets, blob = [], b""
    for p in payloads:
        offsets.append(len(blob))
        blob += frame(p)
    path.write_bytes(blob)
    return offsets


def pb_varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb_key(field: int, wire: int) -> bytes:
    return pb_varint(field << 3 | wire)


def pb_double(field: int, x: float) -> bytes:
    return pb_key(field, 1) + struct.pack("<d", x)


def pb_bytes(field: int, b: bytes) -> bytes:
    return pb_key(field, 2) + pb_varint(len(b)) + b


def pb_evaluation(epoch: float, time: float, train: float, val: float, test: float) -> bytes:
    return (
        pb_double(1, epoch)
        + pb_double(2, time)
        + pb_double(3, train)
        + pb_double(4, val)
        + pb_double(5, test)
        + pb_bytes(6, b"/ckpt/model.ckpt-1")
    )


def pb_metrics(evals: list[bytes], params: int, total: float) -> bytes:
    return (
        b"".join(pb_bytes(1, e) for e in evals)
        + pb_key(2, 0)
        + pb_varint(params)
        + pb_double(3, total)
    )


def nb101_payload(
    matrix: tuple[tuple[int, ...], ...],
    op_names: list[str],
    *,
    epochs: int = 108,
    val: float = 0.9,
    test: float = 0.89,
    time: float = 1000.0,
    params: int = 12345,
    digest: str | None = None,
) -> bytes:
    codes = {"input": 0, "conv1x1-bn-relu": 1, "conv3x3-bn-relu": 2, "maxpool3x3": 3, "output": 4}
    if digest is None:
        digest = module_hash(matrix, [codes[o] for o in op_names])
    evals = [
        pb_evaluation(0.0, 0.0, 0.1, 0.1, 0.1),
        pb_evaluation(epochs / 2, time / 2, 0.7, val - 0.1, test - 0.1),
        pb_evaluation(float(epochs), time, 1.0, val, test),
    ]
    metrics = base64.b64encode(pb_metrics(evals, params, time * 1.1)).decode()
    adjacency = "".join(str(v) for row in matrix for v in row)
    return json.dumps([digest, epochs, adjacency, ",".join(op_names), metrics]).encode()


CELL_A = (((0, 1, 1), (0, 0, 1), (0, 0, 0)), ["input", "conv3x3-bn-relu", "output"])
CELL_B = (((0, 1, 0), (0, 0, 1), (0, 0, 0)), ["input", "maxpool3x3", "output"])
CELL_C = (
    ((0, 1, 1, 0), (0, 0, 0, 1), (0, 0, 0, 1), (0, 0, 0, 0)),
    ["input", "conv1x1-bn-relu", "conv3x3-bn-relu", "output"],
)


def hash_of(cell: tuple) -> str:
    codes = {"input": 0, "conv1x1-bn-relu": 1, "conv3x3-bn-relu": 2, "maxpool3x3": 3, "output": 4}
    return module_hash(cell[0], [codes[o] for o in cell[1]])


def official_like_file(path: Path) -> None:
    """3 cells x 3 repeats at 108 epochs (C has only 2), plus one 4-epoch record of A."""
    payloads = []
    for rep in range(3):
        for k, cell in enumerate((CELL_A, CELL_B, CELL_C)):
            if cell is CELL_C and rep == 2:
                continue
            payloads.append(
                nb101_payload(
                    *cell,
                    val=0.90 + 0.01 * k + 0.001 * rep,
                    test=0.80 + 0.01 * k + 0.001 * rep,
                    time=1000.0 * (k + 1) + rep,
                    params=100 * (k + 1),
                )
            )
    payloads.append(nb101_payload(*CELL_A, epochs=4, val=0.5, test=0.4, time=40.0, params=100))
    write_records(path, payloads)


# --- CRC ------------------------------------------------------------------------------------


def test_crc32c_known_vectors() -> None:
    vectors = {
        b"123456789": 0xE3069283,
        bytes(32): 0x8A9136AA,
        b"\xff" * 32: 0x62A8AB43,
        bytes(range(32)): 0x46DD794E,
        b"": 0,
    }
    for data, want in vectors.items():
        assert tfr.crc32c(data) == want
        assert ref_crc32c(data) == want
    assert tfr.masked_crc32c(b"") == 0xA282EAD8
    for data in vectors:
        assert tfr.masked_crc32c(data) == ref_masked(data)


def test_crc32c_many_matches_one_at_a_time() -> None:
    rng = np.random.default_rng(0)
    buf = rng.integers(0, 256, size=5000, dtype=np.uint8)
    starts = rng.integers(0, 4000, size=300)
    lengths = rng.integers(0, 1000, size=300)
    lengths[:5] = 0
    got = tfr.crc32c_many(buf, starts, lengths)
    raw = buf.tobytes()
    assert got.dtype == np.uint32
    assert got.tolist() == [tfr.crc32c(raw[s : s + n]) for s, n in zip(starts, lengths)]
    assert tfr.crc32c_many(buf, np.array([], int), np.array([], int)).shape == (0,)
    with pytest.raises(ValueError):
        tfr.crc32c_many(buf, np.array([4990]), np.array([20]))


# --- protobuf -------------------------------------------------------------------------------


def test_decode_model_metrics() -> None:
    evals = [pb_evaluation(0, 0, 0.1, 0.1, 0.1), pb_evaluation(108, 1769.5, 1.0, 0.924, 0.921)]
    buf = (
        pb_metrics(evals, 8_555_530, 1900.25)
        + pb_key(15, 0)
        + pb_varint(7)  # unknown fields are skipped
        + pb_bytes(16, b"xyz")
        + pb_key(17, 5)
        + b"\x00\x00\x80\x3f"
    )
    m = tfr.decode_model_metrics(buf)
    assert m.trainable_parameters == 8_555_530 and m.total_time == 1900.25
    assert len(m.evaluation_data) == 2
    final = m.evaluation_data[-1]
    assert (final.current_epoch, final.training_time) == (108.0, 1769.5)
    assert (final.train_accuracy, final.validation_accuracy, final.test_accuracy) == (
        1.0,
        0.924,
        0.921,
    )
    assert final.checkpoint_path == "/ckpt/model.ckpt-1"
    # absent fields take the proto2 defaults
    assert tfr.decode_model_metrics(b"") == tfr.ModelMetrics()


def test_decode_integer_variants() -> None:
    as_double = pb_double(2, 1234.0)
    assert tfr.decode_model_metrics(as_double).trainable_parameters == 1234
    negative = pb_key(2, 0) + pb_varint(-5)  # int32 -5 is a 10-byte varint
    assert len(negative) == 11
    assert tfr.decode_model_metrics(negative).trainable_parameters == -5
    big = pb_key(2, 0) + pb_varint(2**31 - 1)
    assert tfr.decode_model_metrics(big).trainable_parameters == 2**31 - 1


@pytest.mark.parametrize(
    ("buf", "why"),
    [
        (pb_bytes(1, b"\x09\x00"), "past the end"),  # a double cut short inside a message
        (pb_key(2, 0) + b"\x80", "truncated varint"),
        (b"\x80" * 11 + b"\x01", "longer than 10"),
        (pb_key(4, 3), "wire type 3"),  # groups are not supported
        (b"\x00\x00", "field number 0"),
        (pb_key(3, 0) + pb_varint(1), "should be a double"),
        (pb_key(1, 0) + pb_varint(1), "should be a message"),
    ],
)
def test_decode_rejects_malformed(buf: bytes, why: str) -> None:
    with pytest.raises(DataError, match=why):
        tfr.decode_model_metrics(buf)


def test_decoder_agrees_with_google_protobuf() -> None:
    """Cross-check field numbers and wire types against protobuf's own encoder (the message
    types are declared here from model_metrics.proto)."""
    pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="mm_test.proto", package="nasbench_test")
    T = descriptor_pb2.FieldDescriptorProto  # noqa: N806
    ev = fdp.message_type.add(name="EvaluationData")
    for number, name in enumerate(
        ["current_epoch", "training_time", "train_accuracy", "validation_accuracy"], start=1
    ):
        ev.field.add(name=name, number=number, type=T.TYPE_DOUBLE, label=T.LABEL_OPTIONAL)
    ev.field.add(name="test_accuracy", number=5, type=T.TYPE_DOUBLE, label=T.LABEL_OPTIONAL)
    ev.field.add(name="checkpoint_path", number=6, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    mm = fdp.message_type.add(name="ModelMetrics")
    mm.field.add(
        name="evaluation_data",
        number=1,
        type=T.TYPE_MESSAGE,
        label=T.LABEL_REPEATED,
        type_name=".nasbench_test.EvaluationData",
    )
    mm.field.add(name="trainable_parameters", number=2, type=T.TYPE_INT32, label=T.LABEL_OPTIONAL)
    mm.field.add(name="total_time", number=3, type=T.TYPE_DOUBLE, label=T.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("nasbench_test.ModelMetrics"))
    msg = cls(trainable_parameters=3_468_426, total_time=2001.5)
    for k in range(3):
        msg.evaluation_data.add(
            current_epoch=54.0 * k,
            training_time=700.25 * k,
            train_accuracy=0.5 + 0.1 * k,
            validation_accuracy=0.4 + 0.2 * k,
            test_accuracy=0.3 + 0.2 * k,
            checkpoint_path=f"m-{k}",
        )
    ours = tfr.decode_model_metrics(msg.SerializeToString())
    assert ours.trainable_parameters == 3_468_426 and ours.total_time == 2001.5
    for k, e in enumerate(ours.evaluation_data):
        assert e.current_epoch == 54.0 * k and e.training_time == 700.25 * k
        assert e.validation_accuracy == pytest.approx(0.4 + 0.2 * k, abs=0)
        assert e.test_accuracy == pytest.approx(0.3 + 0.2 * k, abs=0)
        assert e.checkpoint_path == f"m-{k}"


# --- TFRecord framing -----------------------------------------------------------------------


def test_read_back_records(tmp_path: Path) -> None:
    payloads = [b"", b"a", b"hello world" * 50, bytes(range(256)) * 3]
    path = tmp_path / "r.tfrecord"
    write_records(path, payloads)
    assert list(tfr.iter_tfrecords(path)) == payloads
    # records straddling tiny chunks come back the same
    assert list(tfr.iter_tfrecords(path, chunk_bytes=7)) == payloads
    (tmp_path / "empty.tfrecord").write_bytes(b"")
    assert list(tfr.iter_tfrecords(tmp_path / "empty.tfrecord")) == []
    with pytest.raises(DataError, match="cannot open"):
        list(tfr.iter_tfrecords(tmp_path / "missing.tfrecord"))


def test_corrupt_payload_crc(tmp_path: Path) -> None:
    path = tmp_path / "r.tfrecord"
    payloads = [b"first record", b"second record", b"third"]
    offsets = write_records(path, payloads)
    blob = bytearray(path.read_bytes())
    blob[offsets[1] + 12 + 3] ^= 0x01  # one bit of the second payload
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match=rf"record 1 at byte {offsets[1]}: payload CRC mismatch"):
        list(tfr.iter_tfrecords(path))
    # without verification the damaged bytes come through
    got = list(tfr.iter_tfrecords(path, verify=False))
    assert got[0] == payloads[0] and got[1] != payloads[1] and got[2] == payloads[2]


def test_corrupt_length_crc_and_length(tmp_path: Path) -> None:
    path = tmp_path / "r.tfrecord"
    offsets = write_records(path, [b"one", b"two", b"three"])
    good = path.read_bytes()
    blob = bytearray(good)
    blob[offsets[2] + 8] ^= 0xFF  # the stored CRC of record 2's length
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="record 2 .*length CRC mismatch"):
        list(tfr.iter_tfrecords(path))
    blob = bytearray(good)
    blob[offsets[1] + 6] = 0x7F  # a huge length in record 1
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="record 1 .*length CRC mismatch"):
        list(tfr.iter_tfrecords(path))


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "r.tfrecord"
    write_records(path, [b"one", b"two", b"three"])
    good = path.read_bytes()
    path.write_bytes(good[:-3])
    with pytest.raises(DataError, match="truncated record 2"):
        list(tfr.iter_tfrecords(path))
    path.write_bytes(good + b"\x01\x02\x03")  # trailing bytes shorter than a header
    with pytest.raises(DataError, match="truncated record 3"):
        list(tfr.iter_tfrecords(path))


# --- NB101 records and the table built from them --------------------------------------------


def test_parse_nb101_records(tmp_path: Path) -> None:
    path = tmp_path / "nb.tfrecord"
    official_like_file(path)
    records = list(tfr.iter_nb101_records(path))
    assert len(records) == 9
    first = records[0]
    assert first.module_hash == hash_of(CELL_A) and first.epochs == 108
    assert first.matrix == CELL_A[0] and first.ops == tuple(CELL_A[1])
    assert first.metrics.trainable_parameters == 100
    assert first.metrics.evaluation_data[-1].validation_accuracy == pytest.approx(0.90)
    assert records[-1].epochs == 4


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"not json", "not a NAS-Bench-101 record"),
        (json.dumps(["h", 108, "0110", "a,b"]).encode(), "not a NAS-Bench-101 record"),
        (json.dumps(["h", 108, "011", "input,output", ""]).encode(), "bad adjacency"),
        (json.dumps(["h", 108, "0100", "input", ""]).encode(), "1 ops for a 2-vertex"),
        (json.dumps(["h", 108, "0100", "input,output", "@@"]).encode(), "not a NAS-Bench"),
        (json.dumps([1, 108, "0100", "input,output", ""]).encode(), "unexpected field types"),
    ],
)
def test_bad_nb101_payloads(tmp_path: Path, payload: bytes, why: str) -> None:
    path = tmp_path / "bad.tfrecord"
    write_records(path, [nb101_payload(*CELL_A), payload])
    with pytest.raises(DataError, match=rf"record 1: .*{why}"):
        list(tfr.iter_nb101_records(path))


def test_table_from_tfrecord(tmp_path: Path) -> None:
    path = tmp_path / "nasbench_only108.tfrecord"
    official_like_file(path)
    t = NB101Table.from_tfrecord(path, check_hashes=True)
    assert len(t) == 3 and t.n_repeats == 3 and t.has_validation and t.flops is None
    assert bool(np.all(t.hashes[:-1] < t.hashes[1:]))
    space = NB101Space()
    for k, cell in enumerate((CELL_A, CELL_B, CELL_C)):
        row = t.row_of(hash_of(cell))
        assert space.canonical(t.arch(row)) == hash_of(cell)
        assert t.trainable_params[row] == 100 * (k + 1)
        n_rep = 2 if cell is CELL_C else 3
        want_val = [0.90 + 0.01 * k + 0.001 * r for r in range(n_rep)]
        np.testing.assert_allclose(t.val_acc[row, :n_rep], want_val, rtol=1e-6)
        np.testing.assert_allclose(t.test_acc[row, :n_rep], [v - 0.1 for v in want_val], rtol=1e-6)
        np.testing.assert_allclose(
            t.train_time[row, :n_rep], [1000.0 * (k + 1) + r for r in range(n_rep)]
        )
        if cell is CELL_C:
            assert np.isnan(t.val_acc[row, 2]) and np.isnan(t.train_time[row, 2])
    short = NB101Table.from_tfrecord(path, epochs=4)
    assert len(short) == 1 and short.n_repeats == 1
    assert short.val_acc[0, 0] == pytest.approx(0.5) and short.train_time[0, 0] == 40.0
    with pytest.raises(DataError, match="no NAS-Bench-101 record trained for 36 epochs"):
        NB101Table.from_tfrecord(path, epochs=36)

    ev = NB101Evaluator(t)
    res = ev.evaluate(space.make(*_codes(CELL_C)))
    assert res.score == pytest.approx(100 * (0.92 + 0.0005), abs=1e-4)  # mean of 2 repeats
    assert res.cost_seconds == pytest.approx(3000.5)
    assert res.metrics["cost_kind"] == "table" and res.metrics["signal"] == "val_acc_108_mean"
    with pytest.raises(DataError, match="repeat 2 missing"):
        NB101Evaluator(t, repeat=2).evaluate(space.make(*_codes(CELL_C)))


def _codes(cell: tuple) -> tuple:
    codes = {"input": 0, "conv1x1-bn-relu": 1, "conv3x3-bn-relu": 2, "maxpool3x3": 3, "output": 4}
    return cell[0], [codes[o] for o in cell[1]]


def test_table_from_bad_records(tmp_path: Path) -> None:
    path = tmp_path / "x.tfrecord"
    write_records(path, [nb101_payload(*CELL_A, digest="0" * 32)])
    assert len(NB101Table.from_tfrecord(path)) == 1  # hashes are trusted by default
    with pytest.raises(DataError, match="hashes to"):
        NB101Table.from_tfrecord(path, check_hashes=True)
    write_records(path, [nb101_payload(CELL_A[0], ["input", "conv5x5", "output"], digest="1")])
    with pytest.raises(DataError, match="unknown op 'conv5x5'"):
        NB101Table.from_tfrecord(path)
    lower = ((0, 0, 0), (1, 0, 1), (0, 0, 0))
    write_records(path, [nb101_payload(lower, CELL_A[1], digest="2")])
    with pytest.raises(DataError, match="upper-triangular"):
        NB101Table.from_tfrecord(path)


def test_load_prefers_and_caches_the_tfrecord(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, cache = tmp_path / "data", tmp_path / "cache"
    (data / "nasbench").mkdir(parents=True)
    official_like_file(data / "nasbench" / "nasbench_only108.tfrecord")
    first = NB101Table.load(data, cache)
    assert first.has_validation and len(first) == 3
    cached = list((cache / "nasbench").glob("nb101_only108-*.npz"))
    assert len(cached) == 1

    def no_parse(*args: object, **kwargs: object) -> NB101Table:
        raise AssertionError("the cache should have been used")

    with monkeypatch.context() as m:
        m.setattr(NB101Table, "from_tfrecord", classmethod(no_parse))
        second = NB101Table.load(data, cache)
    assert np.array_equal(second.val_acc, first.val_acc, equal_nan=True)
    assert second.source == str(data / "nasbench" / "nasbench_only108.tfrecord")

    cached[0].write_bytes(b"corrupt")  # a damaged cache entry is rebuilt
    third = NB101Table.load(data, cache)
    assert np.array_equal(third.train_time, first.train_time, equal_nan=True)
    assert NB101Table.from_npz(cached[0]).has_validation
    assert [p.name for p in (cache / "nasbench").iterdir()] == [cached[0].name]  # no temp files

    with pytest.raises(DataError, match="nb101.npz"):
        NB101Table.load(data, cache, source="npz")
