"""--shard I/N and --finish: N jobs build the dataset one run builds (in process and CLI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import geoharmony as gh
from geoharmony.errors import ConfigError, DatasetError, OutputExistsError
from geoharmony.execution.shards import Shard, parse_shard
from geoharmony.planning.plan import compute_plan
from remote.remote_scene import assert_same_dataset
from scenes import small_scene

CLI = "from geoharmony.cli.main import main; main()"


def _configs(tmp_path: Path) -> tuple[Path, Path]:
    toml = small_scene(tmp_path, regions=3)
    text = toml.read_text()
    sharded = tmp_path / "sharded.toml"
    sharded.write_text(text.replace('path = "out"', 'path = "out_sharded"'))
    return toml, sharded


def test_parse_shard_rules() -> None:
    assert parse_shard("2/4") == Shard(2, 4)
    assert Shard(1, 3).tasks(8) == {1, 4, 7}
    with pytest.raises(ConfigError, match=r"--shard 4/4: needs N >= 1 and 0 <= I < N.*SLURM"):
        parse_shard("4/4")
    with pytest.raises(ConfigError, match=r"--shard must be I/N .* found '3'"):
        parse_shard("3")


def test_shards_assemble_into_the_single_run_dataset(tmp_path: Path) -> None:
    single_toml, sharded_toml = _configs(tmp_path)
    single = gh.extract(gh.load_config(single_toml), workers=1)
    cfg = gh.load_config(sharded_toml)
    n_tasks = compute_plan(cfg).n_tasks
    assert n_tasks >= 6
    partial = gh.extract(cfg, shard="0/3", workers=1)
    assert partial.name.startswith(".out_sharded.partial-")  # named by fingerprint
    gh.extract(cfg, shard="2/3", workers=2)
    out = tmp_path / "out_sharded"
    assert not out.exists()
    # --finish with shard 1/3 missing names its tasks and the shard
    missing = sorted(Shard(1, 3).tasks(n_tasks))
    with pytest.raises(DatasetError) as err:
        gh.extract(cfg, finish=True)
    msg = str(err.value)
    assert f"{len(missing)} of {n_tasks} tasks are not recorded yet" in msg
    assert f"tasks {', '.join(map(str, missing))}" in msg and "shard(s) 1/3" in msg
    gh.extract(cfg, shard="1/3", workers=1)
    assert gh.extract(cfg, finish=True) == out
    assert_same_dataset(single, out)
    assert not (out / "_tasks").exists() and not (out / "_shards").exists()
    assert not list(tmp_path.glob(".out_sharded.*"))  # no partial, lock or set-up lock left
    # rerunning a shard on a finished dataset does nothing
    assert gh.extract(cfg, shard="1/3") == out


def test_plain_extract_after_some_shards_runs_only_the_missing_tasks(tmp_path: Path) -> None:
    single_toml, sharded_toml = _configs(tmp_path)
    single = gh.extract(gh.load_config(single_toml), workers=1)
    cfg = gh.load_config(sharded_toml)
    partial = gh.extract(cfg, shard="1/2", workers=1)
    recorded = {p.name: p.stat().st_mtime_ns for p in (partial / "_tasks").glob("*.json")}
    assert recorded
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            CLI,
            "--no-progress",
            "extract",
            str(sharded_toml),
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"resuming: {len(recorded)} of" in proc.stderr
    assert_same_dataset(single, tmp_path / "out_sharded")


def test_foreign_shards_and_unshareable_formats_are_refused(tmp_path: Path) -> None:
    _, sharded_toml = _configs(tmp_path)
    gh.extract(gh.load_config(sharded_toml), shard="0/4", workers=1)
    other = tmp_path / "other.toml"
    other.write_text(sharded_toml.read_text().replace("patch_size = 16", "patch_size = 8"))
    with pytest.raises(OutputExistsError, match=r"holds a sharded run of another configuration"):
        gh.extract(gh.load_config(other), shard="1/4", workers=1)
    # the first run's work is untouched and it still finishes
    cfg = gh.load_config(sharded_toml)
    for i in (1, 2, 3):
        gh.extract(cfg, shard=f"{i}/4", workers=1)
    assert json.loads((gh.extract(cfg, finish=True) / "manifest.json").read_text())["complete"]
    h5 = tmp_path / "h5.toml"
    h5.write_text(
        sharded_toml.read_text()
        .replace('format = "zarr"', 'format = "hdf5"')
        .replace('path = "out_sharded"', 'path = "out_h5"')
    )
    with pytest.raises(ConfigError, match=r"format = 'hdf5' writes one file .* --shard cannot"):
        gh.extract(gh.load_config(h5), shard="0/2")
    with pytest.raises(DatasetError, match=r"nothing to finish"):
        gh.extract(gh.load_config(h5), finish=True)


def test_finish_with_a_failed_region_exits_3_and_rerun_of_shards_completes(tmp_path: Path):
    import shutil

    toml = small_scene(tmp_path, regions=3)
    for rid in ("h0", "h1", "h2"):
        shutil.copy(tmp_path / "dem.tif", tmp_path / f"dem_{rid}.tif")
    cfg_path = tmp_path / "per_region.toml"
    cfg_path.write_text(toml.read_text().replace('path = "dem.tif"', 'path = "dem_{id}.tif"'))
    moved = tmp_path / "dem_h1.tif.away"
    (tmp_path / "dem_h1.tif").rename(moved)  # region h1's own raster is missing
    for i in (0, 1):
        gh.extract(gh.load_config(cfg_path), shard=f"{i}/2", workers=1)
    fin = subprocess.run(
        [sys.executable, "-c", CLI, "extract", str(cfg_path), "--finish"],
        capture_output=True,
        text=True,
    )
    assert fin.returncode == 3, fin.stderr
    assert "1 region(s) failed: h1 (dem:" in fin.stderr and "raster not found" in fin.stderr
    out = tmp_path / "out"
    ds = gh.open_dataset(out, allow_incomplete=True)
    assert [(f["region"], f["stage"]) for f in ds.failures] == [("h1", "plan")]
    assert set(ds.index["region"]) == {"h0", "h2"}
    # the raster is back (same bytes, same mtime): the array is resubmitted and finished
    moved.rename(tmp_path / "dem_h1.tif")
    cfg = gh.load_config(cfg_path)
    for i in (0, 1):
        gh.extract(cfg, shard=f"{i}/2", workers=1)
    done = gh.extract(cfg, finish=True)
    assert gh.open_dataset(done).complete
    assert set(gh.open_dataset(done).index["region"]) == {"h0", "h1", "h2"}


def test_shards_share_the_output_lock_and_a_plain_run_is_refused_meanwhile(tmp_path: Path):
    from geoharmony.errors import OutputLockedError
    from geoharmony.execution.lock import OutputLock

    _, sharded_toml = _configs(tmp_path)
    cfg = gh.load_config(sharded_toml)
    out = tmp_path / "out_sharded"
    fp = compute_plan(cfg).fingerprint()
    with OutputLock(out, fp, exclusive=False):  # another shard of this run is running
        gh.extract(cfg, shard="0/2", workers=1)  # shards cooperate
        with pytest.raises(OutputLockedError, match="another extract is writing this output"):
            gh.extract(cfg, workers=1)  # a plain run (or --finish) waits for the shards
        with pytest.raises(OutputLockedError):
            gh.extract(cfg, finish=True)
    gh.extract(cfg, shard="1/2", workers=1)
    assert gh.open_dataset(gh.extract(cfg, finish=True)).complete
