"""WebDataset tar shards pass the writer contract and are plain, indexed tar files."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from geoharmony.writers.webdataset_writer import WebDatasetWriter
from writers.contract import SPECS, WriterContract, assert_same, make_arrays, write_task


class TestWebDatasetWriter(WriterContract):
    writer_cls = WebDatasetWriter


@pytest.fixture
def shards(tmp_path: Path) -> Path:
    w = WebDatasetWriter(tmp_path)
    w.create(SPECS, 10, patches_per_shard=4, compression="zstd")
    for a, b in [(0, 8), (8, 10)]:
        write_task(WebDatasetWriter, tmp_path, a, make_arrays(a, b))
    return tmp_path / "patches.wds"


def test_shards_are_samples_of_npy_members(shards: Path) -> None:
    assert sorted(p.name for p in shards.glob("*.tar")) == [
        "shard-000000.tar",
        "shard-000001.tar",
        "shard-000002.tar",
    ]
    data = make_arrays(8, 10)
    with tarfile.open(shards / "shard-000002.tar") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [
            f"{k:06d}.{name}.npy" for k in (8, 9) for name in SPECS
        ]  # a sample's members are consecutive, as WebDataset requires
        for m in members:
            key, name, _ = m.name.split(".")
            f = tar.extractfile(m)
            assert f is not None
            a = np.load(io.BytesIO(f.read()), allow_pickle=False)
            assert_same(a, data[name][int(key) - 8], m.name)


def test_index_points_at_member_data(shards: Path) -> None:
    index = json.loads((shards / "shard-000001.idx.json").read_text())
    assert index["first"] == 4 and index["count"] == 4
    with tarfile.open(shards / "shard-000001.tar") as tar:
        for m in tar.getmembers():
            key, name, _ = m.name.split(".")
            assert index["members"][name][int(key) - 4] == [m.offset_data, m.size]


def test_reads_without_index_files(shards: Path) -> None:
    for p in shards.glob("*.idx.json"):
        p.unlink()
    st = WebDatasetWriter.reader(shards.parent)
    for name in SPECS:
        assert_same(st.read(name, slice(None))[8:], make_arrays(8, 10)[name], name)


def test_same_patches_give_the_same_bytes(shards: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    again.mkdir()
    WebDatasetWriter(again).create(SPECS, 10, patches_per_shard=4, compression="zstd")
    write_task(WebDatasetWriter, again, 8, make_arrays(8, 10))
    a = (shards / "shard-000002.tar").read_bytes()
    assert a == (again / "patches.wds" / "shard-000002.tar").read_bytes()


def test_writes_must_cover_whole_shards(tmp_path: Path) -> None:
    w = WebDatasetWriter(tmp_path)
    w.create(SPECS, 10, patches_per_shard=4, compression="zstd")
    with pytest.raises(ValueError, match="whole shards of 4 patches"):
        w.write(2, make_arrays(2, 6))
    with pytest.raises(ValueError, match="missing"):
        w.write(0, {"u8": make_arrays(0, 4)["u8"]})


def test_webdataset_package_reads_the_shards(shards: Path) -> None:
    wds = pytest.importorskip("webdataset")
    samples = list(wds.WebDataset(str(shards / "shard-000002.tar"), shardshuffle=False).decode())
    assert [s["__key__"] for s in samples] == ["000008", "000009"]
    assert_same(samples[1]["f64.npy"], make_arrays(8, 10)["f64"][1])
