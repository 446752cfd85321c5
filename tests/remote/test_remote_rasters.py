"""Remote rasters over real HTTP (nginx on 127.0.0.1): same dataset as local files."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import geoharmony as gh
from geoharmony.errors import InputError
from geoharmony.io.manifest import raster_record
from geoharmony.planning.plan import compute_plan
from geoharmony.qa.validate import validate
from infra.nginx import Nginx
from remote.remote_scene import assert_same_dataset, make_cog_scene

CLI = "from geoharmony.cli.main import main; main()"


@pytest.fixture
def scene(tmp_path: Path, http_server: Callable[..., Nginx]):
    return make_cog_scene(tmp_path, http_server)


def test_config_keeps_urls_and_vsi_paths_as_written(scene) -> None:
    cfg = gh.load_config(scene.remote())
    assert cfg.modalities["dem"].path == f"{scene.server.url}/dem.tif"
    assert cfg.modalities["opt"].path == f"/vsicurl/{scene.server.url}/opt.tif"
    assert cfg.modalities["dem"].path_for("x") == f"{scene.server.url}/dem.tif"
    assert cfg.modalities["dem"].remote


@pytest.mark.parametrize("workers", [1, 2])
def test_remote_dataset_equals_local_byte_for_byte(scene, workers: int) -> None:
    local = gh.extract(gh.load_config(scene.local()), workers=1)
    start = scene.server.log_offset()
    remote = gh.extract(gh.load_config(scene.remote()), workers=workers)
    assert_same_dataset(local, remote)
    reqs = scene.server.requests(start)
    assert reqs, "nothing was fetched over HTTP"
    assert {r.status for r in reqs} <= {200, 206}
    # reads are ranged: no full-file GET of a raster
    full = [r for r in reqs if r.method == "GET" and not r.range]
    assert not full, full
    man = json.loads((remote / "manifest.json").read_text())
    rec = raster_record(man, "dem", "h0")
    assert rec["path"] == f"{scene.server.url}/dem.tif"
    assert rec["sha256"] is None
    assert rec["size"] == (scene.www / "dem.tif").stat().st_size
    assert rec["remote"]["etag"]
    # validate re-checks size and ETag with one HEAD request
    rep = validate(remote)
    assert rep.ok
    assert any("size and ETag match" in c for c in rep.checked)


def test_each_cog_header_read_once_per_worker(scene) -> None:
    cfg = gh.load_config(scene.remote())
    plan = compute_plan(cfg)
    assert plan.n_tasks >= 6  # many more tasks than workers
    start = scene.server.log_offset()
    gh.extract(cfg, plan=plan, workers=2)
    reqs = scene.server.requests(start)
    for uri in ("/dem.tif", "/opt.tif"):
        heads = [r for r in reqs if r.method == "HEAD" and r.uri == uri]
        headers = [r for r in reqs if r.uri == uri and r.range == "bytes=0-32767"]
        # each of the 2 worker processes opens each raster once, whatever its task count
        assert 1 <= len(heads) <= 2 and 1 <= len(headers) <= 2, (uri, heads, headers)
    assert all(r.uri in ("/dem.tif", "/opt.tif") for r in reqs), "sidecar probes were made"


def test_missing_remote_raster_names_host_and_status(scene) -> None:
    cfg = scene.config("missing", {"dem": f"{scene.server.url}/nope.tif"})
    host = scene.server.url.removeprefix("http://")
    with pytest.raises(InputError) as err:
        compute_plan(gh.load_config(cfg))
    msg = str(err.value)
    assert f"{scene.server.url}/nope.tif" in msg
    assert host in msg and "HTTP 404" in msg and "[modalities.dem].path" in msg


def test_unreachable_host_says_so_and_cli_exits_2(scene, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    cfg = scene.config("down", {"dem": f"http://127.0.0.1:{port}/dem.tif"})
    proc = subprocess.run(
        [sys.executable, "-c", CLI, "extract", str(cfg)], capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert f"127.0.0.1:{port}" in line and "connection refused" in line
    assert "Traceback" not in proc.stderr


def test_503_at_plan_time_is_retried_then_refused(scene) -> None:
    scene.server.set_fault("dem.tif", "503")
    start = scene.server.log_offset()
    with pytest.raises(InputError, match=r"HTTP 503.*after 4 attempts|after 4 attempts.*503"):
        compute_plan(gh.load_config(scene.remote()))
    tries = [r for r in scene.server.requests(start) if r.uri == "/dem.tif"]
    assert len(tries) == 4 and {r.status for r in tries} == {503}


def test_transient_503_is_retried_and_the_run_completes(scene) -> None:
    """The server answers 503 until the first 503 is logged, then recovers (an nginx
    reload): the read is retried (GDAL's retries, then geoharmony's re-read of the
    rectangle, see ``execution.failures.with_retries``) and nothing fails."""
    import threading
    import time

    local = gh.extract(gh.load_config(scene.local()), workers=1)
    cfg = gh.load_config(scene.remote())
    plan = compute_plan(cfg)
    start = scene.server.log_offset()
    scene.server.set_fault("dem.tif", "503")
    healed = threading.Event()

    def heal() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(r.status == 503 for r in scene.server.requests(start, settle=0.02)):
                scene.server.set_fault("dem.tif", None)
                healed.set()
                return

    t = threading.Thread(target=heal, daemon=True)
    t.start()
    out = gh.extract(cfg, plan=plan, workers=1)
    t.join(timeout=60)
    assert healed.is_set()
    assert gh.open_dataset(out).complete
    assert_same_dataset(local, out)
    statuses = [r.status for r in scene.server.requests(start) if r.uri == "/dem.tif"]
    assert 503 in statuses and statuses[-1] == 206
