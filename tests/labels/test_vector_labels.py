"""Vector labels: exact pixels burned, three-valued masks (coverage), per-source bands."""

from __future__ import annotations

import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import CRS

import geoharmony as gh
from geoharmony.geometry.grid import Grid
from geoharmony.labels import burn, load_vector_layers
from geoharmony.planning.config import VectorSource
from scenes import LAT0, LON0, small_scene

X0, Y0 = 500_000.0, 4_460_000.0
UTM = CRS.from_epsg(32616)


def _rows_burned(res: float, all_touched: bool, buffer_m: float, tmp_path: Path) -> list[int]:
    """Rows hit by a horizontal line 3 m north of the centre of row 10, buffered."""
    grid = Grid(UTM, Affine(res, 0, X0, 0, -res, Y0), 40, 30)
    y = Y0 - 10.5 * res + 3.0
    line = shapely.LineString([(X0 + 5 * res, y), (X0 + 35 * res, y)])
    path = tmp_path / f"line_{res}_{buffer_m}.geojson"
    gpd.GeoDataFrame(geometry=[line], crs=UTM).to_file(path)
    layers = load_vector_layers([VectorSource(path, buffer_m=buffer_m)], grid, where="test")
    out = burn(layers, grid, all_touched=all_touched)
    return sorted(np.flatnonzero(out[:, 20]).tolist())  # a column in the line's middle


@pytest.mark.parametrize(
    ("res", "all_touched", "buffer_m", "rows"),
    [
        (10.0, False, 0.0, [10]),  # the line itself: the pixels it crosses
        (10.0, False, 15.0, [9, 10, 11]),  # centres within [-12, +18] m of row 10's centre
        (10.0, True, 15.0, [8, 9, 10, 11]),  # every pixel the 30 m corridor touches
        (30.0, False, 15.0, [10]),
        (30.0, True, 15.0, [9, 10]),
        (30.0, False, 0.0, [10]),
    ],
)
def test_burned_pixels_are_where_the_geometry_is(
    tmp_path: Path, res: float, all_touched: bool, buffer_m: float, rows: list[int]
) -> None:
    assert _rows_burned(res, all_touched, buffer_m, tmp_path) == rows


def _vector_scene(tmp_path: Path, label: str) -> gh.Dataset:
    cfgp = small_scene(tmp_path)
    gpkg = tmp_path / "nhd.gpkg"
    line = shapely.LineString([(LON0 - 0.02, LAT0), (LON0 + 0.02, LAT0)])
    lake = shapely.Point(LON0, LAT0 + 0.0005).buffer(0.001)
    gpd.GeoDataFrame({"code": [7]}, geometry=[line], crs=4326).to_file(gpkg, layer="flow")
    gpd.GeoDataFrame(geometry=[lake], crs=4326).to_file(gpkg, layer="lake")
    west = shapely.box(LON0 - 0.02, LAT0 - 0.02, LON0, LAT0 + 0.02)
    gpd.GeoDataFrame(geometry=[west], crs=4326).to_file(tmp_path / "west.geojson")
    cfgp.write_text(cfgp.read_text() + textwrap.dedent(label))
    return gh.open_dataset(gh.extract(gh.load_config(cfgp)))


def test_mask_is_false_outside_the_sources_coverage(tmp_path: Path) -> None:
    ds = _vector_scene(
        tmp_path,
        """
        [labels.water]
        kind = "vector"
        grid = "dem"
        sources = [{ path = "nhd.gpkg", layer = "flow", buffer_m = 15 }]
        """,
    )
    assert ds.manifest["outputs"]["water"]["params"]["coverage"] == "bbox"
    assert ds.manifest["outputs"]["water"]["params"]["all_touched"] is False
    lat = ds.index["lat"].to_numpy()
    far = np.flatnonzero(np.abs(lat - LAT0) > 0.002)
    assert len(far)
    for i in far[:10]:
        assert not ds[int(i)]["water_mask"].any()  # "no data", not "no stream"
    hit = 0
    for i in range(len(ds)):
        s = ds[i]
        if s["water"].any():
            hit += 1
            assert s["water_mask"][(s["water"][0] > 0) & s["dem_mask"]].all()
            assert (~s["water_mask"]).any()  # the corridor's bbox ends inside the patch
    assert hit
    # where the DEM (the label's grid) has no data, the label has none either
    for i in range(len(ds)):
        s = ds[i]
        assert not (s["water_mask"] & ~s["dem_mask"]).any()


def test_coverage_from_a_polygon_file_and_the_boundary(tmp_path: Path) -> None:
    ds = _vector_scene(
        tmp_path,
        """
        [labels.water]
        kind = "vector"
        grid = "dem"
        coverage = "west.geojson"
        sources = [{ path = "nhd.gpkg", layer = "flow", buffer_m = 15 }]

        [labels.inside]
        kind = "vector"
        grid = "dem"
        coverage = "boundary"
        all_touched = true
        sources = [{ path = "nhd.gpkg", layer = "flow", buffer_m = 15 }]
        """,
    )
    lon = ds.index["lon"].to_numpy()
    east = np.flatnonzero(lon > LON0 + 0.002)
    west = np.flatnonzero(lon < LON0 - 0.002)
    assert all(not ds[int(i)]["water_mask"].any() for i in east[:10])
    assert all(ds[int(i)]["water_mask"].mean() > 0.5 for i in west[:10])
    inside = np.mean([ds[i]["inside_mask"].mean() for i in range(len(ds))])
    assert inside > 0.95  # patch centres are inside the boundary: nearly all pixels too


def test_per_source_channels_and_values_from_an_attribute(tmp_path: Path) -> None:
    ds = _vector_scene(
        tmp_path,
        """
        [labels.water]
        kind = "vector"
        grid = "dem"
        channels = "per_source"
        coverage = "boundary"
        sources = [
          { path = "nhd.gpkg", layer = "flow", buffer_m = 15, value_field = "code" },
          { path = "nhd.gpkg", layer = "lake", value = 2 },
        ]
        """,
    )
    o = ds.manifest["outputs"]["water"]
    assert o["shape"][0] == 2 and o["params"]["bands"] == ["flow", "lake"]
    seen = [set(), set()]
    both = 0
    for i in range(len(ds)):
        w = ds[i]["water"]
        seen[0] |= set(np.unique(w[0]).tolist())
        seen[1] |= set(np.unique(w[1]).tolist())
        both += int(((w[0] > 0) & (w[1] > 0)).sum())
    assert seen == [{0, 7}, {0, 2}]
    assert both > 0  # the stream crosses the lake: separable only with per-source bands


def test_an_implausible_label_is_reported_by_info_validate_and_the_report(
    tmp_path: Path,
) -> None:
    """A 500 m 'stream' buffer: most of its coverage is water, which QA must flag."""
    from geoharmony.qa.checks import review
    from geoharmony.qa.summary import summary_text
    from geoharmony.qa.validate import validate

    ds = _vector_scene(
        tmp_path,
        """
        [labels.water]
        kind = "vector"
        grid = "dem"
        sources = [{ path = "nhd.gpkg", layer = "flow", buffer_m = 500 }]
        """,
    )
    qa = ds.manifest["label_qa"]
    (row,) = qa["implausible_regions"]
    assert row["label"] == "water" and row["positive_fraction"] > 0.5
    assert qa["patches_without_positive"]["water"] == int((ds.index["water_positive"] == 0).sum())
    assert "warning label-implausible: label water: region all is" in summary_text(ds.root)
    rep = validate(ds.root, check_inputs=False)
    assert rep.ok and any(f.code == "label-implausible" for f in rep.findings)
    assert any(f.code == "label-implausible" for f in review(ds.plan, ds.index, ds.manifest))


def test_min_positive_on_a_vector_label(tmp_path: Path) -> None:
    label = """
        [labels.water]
        kind = "vector"
        grid = "dem"
        coverage = "boundary"
        sources = [{ path = "nhd.gpkg", layer = "flow", buffer_m = 15 }]
        """
    full = _vector_scene(tmp_path / "a", label)
    kept = _vector_scene(
        tmp_path / "b",
        label.replace('kind = "vector"', 'kind = "vector"\n        min_positive = 20'),
    )
    pos = full.index["water_positive"].to_numpy()
    assert 0 < len(kept) == int((pos >= 20).sum()) < len(full)
    assert set(kept.index["patch_id"]) == set(full.index["patch_id"][pos >= 20])
