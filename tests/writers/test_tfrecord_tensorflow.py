"""Byte compatibility of the TFRecord store with TensorFlow (skipped without TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geoharmony.writers import _tfrecord as tfr
from geoharmony.writers.tfrecord_writer import TFRecordWriter
from writers.contract import SPECS, assert_same, make_arrays, write_task

tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tfrecord")
    w = TFRecordWriter(root)
    w.create(SPECS, 6, patches_per_shard=4, compression="zstd")
    for a, b in [(0, 4), (4, 6)]:
        write_task(TFRecordWriter, root, a, make_arrays(a, b))
    return root / "patches.tfrecord"


def test_tensorflow_reads_and_parses_our_records(shards: Path) -> None:
    files = [str(shards / "shard-000000.tfrecord"), str(shards / "shard-000001.tfrecord")]
    spec = {"patch_index": tf.io.FixedLenFeature([1], tf.int64)}
    for name in SPECS:
        spec[name] = tf.io.FixedLenFeature([], tf.string)
        spec[f"{name}/shape"] = tf.io.VarLenFeature(tf.int64)
        spec[f"{name}/dtype"] = tf.io.FixedLenFeature([], tf.string)
    want = {k: np.concatenate([make_arrays(0, 4)[k], make_arrays(4, 6)[k]]) for k in SPECS}
    records = list(tf.data.TFRecordDataset(files))  # checks both CRCs of every record
    assert len(records) == 6
    for i, rec in enumerate(records):
        x = tf.io.parse_single_example(rec, spec)
        assert int(x["patch_index"][0]) == i
        for name, s in SPECS.items():
            dtype = tf.dtypes.as_dtype(np.dtype(s.dtype))
            shape = tf.sparse.to_dense(x[f"{name}/shape"])
            a = tf.reshape(tf.io.decode_raw(x[name], dtype), shape).numpy()
            assert x[f"{name}/dtype"].numpy().decode() == s.dtype
            assert_same(a, want[name][i], f"{name}[{i}]")


def _entries(example: bytes) -> list[bytes]:
    """Serialized map entries of an Example (protobuf leaves their order unspecified)."""
    (features,) = [v for n, _, v in tfr._fields(memoryview(example)) if n == 1]
    assert isinstance(features, memoryview)
    return sorted(bytes(v) for n, _, v in tfr._fields(features) if isinstance(v, memoryview))


def test_examples_are_byte_compatible_with_protobuf(shards: Path) -> None:
    with open(shards / "shard-000001.tfrecord", "rb") as f:
        ours = tfr.read_record(f)
    assert ours is not None
    parsed = tf.train.Example.FromString(ours)
    assert _entries(parsed.SerializeToString(deterministic=True)) == _entries(ours)
    assert len(_entries(ours)) == 1 + 3 * len(SPECS)
    values: dict[str, tfr.FeatureValue] = {
        "i": np.array([3, -7, 2**40]),
        "f": np.array([0.5, -2.0], dtype=np.float32),
        "b": [b"ab", b""],
        "e": np.array([], dtype=np.int64),
    }
    built = tf.train.Example(
        features=tf.train.Features(
            feature={
                "i": tf.train.Feature(int64_list=tf.train.Int64List(value=[3, -7, 2**40])),
                "f": tf.train.Feature(float_list=tf.train.FloatList(value=[0.5, -2.0])),
                "b": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"ab", b""])),
                "e": tf.train.Feature(int64_list=tf.train.Int64List(value=[])),
            }
        )
    )
    mine = tfr.encode_example(values)
    assert tf.train.Example.FromString(mine) == built
    assert _entries(mine) == _entries(built.SerializeToString())
    single = tfr.encode_example({"i": values["i"]})
    assert (
        single
        == tf.train.Example(
            features=tf.train.Features(feature={"i": built.features.feature["i"]})
        ).SerializeToString()
    )


def test_framing_is_byte_identical_to_tf_writer(tmp_path: Path) -> None:
    payloads = [b"", b"x", np.random.default_rng(1).bytes(5000)]
    path = tmp_path / "tf.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as w:
        for p in payloads:
            w.write(p)
    assert path.read_bytes() == b"".join(tfr.frame_record(p) for p in payloads)
    with open(path, "rb") as f:
        assert [tfr.read_record(f) for _ in payloads] == payloads
