"""On a real single-node SLURM (slurmctld + slurmd + munge, started by the fixture).

* the documented job array (``examples/slurm/submit.sh``: ``--shard`` array tasks, then
  the ``--finish`` job after them) builds the dataset one run builds;
* the README's dask-jobqueue recipe (``SLURMCluster`` + ``--scheduler``-style Client)
  runs the extraction on SLURM-launched workers, with the same result.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import geoharmony as gh
from infra.slurm import SlurmCluster
from remote.remote_scene import assert_same_dataset
from scenes import small_scene

REPO = Path(__file__).resolve().parents[2]
SRC = Path(gh.__file__).resolve().parents[1]  # the geoharmony being tested


def _geoharmony_wrapper(folder: Path) -> Path:
    """A ``geoharmony`` command for the jobs: this interpreter and this source tree."""
    exe = folder / "geoharmony"
    exe.write_text(
        "#!/bin/sh\n"
        f'PYTHONPATH="{SRC}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{sys.executable}" '
        '-c "from geoharmony.cli.main import main; main()" "$@"\n'
    )
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def _scene(tmp_path: Path) -> tuple[Path, Path]:
    toml = small_scene(tmp_path, regions=3)
    sharded = tmp_path / "sharded.toml"
    sharded.write_text(toml.read_text().replace('path = "out"', 'path = "out_sharded"'))
    return toml, sharded


def test_sbatch_array_of_shards_then_finish_job(slurm_cluster: SlurmCluster, tmp_path: Path):
    single_toml, sharded = _scene(tmp_path)
    single = gh.extract(gh.load_config(single_toml), workers=1)
    env = {
        **slurm_cluster.env,
        "CONFIG": str(sharded),
        "N": "3",
        "GEOHARMONY": str(_geoharmony_wrapper(tmp_path)),
    }
    proc = subprocess.run(
        ["bash", str(REPO / "examples" / "slurm" / "submit.sh"), "--cpus-per-task=1",
         "--mem-per-cpu=1G", f"--chdir={tmp_path}"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    words = proc.stdout.split()
    array_job, finish_job = words[2], words[-1]
    states = slurm_cluster.wait(array_job, timeout=300)
    assert sorted(states.values()) == ["COMPLETED"] * 3, (states, _logs(tmp_path))
    assert slurm_cluster.wait(finish_job, timeout=120) == {finish_job: "COMPLETED"}, _logs(tmp_path)
    out = tmp_path / "out_sharded"
    assert_same_dataset(single, out)
    logs = _logs(tmp_path)
    for i in range(3):
        assert f"shard {i}/3: done" in logs
    man = json.loads((out / "manifest.json").read_text())
    assert man["complete"] is True


def _logs(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.glob("geoharmony-*.out")))


def test_dask_jobqueue_slurmcluster_runs_the_extraction(
    slurm_cluster: SlurmCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    dask_jobqueue = pytest.importorskip("dask_jobqueue")
    from distributed import Client

    single_toml, sharded = _scene(tmp_path)
    single = gh.extract(gh.load_config(single_toml), workers=1)
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    monkeypatch.setenv("PYTHONPATH", f"{SRC}:{os.environ.get('PYTHONPATH', '')}")
    # The README's recipe, with loopback addresses (this test's node is this machine).
    with dask_jobqueue.SLURMCluster(
        cores=1,
        processes=1,
        memory="1GB",
        walltime="00:10:00",
        python=sys.executable,
        scheduler_options={"host": "127.0.0.1", "dashboard_address": None},
        worker_extra_args=["--host", "127.0.0.1"],
        log_directory=str(tmp_path / "dask-logs"),
    ) as cluster, Client(cluster) as client:  # fmt: skip
        cluster.scale(jobs=2)
        client.wait_for_workers(2, timeout=120)
        jobs = slurm_cluster.run("squeue", "-h", "-o", "%j %T")
        assert jobs.count("dask-worker RUNNING") == 2, jobs
        out = gh.extract(gh.load_config(sharded), scheduler=client)
        ran_on = client.run(lambda: os.environ.get("SLURM_JOB_ID"))
        assert len({v for v in ran_on.values() if v}) == 2
    assert_same_dataset(single, out)
