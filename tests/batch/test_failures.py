"""Failure isolation per region: one bad raster fails its region alone (real nginx, files)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import geoharmony as gh
from geoharmony.errors import DatasetError
from geoharmony.planning.plan import compute_plan
from geoharmony.qa.validate import validate
from infra.nginx import Nginx
from remote.remote_scene import CogScene, assert_same_dataset, make_cog_scene

CLI = "from geoharmony.cli.main import main; main()"
REGIONS = ("h0", "h1", "h2")


def per_region(scene: CogScene) -> None:
    """One DEM COG per region (``dem_{id}.tif``), copies of the scene's DEM."""
    for rid in REGIONS:
        shutil.copy(scene.www / "dem.tif", scene.www / f"dem_{rid}.tif")


@pytest.fixture
def scene(tmp_path: Path, http_server: Callable[..., Nginx]) -> CogScene:
    s = make_cog_scene(tmp_path, http_server, regions=3)
    per_region(s)
    return s


def remote_cfg(scene: CogScene, name: str = "remote") -> Path:
    url = scene.server.url
    return scene.config(name, {"dem": f"{url}/dem_{{id}}.tif", "opt": f"{url}/opt.tif"})


def local_cfg(scene: CogScene, name: str = "local") -> Path:
    return scene.config(name, {"dem": "www/dem_{id}.tif", "opt": "www/opt.tif"})


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True)


def _check_partial(out: Path, clean: Path, failed: str) -> None:
    """Other regions hold the clean run's patches; ``failed`` some empty (all-invalid) ones.

    A patch of the failed region is either empty (its task's read failed) or, in a task
    whose reads of it succeeded (e.g. the tiles before a truncation), the clean one.
    """
    ds, ref = gh.open_dataset(out, allow_incomplete=True), gh.open_dataset(clean)
    regions = ds.index["region"].to_numpy()
    assert set(regions) == set(REGIONS)
    empty = 0
    for k in range(len(ds)):
        got, want = ds[k], ref[k]
        if regions[k] == failed and not any(got[f"{n}_mask"].any() for n in ("dem", "opt")):
            empty += 1
            continue
        for name in ("dem", "opt"):
            np.testing.assert_array_equal(got[name], want[name])
            np.testing.assert_array_equal(got[f"{name}_mask"], want[f"{name}_mask"])
    assert empty > 0


def test_503_region_fails_alone_and_rerun_retries_only_it(scene: CogScene) -> None:
    clean = gh.extract(gh.load_config(local_cfg(scene)), workers=1)
    cfg = gh.load_config(remote_cfg(scene))
    plan = compute_plan(cfg)
    scene.server.set_fault("dem_h1.tif", "503")
    start = scene.server.log_offset()
    out = gh.extract(cfg, plan=plan, workers=2)
    tries = [r for r in scene.server.requests(start) if r.uri == "/dem_h1.tif"]
    assert len(tries) > 2 and {r.status for r in tries} == {503}  # GDAL retried
    fails = json.loads((out / "failures.json").read_text())["failures"]
    assert [(f["region"], f["input"]) for f in fails] == [("h1", "dem")]
    assert "HTTP 503" in fails[0]["reason"] and "127.0.0.1" in fails[0]["reason"]
    assert fails[0]["path"].endswith("/dem_h1.tif")
    man = json.loads((out / "manifest.json").read_text())
    assert man["complete"] is False and man["failures"]["regions"] == ["h1"]
    with pytest.raises(DatasetError, match=r"incomplete dataset: 1 region\(s\) failed \(h1"):
        gh.open_dataset(out)
    _check_partial(out, clean, "h1")
    rep = validate(out, check_inputs=False)
    assert not rep.ok and any(f.code == "incomplete" for f in rep.findings)
    # the server recovers: a rerun retries only the tasks that had failures
    failed_tasks = set(man["failures"]["tasks"])
    assert failed_tasks and len(failed_tasks) < plan.n_tasks
    before = {p.name: p.stat().st_mtime_ns for p in (out / "_tasks").glob("*.json")}
    scene.server.set_fault("dem_h1.tif", None)
    start = scene.server.log_offset()
    again = gh.extract(gh.load_config(remote_cfg(scene)), workers=1)
    assert again == out
    reqs = scene.server.requests(start)
    assert any(r.uri == "/dem_h1.tif" and r.status == 206 for r in reqs)
    assert not (out / "_tasks").exists() and not (out / "failures.json").exists()
    assert_same_dataset(clean, out)
    assert gh.open_dataset(out).complete
    # only the failed tasks' records were rewritten (the others were trusted)
    assert {n for n in before if ".failed" in n} == {f"{t:06d}.failed.json" for t in failed_tasks}


def test_dropped_connections_fail_the_region_with_the_reason(scene: CogScene) -> None:
    cfg = gh.load_config(remote_cfg(scene))
    plan = compute_plan(cfg)
    scene.server.set_fault("dem_h2.tif", "drop")
    out = gh.extract(cfg, plan=plan, workers=1)
    fails = gh.open_dataset(out, allow_incomplete=True).failures
    assert [(f["region"], f["input"]) for f in fails] == [("h2", "dem")]
    assert "closed the connection without answering" in fails[0]["reason"]


def test_truncated_file_cli_exit_3_info_and_validate(scene: CogScene) -> None:
    clean = gh.extract(gh.load_config(local_cfg(scene, "clean")), workers=1)
    bad = scene.www / "dem_h1.tif"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])  # header intact, half the tiles gone
    cfg = local_cfg(scene)
    proc = _cli("extract", str(cfg), "--workers", "2")
    assert proc.returncode == 3, proc.stderr
    err = proc.stderr.strip().splitlines()[-1]
    assert "1 region(s) failed: h1 (dem:" in err and "failures.json" in err
    assert "Traceback" not in proc.stderr
    out = scene.root / "out_local"
    fails = json.loads((out / "failures.json").read_text())["failures"]
    assert fails[0]["path"] == str(bad) and "Read" in fails[0]["reason"]
    _check_partial(out, clean, "h1")
    info = _cli("info", str(out))
    assert info.returncode == 0, info.stderr
    assert "INCOMPLETE" in info.stdout and f"region h1  dem  {bad}" in info.stdout
    val = _cli("validate", str(out))
    assert val.returncode == 1 and "incomplete" in (val.stdout + val.stderr)
    # --fail-fast stops at the first failure: exit 2, one line naming file and region
    fast = _cli("extract", str(local_cfg(scene, "fast")), "--fail-fast", "--workers", "1")
    assert fast.returncode == 2, fast.stderr
    line = fast.stderr.strip().splitlines()[-1]
    assert str(bad) in line and "'h1'" in line and "--fail-fast" in line
    assert not (scene.root / "out_fast").exists()


def test_region_whose_raster_is_missing_at_plan_time_fails_alone(scene: CogScene) -> None:
    (scene.www / "dem_h0.tif").unlink()
    out = gh.extract(gh.load_config(remote_cfg(scene)), workers=1)
    ds = gh.open_dataset(out, allow_incomplete=True)
    assert not ds.complete
    assert [(f["region"], f["stage"]) for f in ds.failures] == [("h0", "plan")]
    assert "HTTP 404" in ds.failures[0]["reason"]
    assert set(ds.index["region"]) == {"h1", "h2"}
    assert ds.index["dem_valid_fraction"].max() > 0


def test_corrupt_tiles_fail_the_region_with_the_decoder_message(scene: CogScene) -> None:
    bad = scene.www / "dem_h2.tif"
    data = bytearray(bad.read_bytes())
    for k in range(len(data) // 4, len(data) - 64, 997):  # flip bytes inside the tiles
        data[k] ^= 0xFF
    bad.write_bytes(bytes(data))
    out = gh.extract(gh.load_config(local_cfg(scene)), workers=2)
    ds = gh.open_dataset(out, allow_incomplete=True)
    assert [(f["region"], f["input"], f["path"]) for f in ds.failures] == [("h2", "dem", str(bad))]
    assert "Decoding error" in ds.failures[0]["reason"]
    assert "See previous exception" not in ds.failures[0]["reason"]
    full = ds.index.groupby("region")["dem_valid_fraction"].max()
    assert full["h0"] > 0 and full["h1"] > 0
