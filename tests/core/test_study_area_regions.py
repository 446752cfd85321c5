"""Study-area regions: id_field, where, buffer_m in true metres, repairs (issue 2, part 2/4)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Geod

from geoharmony.errors import ConfigError, GeometryRepairedWarning, InputError
from geoharmony.planning.config import StudyAreaConfig
from geoharmony.planning.study_area import load_regions
from synth import lonlat_to, write_boundary

X0, Y0 = lonlat_to("EPSG:32613", -105.3, 40.2)


def _square(cx: float, cy: float, half: float) -> shapely.Polygon:
    return shapely.box(cx - half, cy - half, cx + half, cy + half)


@pytest.fixture
def regions_file(tmp_path: Path) -> Path:
    geoms = [_square(X0, Y0, 200), _square(X0 + 1000, Y0, 200), _square(X0 + 1300, Y0, 50)]
    props = [{"name": "A", "kind": "x"}, {"name": "B", "kind": "y"}, {"name": "B", "kind": "y"}]
    return write_boundary(tmp_path / "r.geojson", geoms, "EPSG:32613", props)


def test_one_region_per_id_and_all_features_otherwise(regions_file: Path) -> None:
    regions = load_regions(StudyAreaConfig(boundary=regions_file, id_field="name"))
    assert [r.id for r in regions] == ["A", "B"]
    areas = {r.id: shapely.area(r.geometry) for r in regions}
    assert areas["A"] == pytest.approx(400 * 400)
    assert areas["B"] == pytest.approx(400 * 400 + 100 * 100)  # two features, one region
    (single,) = load_regions(StudyAreaConfig(boundary=regions_file))
    assert shapely.area(single.geometry) == pytest.approx(2 * 160_000 + 10_000)


def test_where_filter(regions_file: Path) -> None:
    regions = load_regions(
        StudyAreaConfig(boundary=regions_file, id_field="name", where="kind = 'y'")
    )
    assert [r.id for r in regions] == ["B"]
    with pytest.raises(
        InputError, match=r"has no features after \[study_area\]\.where = \"kind = 'z'\""
    ):
        load_regions(StudyAreaConfig(boundary=regions_file, where="kind = 'z'"))
    with pytest.raises(ConfigError, match=r"\[study_area\]\.where = .* is not a valid filter"):
        load_regions(StudyAreaConfig(boundary=regions_file, where="nosuchfield = 1"))


@pytest.mark.parametrize("buffer_m", [100.0, -50.0])
def test_buffer_in_true_metres_projected(regions_file: Path, buffer_m: float) -> None:
    (a,) = [
        r
        for r in load_regions(
            StudyAreaConfig(boundary=regions_file, id_field="name", buffer_m=buffer_m)
        )
        if r.id == "A"
    ]
    side = 400 + 2 * buffer_m
    rounded = (4 - math.pi) * buffer_m**2 if buffer_m > 0 else 0.0  # corners are arcs
    expected = side**2 - rounded
    # UTM's scale factor near the zone centre is within 0.04 %: areas agree to 0.2 %
    assert shapely.area(a.geometry) == pytest.approx(expected, rel=2e-3)
    assert shapely.area(a.boundary) == pytest.approx(160_000)  # the original is kept
    assert a.geometry.is_valid


def test_buffer_in_true_metres_geographic(tmp_path: Path) -> None:
    # a 0.01 x 0.01 degree box at 60 N: a buffer in degrees would be absurd, metres are not
    box = shapely.box(10.0, 60.0, 10.01, 60.01)
    path = write_boundary(tmp_path / "g.geojson", [box], "EPSG:4326")
    geod = Geod(ellps="WGS84")
    a0 = abs(geod.geometry_area_perimeter(box)[0])
    per = abs(geod.geometry_area_perimeter(box)[1])
    (r,) = load_regions(StudyAreaConfig(boundary=path, buffer_m=200.0))
    area = abs(geod.geometry_area_perimeter(r.geometry)[0])
    expected = a0 + per * 200 + math.pi * 200**2
    assert area == pytest.approx(expected, rel=5e-3)
    # the buffer is isotropic on the ground: equal growth north and east
    _, _, maxx, maxy = r.geometry.bounds
    _, _, east = geod.inv(10.01, 60.005, maxx, 60.005)
    _, _, north = geod.inv(10.005, 60.01, 10.005, maxy)
    assert east == pytest.approx(200, abs=2) and north == pytest.approx(200, abs=2)


def test_invalid_geometry_repaired_with_reason(tmp_path: Path) -> None:
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100)])
    assert not bowtie.is_valid
    reason = shapely.is_valid_reason(bowtie)
    path = write_boundary(
        tmp_path / "b.geojson",
        [bowtie, _square(X0 + 500, Y0, 50)],
        "EPSG:32613",
        [{"id": "bow"}, {"id": "ok"}],
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        regions = load_regions(StudyAreaConfig(boundary=path, id_field="id"))
    rep = [w for w in caught if issubclass(w.category, GeometryRepairedWarning)]
    assert len(rep) == 1
    msg = str(rep[0].message)
    assert "'bow'" in msg and reason in msg and str(path) in msg
    bow = next(r for r in regions if r.id == "bow")
    assert bow.geometry.is_valid and shapely.area(bow.geometry) == pytest.approx(5000)


def test_region_ids_are_safe_names(tmp_path: Path) -> None:
    path = write_boundary(
        tmp_path / "s.geojson", [_square(X0, Y0, 50)], "EPSG:32613", [{"id": "14/08 01"}]
    )
    (r,) = load_regions(StudyAreaConfig(boundary=path, id_field="id"))
    assert "/" not in r.id and r.id.startswith("14")


def test_region_in_other_crs_bends_edges(regions_file: Path) -> None:
    (a,) = [
        r
        for r in load_regions(StudyAreaConfig(boundary=regions_file, id_field="name"))
        if r.id == "A"
    ]
    from pyproj import CRS

    g = a.in_crs(CRS.from_epsg(4326))
    assert len(shapely.get_coordinates(g)) > 5 * 4  # densified before transforming
    xs, ys = shapely.get_coordinates(g).T
    lon, lat = np.array([X0]), np.array([Y0])
    from pyproj import Transformer

    clon, clat = Transformer.from_crs(32613, 4326, always_xy=True).transform(lon, lat)
    assert xs.min() < clon[0] < xs.max() and ys.min() < clat[0] < ys.max()


def test_raster_that_misses_the_region_warns(tmp_path: Path) -> None:
    """A boundary no raster reaches would silently give an all-invalid modality: warn."""
    import shapely
    from affine import Affine

    import geoharmony as gh
    from geoharmony.errors import CoverageWarning
    from synth import write_config, write_coord_raster

    x0, y0 = lonlat_to(32616, -88.9, 40.3)
    write_coord_raster(
        tmp_path / "near.tif",
        crs=32616,
        transform=Affine(10, 0, x0 - 500, 0, -10, y0 + 500),
        width=100,
        height=100,
    )
    write_coord_raster(
        tmp_path / "far.tif",
        crs=32616,
        transform=Affine(10, 0, x0 + 50_000, 0, -10, y0),
        width=50,
        height=50,
    )
    write_boundary(tmp_path / "b.geojson", [shapely.Point(-88.9, 40.3).buffer(0.003)], 4326)
    cfg = write_config(
        tmp_path / "p.toml",
        """
        [study_area]
        boundary = "b.geojson"
        [grid]
        reference = "near"
        patch_size = 10
        [modalities.near]
        path = "near.tif"
        [modalities.far]
        path = "far.tif"
        [output]
        path = "out"
        """,
    )
    with pytest.warns(CoverageWarning, match=r"\[modalities.far\] .*far.tif does not overlap"):
        gh.plan(gh.load_config(cfg))
