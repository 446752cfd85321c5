"""The raster pool: never two threads on one GDAL handle, bounded, reopens rewritten files.

Runs whose tasks span regions sharing rasters read one raster from several threads at
once (a single-process run reads modalities and regions concurrently; a Dask worker runs
two tasks at once with ``threads_per_worker=2``). Each must give the dataset a one-thread
run gives, every time.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import geoharmony as gh
from digest import dataset_digest
from geoharmony.io.pool import RasterPool
from geoharmony.io.raster_info import read_info
from scenes import small_scene

distributed = pytest.importorskip("distributed")


def _one_thread(cfg: gh.Config, out: Path) -> str:
    """Digest of a run where every read happens on one thread (decode threads too)."""
    from geoharmony.execution import runners
    from geoharmony.execution.tasks import run_task

    def single(tasks):  # type: ignore[no-untyped-def]
        for t in tasks:
            yield run_task(t, decode_threads="1")

    orig = runners.serial
    runners.serial = single  # one thread, one decode thread: the reference
    try:
        gh.extract(cfg, out=out, workers=1)
    finally:
        runners.serial = orig
    return dataset_digest(out)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[gh.Config, str, Path]:
    root = tmp_path_factory.mktemp("pool")
    cfg = gh.load_config(small_scene(root, regions=4, labels=True, patch=16))
    from geoharmony.planning.plan import compute_plan

    plan = compute_plan(cfg)
    # tasks must span regions that share rasters, or the race is not exercised
    spans = plan.table.groupby("task")["region"].nunique()
    assert (spans > 1).any(), "scene has no task spanning two regions"
    return cfg, _one_thread(cfg, root / "ref"), root


def test_serial_multi_region_matches_one_thread_repeatedly(
    scene: tuple[gh.Config, str, Path], tmp_path: Path
) -> None:
    cfg, ref, _ = scene
    for k in range(8):
        out = gh.extract(cfg, out=tmp_path / f"run{k}", workers=1)
        assert dataset_digest(out) == ref, f"run {k} differs from the one-thread run"


def test_local_cluster_two_threads_per_worker(
    scene: tuple[gh.Config, str, Path], tmp_path: Path
) -> None:
    cfg, ref, _ = scene
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        for k in range(4):
            out = gh.extract(cfg, out=tmp_path / f"dask{k}", scheduler=client)
            assert dataset_digest(out) == ref, f"dask run {k} differs from the one-thread run"


def test_dask_worker_processes_two_threads(
    scene: tuple[gh.Config, str, Path], tmp_path: Path
) -> None:
    """Real `dask scheduler` + `dask worker --nthreads 2` processes."""
    cfg, ref, _ = scene
    bindir = Path(sys.executable).parent
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    addr = f"tcp://127.0.0.1:{port}"
    dask = str(bindir / "dask")
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    procs += [
        subprocess.Popen(
            [dask, "worker", addr, "--nthreads", "2", "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        with distributed.Client(addr, timeout=30) as client:
            client.wait_for_workers(2, timeout=90)
            for k in range(3):
                out = gh.extract(cfg, out=tmp_path / f"w{k}", scheduler=client)
                assert dataset_digest(out) == ref, f"worker run {k} differs"
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def test_pool_lends_distinct_handles_to_concurrent_threads(
    scene: tuple[gh.Config, str, Path],
) -> None:
    _, _, root = scene
    info = read_info(root / "dem.tif", bands=None, nodata=None, where="dem")
    pool = RasterPool(max_open=4)
    seen: list[int] = []
    barrier = threading.Barrier(3)

    def use() -> None:
        with pool.lease(info) as r:
            barrier.wait(timeout=10)  # all three hold a handle at the same time
            seen.append(id(r.ds))
            r.read_block(0, 0, 8, 8)

    threads = [threading.Thread(target=use) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 3
    assert pool.n_idle == 3 and pool.n_leased == 0
    with pool.lease(info) as r:  # reused, not reopened
        assert id(r.ds) in seen
    assert pool.opened == 3
    pool.close()


def test_pool_is_bounded_and_closes_on_eviction(tmp_path: Path) -> None:
    from affine import Affine

    from synth import write_coord_raster

    infos = []
    for k in range(10):
        p = write_coord_raster(
            tmp_path / f"r{k}.tif",
            crs=32616,
            transform=Affine(10, 0, 500000, 0, -10, 4400000),
            width=32,
            height=32,
        )
        infos.append(read_info(p, bands=None, nodata=None, where=f"r{k}"))
    pool = RasterPool(max_open=3)
    handles = []
    for info in infos:
        with pool.lease(info) as r:
            handles.append(r.ds)
    assert pool.n_idle == 3
    assert sum(not h.closed for h in handles) == 3
    assert all(h.closed for h in handles[:7])


def test_pool_reopens_a_rewritten_file(tmp_path: Path) -> None:
    from affine import Affine

    from synth import write_coord_raster

    kw = dict(crs=32616, transform=Affine(10, 0, 500000, 0, -10, 4400000), width=32, height=32)
    p = write_coord_raster(tmp_path / "r.tif", **kw)  # type: ignore[arg-type]
    info = read_info(p, bands=None, nodata=None, where="r")
    pool = RasterPool(max_open=4)
    with pool.lease(info) as r:
        a = r.read_block(0, 0, 4, 4).data.copy()
    time.sleep(0.01)
    kw["transform"] = Affine(10, 0, 600000, 0, -10, 4400000)
    write_coord_raster(tmp_path / "new.tif", **kw)  # type: ignore[arg-type]
    (tmp_path / "new.tif").replace(p)  # a new inode under the same path
    with pool.lease(info) as r:
        b = r.read_block(0, 0, 4, 4).data
    assert not np.array_equal(a, b)
    assert pool.opened == 2
