"""TFRecord shards pass the writer contract; framing and protobuf checked by hand."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from geoharmony.writers import _tfrecord as tfr
from geoharmony.writers.tfrecord_writer import TFRecordWriter, decode_array, encode_patch
from writers.contract import SPECS, WriterContract, assert_same, make_arrays, write_task


class TestTFRecordWriter(WriterContract):
    writer_cls = TFRecordWriter


@pytest.fixture
def shards(tmp_path: Path) -> Path:
    w = TFRecordWriter(tmp_path)
    w.create(SPECS, 10, patches_per_shard=4, compression="zstd")
    for a, b in [(0, 8), (8, 10)]:
        write_task(TFRecordWriter, tmp_path, a, make_arrays(a, b))
    return tmp_path / "patches.tfrecord"


@pytest.mark.parametrize(
    ("data", "crc"),
    [  # RFC 3720 (iSCSI) test vectors
        (b"123456789", 0xE3069283),
        (b"\x00" * 32, 0x8A9136AA),
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (b"", 0x0),
    ],
)
def test_crc32c_vectors(data: bytes, crc: int) -> None:
    assert tfr.crc32c(data) == crc
    assert tfr.crc32c_python(data) == crc


def test_crc32c_python_fallback_matches() -> None:
    data = np.random.default_rng(0).bytes(1000)
    assert tfr.crc32c_python(data) == tfr.crc32c(data)


def test_framing() -> None:
    rec = tfr.frame_record(b"hello")
    length, length_crc = struct.unpack("<QI", rec[:12])
    assert length == 5 and rec[12:17] == b"hello"
    assert length_crc == tfr.masked_crc32c(rec[:8])
    assert struct.unpack("<I", rec[17:])[0] == tfr.masked_crc32c(b"hello")
    crc = tfr.crc32c(b"hello")
    assert tfr.masked_crc32c(b"hello") == ((crc >> 15 | crc << 17) + 0xA282EAD8) & 0xFFFFFFFF


def test_protobuf_round_trip() -> None:
    feats: dict[str, tfr.FeatureValue] = {
        "b": [b"x", b"", bytes(range(256))],
        "i": np.array([0, 1, -1, 2**63 - 1, -(2**63), 300], dtype=np.int64),
        "f": np.array([1.5, -0.0, np.inf], dtype=np.float32),
        "e": np.array([], dtype=np.int64),
    }
    back = tfr.decode_example(tfr.encode_example(feats))
    assert back["b"] == feats["b"]
    for k in ("i", "f", "e"):
        np.testing.assert_array_equal(back[k], feats[k])


def test_decoder_reads_unpacked_repeated_fields() -> None:
    """Other writers may emit unpacked int64 values (wire type 0, one per value)."""
    int64_list = b"\x08\x07\x08\x09"  # value = 7, value = 9, unpacked
    feature = b"\x1a" + bytes([len(int64_list)]) + int64_list
    entry = b"\x0a\x01k\x12" + bytes([len(feature)]) + feature
    features = b"\x0a" + bytes([len(entry)]) + entry
    example = b"\x0a" + bytes([len(features)]) + features
    np.testing.assert_array_equal(tfr.decode_example(example)["k"], [7, 9])


def test_records_hold_raw_bytes_shape_and_dtype(shards: Path) -> None:
    with open(shards / "shard-000002.tfrecord", "rb") as f:
        rec = tfr.read_record(f)
        assert rec is not None
        feats = tfr.decode_example(rec)
        assert tfr.read_record(f) is not None and tfr.read_record(f) is None
    want = make_arrays(8, 10)
    np.testing.assert_array_equal(feats["patch_index"], [8])
    assert feats["f32/dtype"] == [b"float32"]
    np.testing.assert_array_equal(feats["f32/shape"], [2, 4, 3])
    assert feats["u16"] == [want["u16"][0].astype("<u2").tobytes()]
    for name in SPECS:
        assert_same(decode_array(feats, name), want[name][0], name)
    assert rec == encode_patch(8, {k: v[0] for k, v in want.items()})


def test_index_files_and_scan_fallback(shards: Path) -> None:
    lines = (shards / "shard-000001.idx").read_text().split("\n")
    size = (shards / "shard-000001.tfrecord").stat().st_size
    spans = [tuple(map(int, line.split())) for line in lines if line]
    assert len(spans) == 4 and spans[0][0] == 0 and sum(s for _, s in spans) == size
    for p in shards.glob("*.idx"):
        p.unlink()
    st = TFRecordWriter.reader(shards.parent)
    for name in SPECS:
        assert_same(
            st.read(name, slice(4, 10)),
            np.concatenate([make_arrays(0, 8)[name][4:], make_arrays(8, 10)[name]]),
            name,
        )


def test_corruption_is_detected(shards: Path) -> None:
    path = shards / "shard-000000.tfrecord"
    raw = bytearray(path.read_bytes())
    raw[40] ^= 0xFF
    path.write_bytes(bytes(raw))
    st = TFRecordWriter.reader(shards.parent)
    with pytest.raises(ValueError, match="checksum mismatch"):
        st.read("u8", 0)
