"""Issue 9 on real data: the NM HUC12 (NED 1/3", EPSG:4269) cut into two adjacent halves,
buffered 500 m and split by explicit lists (the README's headline workflow).

Before issue 9, 9 patches were stored twice, pixel-identical, once in train and once in
test. Now: every lattice point once, the two halves together plan exactly what the whole
HUC12 plans, no test footprint overlaps a train footprint, and footprint mode accepts the
geographic DEM (ground metres at the region's centroid).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

import geoharmony as gh
from geoharmony.planning.frame import footprints
from geoharmony.planning.ownership import cross_region_duplicates
from geoharmony.planning.plan import compute_plan
from synth import write_config

pytestmark = pytest.mark.realdata

DEM = "USGS_NED_13_n37w108_Clipped.tif"


def _halves(d: Path, root: Path) -> tuple[Path, Path]:
    huc = gpd.read_file(d / "WBDHU12.shp")
    poly = shapely.union_all(huc.geometry.values)
    xmin, ymin, xmax, ymax = poly.bounds
    mid = (xmin + xmax) / 2
    west = shapely.intersection(poly, shapely.box(xmin - 1, ymin - 1, mid, ymax + 1))
    east = shapely.intersection(poly, shapely.box(mid, ymin - 1, xmax + 1, ymax + 1))
    gpd.GeoDataFrame({"huc": ["0101", "0102"]}, geometry=[west, east], crs=huc.crs).to_file(
        root / "halves.geojson", driver="GeoJSON"
    )
    gpd.GeoDataFrame({"huc": ["01"]}, geometry=[poly], crs=huc.crs).to_file(
        root / "whole.geojson", driver="GeoJSON"
    )
    return root / "halves.geojson", root / "whole.geojson"


def _cfg(root: Path, d: Path, boundary: Path, extra: str = "", grid: str = "") -> Path:
    return write_config(
        root / f"{boundary.stem}.toml",
        f"""
        [study_area]
        boundary = "{boundary}"
        id_field = "huc"
        buffer_m = 500

        [grid]
        patch_size = 128
        stride = 96
        {grid}

        [modalities.dem]
        path = "{d / DEM}"

        [output]
        path = "out_{boundary.stem}"
        {extra}
        """,
    )


def test_adjacent_buffered_halves_no_duplicate_no_leak(shared_data: Path, tmp_path: Path) -> None:
    d = shared_data / "nm_huc12_ned10m"
    if not (d / DEM).exists():
        pytest.skip(f"{d / DEM} missing")
    halves, whole = _halves(d, tmp_path)
    split = '\n        [split]\n        train = ["0101"]\n        test = ["0102"]'
    plan = compute_plan(gh.load_config(_cfg(tmp_path, d, halves, split)))
    t = plan.table
    assert cross_region_duplicates(t).empty
    assert not t.duplicated(["lattice_i", "lattice_j"]).any()
    one = compute_plan(gh.load_config(_cfg(tmp_path, d, whole))).table
    key = ["lattice_i", "lattice_j"]
    # the guard removed only test patches; with them back the halves equal the whole
    keep_plan = compute_plan(
        gh.load_config(_cfg(tmp_path, d, halves, split + '\n        guard = "keep"'))
    ).table
    assert set(map(tuple, keep_plan[key].to_numpy().tolist())) == set(
        map(tuple, one[key].to_numpy().tolist())
    )
    # no test footprint overlaps a train footprint (checked on the polygons)
    fp = footprints(plan, "dem")
    train = fp[(t["split"] == "train").to_numpy()]
    test = fp[(t["split"] == "test").to_numpy()]
    assert len(train) > 10 and len(test) > 10
    tree = shapely.STRtree(train)
    for p in test:
        for q in train[tree.query(p)]:
            assert shapely.area(shapely.intersection(p, q)) <= 1e-9 * p.area
    assert (keep_plan["split"] == "guard").sum() > 0  # buffers overlap: some were guarded
    assert any("guard" in n for n in plan.notes)


def test_geographic_ned_in_footprint_mode(shared_data: Path, tmp_path: Path) -> None:
    d = shared_data / "nm_huc12_ned10m"
    if not (d / DEM).exists():
        pytest.skip(f"{d / DEM} missing")
    halves, _ = _halves(d, tmp_path)
    plan = compute_plan(gh.load_config(_cfg(tmp_path, d, halves, grid='mode = "footprint"')))
    gx, gy = plan.ground["0101"]["dem"]
    assert 8.0 < gx < 8.6 and 10.2 < gy < 10.35  # 1/3" at 36.4 N: non-square on the ground
    assert plan.n_patches > 10
    np.testing.assert_array_less(np.abs(plan.table["dem_dcol"]), 0.5 + 1e-9)
