"""TFRecord store: one TFRecord file per shard, one ``tf.train.Example`` per patch.

Layout of ``patches.tfrecord/``::

    _store.json                  arrays (shape, dtype, fill value), patch count, shard size
    shard-000000.tfrecord        patches 0 .. patches_per_shard - 1, in order
    shard-000000.idx             one line "offset length" per record (DALI's index format)
    shard-000001.tfrecord ...

Each record is a serialized ``tf.train.Example`` with, for every array ``<a>``:

- ``<a>``: ``bytes_list`` with the patch's raw C-order little-endian bytes,
- ``<a>/shape``: ``int64_list`` of the per-patch shape (``[bands, h, w]`` or ``[h, w]``),
- ``<a>/dtype``: ``bytes_list`` with the NumPy dtype name (``float32``, ``bool``, ...),

plus ``patch_index`` (``int64_list``, the store position). In TensorFlow::

    spec = {"dem": tf.io.FixedLenFeature([], tf.string), ...}
    x = tf.io.parse_single_example(record, spec)
    dem = tf.reshape(tf.io.decode_raw(x["dem"], tf.float32), [1, 224, 224])

Framing (length, masked CRC-32C) and protobuf encoding are implemented in
:mod:`geoharmony.writers._tfrecord`; TensorFlow is not needed to write or read. Records
are uncompressed so the index can point into them (``compression`` is recorded, not
applied).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from geoharmony.writers._common import StoreMeta, atomic_file, shard_name, write_atomic
from geoharmony.writers._sharded import ShardedStore, ShardedWriter
from geoharmony.writers._tfrecord import (
    FeatureValue,
    decode_example,
    encode_example,
    frame_record,
    read_record,
    record_spans,
)
from geoharmony.writers.base import PatchStore


def encode_patch(index: int, arrays: Mapping[str, np.ndarray]) -> bytes:
    """Serialize one patch's arrays as a ``tf.train.Example`` (see the module docstring)."""
    features: dict[str, FeatureValue] = {"patch_index": np.array([index], dtype=np.int64)}
    for name, a in arrays.items():
        a = np.asarray(a)
        features[name] = [np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()]
        features[f"{name}/shape"] = np.array(a.shape, dtype=np.int64)
        features[f"{name}/dtype"] = [a.dtype.name.encode()]
    return encode_example(features)


def decode_array(features: Mapping[str, FeatureValue], name: str) -> np.ndarray:
    """One array of a decoded patch record.

    Raises
    ------
    ValueError
        If the record lacks the array or its shape or dtype.
    """
    try:
        (raw,) = features[name]
        (dtype_name,) = features[f"{name}/dtype"]
        shape = features[f"{name}/shape"]
    except (KeyError, ValueError) as e:
        raise ValueError(f"record has no complete feature {name!r} (value, shape, dtype)") from e
    dtype = np.dtype(bytes(dtype_name).decode())
    a = np.frombuffer(bytes(raw), dtype=dtype.newbyteorder("<"))
    return a.reshape([int(x) for x in shape]).astype(dtype)


class TFRecordWriter(ShardedWriter):
    """Writes ``patches.tfrecord``: TFRecord shards of ``tf.train.Example`` records."""

    format = "tfrecord"
    store_name = "patches.tfrecord"
    suffix = ".tfrecord"

    def _extra(self, n_patches: int) -> dict[str, Any]:
        return {"record": "tf.train.Example: <a>, <a>/shape, <a>/dtype, patch_index"}

    def _write_shard(
        self, meta: StoreMeta, shard: int, first: int, arrays: Mapping[str, np.ndarray]
    ) -> None:
        n = len(next(iter(arrays.values())))
        lines = []
        path = self.path / shard_name(shard, self.suffix)
        offset = 0
        with atomic_file(path) as f:
            for k in range(n):
                record = frame_record(
                    encode_patch(first + k, {name: arrays[name][k] for name in meta.specs})
                )
                f.write(record)
                lines.append(f"{offset} {len(record)}\n")
                offset += len(record)
        write_atomic(path.with_name(shard_name(shard, ".idx")), "".join(lines).encode())

    @classmethod
    def reader(cls, root: Path) -> PatchStore:
        """Open ``patches.tfrecord`` for reading."""
        return TFRecordStore(Path(root) / cls.store_name)


class TFRecordStore(ShardedStore):
    """Reads a ``patches.tfrecord`` folder (random access through the ``.idx`` files)."""

    suffix = ".tfrecord"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._last: tuple[int, dict[str, FeatureValue]] | None = None

    def _load_index(self, shard: int, path: Path) -> np.ndarray:
        idx_path = path.with_name(shard_name(shard, ".idx"))
        if idx_path.is_file():
            text = idx_path.read_text(encoding="utf-8").split()
            return np.asarray([int(x) for x in text], dtype=np.int64).reshape(-1, 2)
        with open(path, "rb") as f:
            return np.asarray(list(record_spans(f)), dtype=np.int64).reshape(-1, 2)

    def _read_one(self, name: str, shard: int, local: int, index: Any) -> np.ndarray:
        if local >= len(index):
            return self.meta.fill(name)
        patch = shard * self.meta.patches_per_shard + local
        if self._last is None or self._last[0] != patch:
            offset, size = (int(x) for x in index[local])
            data = read_record(io.BytesIO(self.read_bytes(shard, offset, size)))
            features = decode_example(data or b"")
            found = features.get("patch_index")
            if not isinstance(found, np.ndarray) or found.tolist() != [patch]:
                raise ValueError(
                    f"{self.shard_path(shard)}: record {local} holds patch_index {found!r}, "
                    f"expected {patch}; the shard or its index is damaged"
                )
            self._last = (patch, features)
        return decode_array(self._last[1], name)
