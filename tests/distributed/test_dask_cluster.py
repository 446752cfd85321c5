"""Extraction on a real Dask cluster gives the same dataset as a local run."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import geoharmony as gh
from scenes import small_scene

distributed = pytest.importorskip("distributed")


def _same(a: Path, b: Path) -> None:
    da, db = gh.open_dataset(a), gh.open_dataset(b)
    assert len(da) == len(db) > 0
    for i in range(len(da)):
        sa, sb = da[i], db[i]
        assert sa.keys() == sb.keys()
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k])
    cols = [c for c in da.index.columns if not c.endswith("footprint") and c != "geometry"]
    assert da.index[cols].equals(db.index[cols])


def test_local_cluster_matches_serial(tmp_path: Path) -> None:
    cfg = gh.load_config(small_scene(tmp_path, regions=3, labels=True))
    serial = gh.extract(cfg, out=tmp_path / "serial", workers=1)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        dist = gh.extract(cfg, out=tmp_path / "dask", scheduler=client)
        assert len(client.scheduler_info()["workers"]) == 2
    _same(serial, dist)
    assert gh.open_dataset(dist).index["region"].nunique() == 3


def test_cli_with_scheduler_processes(tmp_path: Path) -> None:
    """`dask scheduler` + `dask worker` processes on 127.0.0.1, driven through the CLI."""
    bindir = Path(sys.executable).parent
    cfgp = small_scene(tmp_path, regions=2)
    with socket.socket() as sock:  # a free port on loopback
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    addr = f"tcp://127.0.0.1:{port}"
    sched = subprocess.Popen(
        [
            str(bindir / "dask"),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers = [
        subprocess.Popen(
            [str(bindir / "dask"), "worker", addr, "--nthreads", "1", "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        with distributed.Client(addr, timeout=30) as c:
            c.wait_for_workers(2, timeout=60)
        t0 = time.time()
        r = subprocess.run(
            [
                str(bindir / "geoharmony"),
                "--no-progress",
                "extract",
                str(cfgp),
                "--scheduler",
                addr,
                "--out",
                str(tmp_path / "viacli"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
        assert time.time() - t0 < 300
    finally:
        for p in [*workers, sched]:
            p.terminate()
        for p in [*workers, sched]:
            p.wait(timeout=30)
    serial = gh.extract(gh.load_config(cfgp), out=tmp_path / "serial")
    _same(serial, tmp_path / "viacli")
    shutil.rmtree(tmp_path / "viacli")
