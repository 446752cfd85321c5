"""The Zarr writer's whole-shard fast path writes what zarr writes; fast reads agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

from geoharmony.writers.base import ArraySpec
from geoharmony.writers.zarr_writer import ZarrStore, ZarrWriter

SPECS = {
    "f32": ArraySpec("f32", (2, 5, 7), "float32", -9999.0),
    "f32_mask": ArraySpec("f32_mask", (5, 7), "bool", False),
    "u16": ArraySpec("u16", (3, 4, 4), "uint16", 0),
    "f64": ArraySpec("f64", (1, 3, 3), "float64", float("nan")),
}
N = 37  # 9 shards of 4 and a last one of 1


def _data(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    f64 = rng.normal(size=(N, 1, 3, 3))
    f64[rng.random(f64.shape) < 0.2] = np.nan
    return {
        "f32": rng.normal(size=(N, 2, 5, 7)).astype("float32"),
        "f32_mask": rng.random((N, 5, 7)) < 0.5,
        "u16": rng.integers(0, 60000, (N, 3, 4, 4)).astype("uint16"),
        "f64": f64,
    }


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "zarr.json"
    }


@pytest.mark.parametrize("compression", ["zstd", "lz4", "none"])
def test_fast_shards_are_the_bytes_zarr_writes(tmp_path: Path, compression: str) -> None:
    data = _data()
    fast, ref = tmp_path / "fast", tmp_path / "ref"
    for root in (fast, ref):
        ZarrWriter(root).create(SPECS, N, patches_per_shard=4, compression=compression)
    for start in range(0, N, 8):  # tasks of two shards, as extract writes them
        w = ZarrWriter(fast)
        w.open()
        w.write(start, {k: v[start : start + 8] for k, v in data.items()})
        w.close()
    g = zarr.open_group(ref / ZarrWriter.store_name, mode="r+")
    for k, v in data.items():
        g[k][:] = v
    a, b = _files(fast / ZarrWriter.store_name), _files(ref / ZarrWriter.store_name)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == b[key], key
    st = zarr.open_group(fast / ZarrWriter.store_name, mode="r")
    for k, v in data.items():
        np.testing.assert_array_equal(st[k][:], v)


def test_unaligned_and_partial_writes_fall_back_to_zarr(tmp_path: Path) -> None:
    data = _data(1)
    ZarrWriter(tmp_path).create(SPECS, N, patches_per_shard=4, compression="zstd")
    for a, b in [(0, 6), (6, 13), (13, 20), (20, 37)]:  # unaligned starts, partial shards
        w = ZarrWriter(tmp_path)
        w.open()
        w.write(a, {k: v[a:b] for k, v in data.items()})
        w.close()  # whole shards are in place (and durable) once the writer is closed
    st = ZarrWriter.reader(tmp_path)
    for k, v in data.items():
        np.testing.assert_array_equal(st.read(k, slice(None)), v)
        for i in (0, 5, 6, 19, 36, -1, -37):
            np.testing.assert_array_equal(st.read(k, i), v[i])


def test_fast_reads_agree_with_zarr(tmp_path: Path) -> None:
    data = _data(2)
    ZarrWriter(tmp_path).create(SPECS, N, patches_per_shard=4, compression="lz4")
    w = ZarrWriter(tmp_path)
    w.open()
    w.write(0, {k: v[:12] for k, v in data.items()})  # shards 0-2 only
    w.close()
    st = ZarrWriter.reader(tmp_path)
    assert isinstance(st, ZarrStore)
    g = zarr.open_group(tmp_path / ZarrWriter.store_name, mode="r")
    for k, spec in SPECS.items():
        for i in [*range(N), np.int64(3), -1]:
            got = st.read(k, i)
            np.testing.assert_array_equal(got, g[k][int(i)])
            assert got.dtype == np.dtype(spec.dtype) and got.shape == spec.shape
            assert got.flags.writeable
        np.testing.assert_array_equal(st.read(k, 30), np.full(spec.shape, spec.fill_value))
    with pytest.raises(IndexError):
        st.read("u16", N)
    patch = st.read_patch(5)
    assert set(patch) == set(SPECS)
    # a shard rewritten later (a resumed task) is seen by the same reader
    w.write(0, {k: v[:4][::-1] for k, v in data.items()})
    w.close()
    np.testing.assert_array_equal(st.read("u16", 0), data["u16"][3])


def test_corrupt_shard_index_is_detected(tmp_path: Path) -> None:
    data = _data(3)
    ZarrWriter(tmp_path).create(SPECS, N, patches_per_shard=4, compression="zstd")
    w = ZarrWriter(tmp_path)
    w.open()
    w.write(0, {k: v[:4] for k, v in data.items()})
    w.close()
    shard = tmp_path / ZarrWriter.store_name / "u16" / "c.0.0.0.0"
    raw = bytearray(shard.read_bytes())
    raw[-10] ^= 0xFF
    shard.write_bytes(bytes(raw))
    with pytest.raises(Exception, match=r"(?i)checksum|crc"):
        ZarrWriter.reader(tmp_path).read("u16", 1)


def test_slash_separated_store_fast_paths(tmp_path: Path) -> None:
    """Stores with zarr's default "/" chunk keys (older datasets) take the same paths."""
    data = _data(4)
    g = zarr.open_group(tmp_path / ZarrWriter.store_name, mode="w", zarr_format=3)
    for k, v in data.items():
        g.create_array(
            k,
            shape=v.shape,
            dtype=v.dtype,
            chunks=(1, *v.shape[1:]),
            shards=(4, *v.shape[1:]),
            fill_value=0,
        )
    w = ZarrWriter(tmp_path)
    w.open()
    w.write(0, data)
    w.close()
    assert (tmp_path / ZarrWriter.store_name / "u16" / "c" / "9" / "0" / "0" / "0").is_file()
    st = ZarrWriter.reader(tmp_path)
    ref = zarr.open_group(tmp_path / ZarrWriter.store_name, mode="r")
    for k, v in data.items():
        np.testing.assert_array_equal(ref[k][:], v)
        for i in (0, 17, 36):
            np.testing.assert_array_equal(st.read(k, i), v[i])
