"""HDF5 passes the writer contract; tasks run concurrently anyway take turns safely."""

from __future__ import annotations

import multiprocessing as mp
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import geoharmony as gh
from geoharmony.writers import PatchStore
from geoharmony.writers._lock import PathLock
from geoharmony.writers.hdf5_writer import HDF5Writer
from writers.contract import (
    N_PATCHES,
    SPECS,
    Scene,
    WriterContract,
    assert_same,
    make_arrays,
)


class TestHDF5Writer(WriterContract):
    writer_cls = HDF5Writer


def test_layout_one_chunk_per_patch_and_codecs(tmp_path: Path) -> None:
    for compression, codec in [("zstd", "gzip"), ("lz4", "lzf"), ("none", None)]:
        root = tmp_path / compression
        root.mkdir()
        w = HDF5Writer(root)
        w.create(SPECS, 10, patches_per_shard=4, compression=compression)
        w.close()
        with h5py.File(root / "patches.h5", "r") as f:
            assert f["u16"].shape == (10, 2, 4, 4)
            assert f["u16"].chunks == (1, 2, 4, 4)
            assert f["u16"].compression == codec
            assert f["u16"].shuffle == (codec is not None)
            assert f["u8_mask"].dtype == np.bool_
            assert list(f["u16"].attrs["dimension_names"]) == ["patch", "band", "y", "x"]
            assert list(f["u8_mask"].attrs["dimension_names"]) == ["patch", "y", "x"]


def test_unknown_compression_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="HDF5 compression 'brotli'"):
        HDF5Writer(tmp_path).create(SPECS, 3, patches_per_shard=1, compression="brotli")


def _timed_task(root: str) -> float:
    """Write task 8..16 in another process; return when its writer got the file."""
    w = HDF5Writer(Path(root))
    w.open()
    opened = time.time()
    w.write(8, make_arrays(8, 16))
    w.close()
    return opened


def test_second_process_waits_for_the_writer(tmp_path: Path) -> None:
    """supports_parallel_tasks is False, but a Dask scheduler may still run tasks at once."""
    w = HDF5Writer(tmp_path)
    w.create(SPECS, N_PATCHES, patches_per_shard=4, compression="lz4")
    w.close()
    held = HDF5Writer(tmp_path)
    held.open()
    held.write(0, make_arrays(0, 8))
    with ProcessPoolExecutor(1, mp_context=mp.get_context("forkserver")) as ex:
        fut = ex.submit(_timed_task, str(tmp_path))
        time.sleep(2.0)  # the other process starts and waits for the file
        assert not fut.done()
        released = time.time()
        held.close()
        assert fut.result(timeout=30) >= released
    st = HDF5Writer.reader(tmp_path)
    for name in SPECS:
        assert_same(st.read(name, slice(0, 8)), make_arrays(0, 8)[name], name)
        assert_same(st.read(name, slice(8, 16)), make_arrays(8, 16)[name], name)
    st.close()


def test_lock_orders_threads_and_is_released_on_error(tmp_path: Path) -> None:
    w = HDF5Writer(tmp_path)
    w.create(SPECS, N_PATCHES, patches_per_shard=4, compression="none")
    w.close()
    held = HDF5Writer(tmp_path)
    held.open()
    other = HDF5Writer(tmp_path)
    opened = threading.Event()

    def open_other() -> None:
        other.open()
        opened.set()

    t = threading.Thread(target=open_other)
    t.start()
    assert not opened.wait(0.3)  # waits while `held` writes
    with pytest.raises(TypeError, match="conversion path"):
        held.write(0, {"u8": np.array(["not a number"])})
    assert opened.wait(5)  # the failed write closed the file and released the lock
    t.join()
    other.close()
    lock = PathLock(tmp_path / "patches.h5")
    lock.acquire()
    assert lock.held
    lock.release()


def test_extract_runs_hdf5_tasks_serially(
    scene: Scene, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pool(workers: int) -> Any:
        raise AssertionError("extract used a process pool for HDF5")

    monkeypatch.setattr(sys.modules["geoharmony.execution.runners"], "pool", no_pool)
    out = gh.extract(
        gh.load_config(scene.config("hdf5", tmp_path / "h5")), workers=2, progress=False
    )
    assert len(gh.open_dataset(out)) == len(gh.open_dataset(scene.reference))


def test_extract_on_threaded_dask_scheduler(scene: Scene, tmp_path: Path) -> None:
    """Two threads of one Dask worker write the same HDF5 file in turn."""
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2) as client:
        out = gh.extract(
            gh.load_config(scene.config("hdf5", tmp_path / "h5")),
            scheduler=client,
            progress=False,
        )
    ds, ref = gh.open_dataset(out), gh.open_dataset(scene.reference)
    for i in range(len(ref)):
        for name, want in ref[i].items():
            assert_same(ds[i][name], want, f"patch {i} {name}")


def _read_in_child(store: PatchStore, q: Any) -> None:
    q.put(store.read("u16", 3).tolist())


def test_store_reopens_after_fork(tmp_path: Path) -> None:
    w = HDF5Writer(tmp_path)
    w.create(SPECS, 8, patches_per_shard=4, compression="zstd")
    w.close()
    data = make_arrays(0, 8)
    w = HDF5Writer(tmp_path)
    w.open()
    w.write(0, data)
    w.close()
    st = HDF5Writer.reader(tmp_path)
    st.read("u16", 0)  # the parent has the file open before forking
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_read_in_child, args=(st, q))
    p.start()
    got = q.get(timeout=30)
    p.join(30)
    assert p.exitcode == 0
    assert got == data["u16"][3].tolist()
    st.close()
