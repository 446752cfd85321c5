"""TFRecord framing and ``tf.train.Example`` encoding without TensorFlow or protobuf.

A TFRecord file is a sequence of records, each framed as::

    uint64 length (little endian)
    uint32 masked_crc32c(length bytes)
    byte   data[length]
    uint32 masked_crc32c(data)

and a record of a TF dataset is usually a serialized ``tf.train.Example``::

    message Example   { Features features = 1; }
    message Features  { map<string, Feature> feature = 1; }
    message Feature   { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
                                     Int64List int64_list = 3; } }
    message BytesList { repeated bytes value = 1; }
    message FloatList { repeated float value = 1 [packed = true]; }
    message Int64List { repeated int64 value = 1 [packed = true]; }

:func:`encode_example` writes each map entry exactly as protobuf does (packed repeated
numbers, key then value), in key order so the same features give the same bytes (protobuf
leaves the order of map entries unspecified; readers accept any). :func:`decode_example`
reads packed and unpacked repeated fields and skips unknown fields. Only numpy and the
standard library are used (``google_crc32c`` when importable, for speed).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import BinaryIO

import numpy as np

#: A feature value: bytes (BytesList), a float array (FloatList) or an int array (Int64List).
FeatureValue = Sequence[bytes] | np.ndarray

_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")


# -- crc32c ------------------------------------------------------------------------------
def _make_table() -> list[int]:
    poly = 0x82F63B78  # Castagnoli, reflected
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()


def crc32c_python(data: bytes | memoryview) -> int:
    """CRC-32C (Castagnoli) of ``data``, in pure Python (slow; a fallback and a test oracle).

    Examples
    --------
    >>> hex(crc32c_python(b"123456789"))
    '0xe3069283'
    """
    crc = _U32
    table = _TABLE
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ _U32


try:  # google-crc32c comes with zarr>=3 (C implementation, hardware accelerated)
    import google_crc32c as _gcrc

    def crc32c(data: bytes | memoryview) -> int:
        """CRC-32C (Castagnoli) of ``data``."""
        return int(_gcrc.value(bytes(data)))

except ImportError:  # pragma: no cover - exercised only without google-crc32c
    crc32c = crc32c_python


def masked_crc32c(data: bytes | memoryview) -> int:
    """The masked CRC-32C of TFRecord framing: rotate right by 15 and add a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32


# -- framing -----------------------------------------------------------------------------
def frame_record(data: bytes) -> bytes:
    """One TFRecord record (header, data, footer) around ``data``."""
    length = struct.pack("<Q", len(data))
    return b"".join(
        (length, struct.pack("<I", masked_crc32c(length)), data, _FOOTER.pack(masked_crc32c(data)))
    )


def read_record(f: BinaryIO, *, verify: bool = True) -> bytes | None:
    """Read the next record's data from an open TFRecord file (None at the end).

    Raises
    ------
    ValueError
        If the file is truncated or (``verify``) a checksum does not match.
    """
    head = f.read(_HEADER.size)
    if not head:
        return None
    if len(head) != _HEADER.size:
        raise ValueError("truncated TFRecord header")
    length, length_crc = _HEADER.unpack(head)
    if verify and masked_crc32c(head[:8]) != length_crc:
        raise ValueError("corrupt TFRecord: length checksum mismatch")
    data = f.read(length)
    foot = f.read(_FOOTER.size)
    if len(data) != length or len(foot) != _FOOTER.size:
        raise ValueError("truncated TFRecord record")
    if verify and masked_crc32c(data) != _FOOTER.unpack(foot)[0]:
        raise ValueError("corrupt TFRecord: data checksum mismatch")
    return data


def record_spans(f: BinaryIO) -> Iterator[tuple[int, int]]:
    """``(offset, framed_length)`` of every record, reading only the headers."""
    f.seek(0, 2)
    size = f.tell()
    offset = 0
    while offset < size:
        f.seek(offset)
        head = f.read(_HEADER.size)
        if len(head) != _HEADER.size:
            raise ValueError("truncated TFRecord header")
        (length,) = struct.unpack("<Q", head[:8])
        framed = _HEADER.size + length + _FOOTER.size
        if offset + framed > size:
            raise ValueError("truncated TFRecord record")
        yield offset, framed
        offset += framed


# -- protobuf ------------------------------------------------------------------------------
def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64: two's complement, 10 bytes
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _feature(value: FeatureValue) -> bytes:
    if isinstance(value, np.ndarray):
        if np.issubdtype(value.dtype, np.floating):
            packed = value.astype("<f4", copy=False).tobytes()
            return _field(2, _field(1, packed) if len(value) else b"")
        if np.issubdtype(value.dtype, np.integer) or value.dtype == np.bool_:
            ints = b"".join(_varint(int(v)) for v in value.reshape(-1).tolist())
            return _field(3, _field(1, ints) if len(value) else b"")
        raise TypeError(f"unsupported feature array dtype {value.dtype}")
    return _field(1, b"".join(_field(1, bytes(v)) for v in value))


def encode_example(features: Mapping[str, FeatureValue]) -> bytes:
    """Serialize a ``tf.train.Example`` (map entries sorted by key).

    Parameters
    ----------
    features
        Name -> a sequence of ``bytes`` (BytesList), a float array (FloatList, stored as
        float32) or an integer array (Int64List).

    Examples
    --------
    >>> encode_example({"a": np.array([1])}).hex()
    '0a0c0a0a0a016112051a030a0101'
    """
    entries = b"".join(
        _field(1, _field(1, key.encode()) + _field(2, _feature(features[key])))
        for key in sorted(features)
    )
    return _field(1, entries)


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated protobuf varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("protobuf varint longer than 10 bytes")


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """``(field number, wire type, value)`` of a message; skips groups-free unknown types."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | memoryview
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 2:
            size, pos = _read_varint(buf, pos)
            if pos + size > len(buf):
                raise ValueError("truncated protobuf field")
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _decode_feature(buf: memoryview) -> FeatureValue:
    for number, _, kind in _fields(buf):
        if not isinstance(kind, memoryview):
            continue
        if number == 1:
            return [bytes(v) for n, _, v in _fields(kind) if n == 1 and isinstance(v, memoryview)]
        if number == 2:
            chunks = [bytes(v) for n, _, v in _fields(kind) if n == 1 and isinstance(v, memoryview)]
            return np.frombuffer(b"".join(chunks), dtype="<f4").astype(np.float32)
        if number == 3:
            ints: list[int] = []
            for n, wire, v in _fields(kind):
                if n != 1:
                    continue
                if wire == 0 and isinstance(v, int):
                    ints.append(v)
                elif isinstance(v, memoryview):
                    p = 0
                    while p < len(v):
                        x, p = _read_varint(v, p)
                        ints.append(x)
            return np.array([x - (1 << 64) if x >= 1 << 63 else x for x in ints], dtype=np.int64)
    return []


def decode_example(data: bytes | memoryview) -> dict[str, FeatureValue]:
    """Parse a serialized ``tf.train.Example`` into name -> value (see :func:`encode_example`).

    Raises
    ------
    ValueError
        If ``data`` is not a well-formed protobuf message.
    """
    out: dict[str, FeatureValue] = {}
    for number, _, features in _fields(memoryview(data)):
        if number != 1 or not isinstance(features, memoryview):
            continue
        for n, _, entry in _fields(features):
            if n != 1 or not isinstance(entry, memoryview):
                continue
            key = ""
            value: FeatureValue = []
            for en, _, ev in _fields(entry):
                if en == 1 and isinstance(ev, memoryview):
                    key = bytes(ev).decode()
                elif en == 2 and isinstance(ev, memoryview):
                    value = _decode_feature(ev)
            out[key] = value
    return out
