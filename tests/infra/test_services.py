"""The test services themselves: SLURM runs job arrays, nginx serves ranges and faults."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.nginx import Nginx
from infra.slurm import SlurmCluster


def test_slurm_node_idle_and_array_runs_every_task(slurm_cluster: SlurmCluster, tmp_path: Path):
    assert slurm_cluster.idle()
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\necho $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT\n")
    job = slurm_cluster.sbatch("--array=0-2", "-o", str(tmp_path / "out-%a.txt"), str(script))
    states = slurm_cluster.wait(job, timeout=60)
    assert sorted(states.values()) == ["COMPLETED"] * 3
    outs = sorted(p.read_text().strip() for p in tmp_path.glob("out-*.txt"))
    assert outs == ["0/3", "1/3", "2/3"]


def test_slurm_reports_a_failed_task(slurm_cluster: SlurmCluster, tmp_path: Path):
    script = tmp_path / "job.sh"
    script.write_text('#!/bin/bash\n[ "$SLURM_ARRAY_TASK_ID" != 1 ]\n')
    job = slurm_cluster.sbatch("--array=0-1", "-o", str(tmp_path / "o-%a.txt"), str(script))
    states = slurm_cluster.wait(job, timeout=60)
    assert sorted(states.values()) == ["COMPLETED", "FAILED"]


def _get(url: str, **headers: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_nginx_ranges_faults_delay_and_log(http_server: Callable[..., Nginx], tmp_path: Path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "a.bin").write_bytes(bytes(range(256)) * 4)
    srv = http_server(www, delay=0.2)
    assert _get(f"{srv.url}/a.bin", Range="bytes=10-19") == (206, bytes(range(10, 20)))
    srv.set_fault("a.bin", "503")
    assert _get(f"{srv.url}/a.bin")[0] == 503
    srv.set_fault("a.bin", "drop")
    with pytest.raises((http.client.RemoteDisconnected, urllib.error.URLError)):
        _get(f"{srv.url}/a.bin")
    srv.set_fault("a.bin", None)
    assert _get(f"{srv.url}/a.bin")[0] == 200
    if srv.has_delay:
        t0 = time.monotonic()
        assert _get(f"{srv.url}/slow/a.bin")[0] == 200
        assert time.monotonic() - t0 >= 0.2
    log = srv.requests()
    assert [r.status for r in log][:4] == [206, 503, 444, 200]
    assert log[0].range == "bytes=10-19" and log[0].bytes_sent == 10
