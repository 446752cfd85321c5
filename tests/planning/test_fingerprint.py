"""Fingerprint and manifest cover every file of every input (issue 9, item 6).

Editing a vector label source, a ``.dbf`` beside a boundary ``.shp`` or a file inside a
folder dataset changes the plan fingerprint; a rerun is then not "up to date" (it
refuses to overwrite without ``--overwrite`` and, with it, re-extracts the new labels).
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

import geoharmony as gh
from geoharmony.errors import OutputExistsError
from geoharmony.io.inputs import source_files
from geoharmony.planning.plan import compute_plan
from scenes import LAT0, LON0, small_scene


def _fp(cfg: Path) -> str:
    return compute_plan(gh.load_config(cfg)).fingerprint()


def _run(exe: Path, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, check=False)


def test_editing_a_label_source_reextracts(tmp_path: Path, geoharmony_exe: Path) -> None:
    cfg = small_scene(tmp_path, labels=True)
    r = _run(geoharmony_exe, "extract", cfg)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    before = gh.open_dataset(out).store.read("streams", slice(None)).copy()
    fp0 = _fp(cfg)
    # move the stream north by ~300 m
    line = shapely.LineString([(LON0 - 0.02, LAT0 + 0.003), (LON0 + 0.02, LAT0 + 0.003)])
    gpd.GeoDataFrame({"kind": ["stream"]}, geometry=[line], crs=4326).to_file(
        tmp_path / "streams.geojson", driver="GeoJSON"
    )
    assert _fp(cfg) != fp0
    r = _run(geoharmony_exe, "extract", cfg)
    assert r.returncode == 2 and "different configuration or inputs" in r.stderr, r.stderr
    r = _run(geoharmony_exe, "extract", cfg, "--overwrite")
    assert r.returncode == 0, r.stderr
    after = gh.open_dataset(out).store.read("streams", slice(None))
    assert not np.array_equal(before, after)
    # the manifest lists the label file with its checksum
    man = gh.open_dataset(out).manifest
    (rec,) = man["inputs"]["labels"]["streams"]
    assert rec["files"][0]["path"].endswith("streams.geojson") and len(rec["sha256"]) == 64


def test_editing_the_dbf_beside_a_boundary_shp(tmp_path: Path) -> None:
    cfg = small_scene(tmp_path)
    gdf = gpd.read_file(tmp_path / "boundary.geojson")
    gdf.assign(note="a").to_file(tmp_path / "boundary.shp")
    (tmp_path / "other").mkdir()
    gdf.assign(note="b").to_file(tmp_path / "other" / "boundary.shp")
    cfg.write_text(cfg.read_text().replace("boundary.geojson", "boundary.shp"))
    files = {p.suffix for p in source_files(tmp_path / "boundary.shp")}
    assert {".shp", ".shx", ".dbf", ".prj"} <= files
    out = gh.extract(gh.load_config(cfg), progress=False)
    fp0 = _fp(cfg)
    shutil.copy(tmp_path / "other" / "boundary.dbf", tmp_path / "boundary.dbf")
    assert _fp(cfg) != fp0
    with pytest.raises(OutputExistsError, match="different configuration or inputs"):
        gh.extract(gh.load_config(cfg), progress=False)
    paths = [f["path"] for f in gh.open_dataset(out).manifest["inputs"]["boundary"]["files"]]
    assert any(p.endswith("boundary.dbf") for p in paths)


def test_editing_a_file_inside_a_folder_dataset(tmp_path: Path) -> None:
    cfg = small_scene(tmp_path)
    layers = tmp_path / "layers"
    layers.mkdir()
    line = shapely.LineString([(LON0 - 0.02, LAT0), (LON0 + 0.02, LAT0)])
    gpd.GeoDataFrame({"k": [1]}, geometry=[line], crs=4326).to_file(layers / "streams.shp")
    gpd.GeoDataFrame({"k": [1]}, geometry=[line], crs=4326).to_file(layers / "roads.shp")
    cfg.write_text(
        cfg.read_text()
        + textwrap.dedent(
            """
            [labels.streams]
            kind = "vector"
            grid = "dem"
            sources = [{ path = "layers", layer = "streams" }]
            """
        )
    )
    plan = compute_plan(gh.load_config(cfg))
    assert len(plan.input_files()["labels.streams.0"]) >= 8  # both shapefiles, all sidecars
    fp0 = plan.fingerprint()
    gpd.GeoDataFrame({"k": [2]}, geometry=[line], crs=4326).to_file(layers / "roads.shp")
    assert _fp(cfg) != fp0
