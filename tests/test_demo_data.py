"""Tests for the synthetic multi-sensor study area (geoharmony.demo.data)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.warp import transform_bounds
from shapely.geometry import box

from geoharmony.demo.data import synthesize_study_area, write_config

SIZE_KM = 3.0
PATCH = 64
RASTERS = {
    # name: (epsg, resolution, dtype, band count, nodata)
    "dem_10m.tif": (32616, 10.0, "float32", 1, -9999.0),
    "sar_vv_10m.tif": (5070, 10.0, "float32", 1, float("nan")),
    "landsat_optical_30m.tif": (32616, 30.0, "uint16", 6, 0.0),
    "landsat_thermal_30m.tif": (32616, 30.0, "float32", 1, -9999.0),
}
VECTORS = ("boundary.geojson", "streams.geojson", "waterbodies.geojson")


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("area")
    toml = synthesize_study_area(out, seed=0, size_km=SIZE_KM, patch_size=PATCH)
    assert toml == out / "pipeline.toml"
    return out


def read(path: Path, band: int | None = None) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(band) if band else src.read()


def to_utm(geom: shapely.Geometry) -> shapely.Geometry:
    t = Transformer.from_crs(4326, 32616, always_xy=True)
    return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def dem_box(area: Path) -> shapely.Polygon:
    with rasterio.open(area / "dem_10m.tif") as src:
        return box(*src.bounds)


def test_all_files_written_and_no_temporaries(area: Path) -> None:
    names = sorted(p.name for p in area.iterdir())
    assert names == sorted([*RASTERS, *VECTORS, "pipeline.toml"])


@pytest.mark.parametrize("name", sorted(RASTERS))
def test_raster_metadata(area: Path, name: str) -> None:
    epsg, res, dtype, count, nodata = RASTERS[name]
    with rasterio.open(area / name) as src:
        assert src.crs.to_epsg() == epsg
        assert src.res == pytest.approx((res, res))
        assert src.dtypes == (dtype,) * count
        assert src.count == count
        if np.isnan(nodata):
            assert src.nodata is not None and np.isnan(src.nodata)
        else:
            assert src.nodata == nodata
        assert src.profile["tiled"]
        assert src.block_shapes == [(256, 256)] * count
        assert src.compression is not None and src.compression.value == "DEFLATE"


def test_dem_extent_and_values(area: Path) -> None:
    with rasterio.open(area / "dem_10m.tif") as src:
        assert src.width == src.height == round(SIZE_KM * 100)
        dem = src.read(1)
        lon, lat = Transformer.from_crs(32616, 4326, always_xy=True).transform(
            (src.bounds.left + src.bounds.right) / 2, (src.bounds.bottom + src.bounds.top) / 2
        )
    assert lon == pytest.approx(-88.9, abs=0.02)
    assert lat == pytest.approx(40.3, abs=0.02)
    holes = dem == -9999.0
    assert 0 < holes.mean() < 0.02
    valid = dem[~holes]
    assert np.isfinite(valid).all()
    assert 165 < valid.min() < valid.max() < 335
    assert valid.max() - valid.min() > 40  # real relief, not a flat plate


def test_dem_holes_are_interior(area: Path) -> None:
    dem = read(area / "dem_10m.tif", 1)
    holes = dem == -9999.0
    assert not holes[0].any() and not holes[-1].any()
    assert not holes[:, 0].any() and not holes[:, -1].any()


def test_landsat_grid_is_offset_from_dem_grid(area: Path) -> None:
    with (
        rasterio.open(area / "dem_10m.tif") as dem,
        rasterio.open(area / "landsat_optical_30m.tif") as opt,
        rasterio.open(area / "landsat_thermal_30m.tif") as th,
    ):
        assert opt.transform == th.transform
        assert opt.shape == th.shape
        dx = opt.transform.c - dem.transform.c
        dy = opt.transform.f - dem.transform.f
        assert dx % 30 == pytest.approx(15) and dy % 30 == pytest.approx(15)
        assert box(*opt.bounds).contains(box(*dem.bounds))
        assert opt.bounds.right - dem.bounds.right < 30 and dem.bounds.left - opt.bounds.left < 30


def test_optical_values_are_plausible(area: Path) -> None:
    dn = read(area / "landsat_optical_30m.tif").astype(np.float64)
    assert dn.min() >= 7000 and dn.max() <= 30000  # no nodata (0) pixels either
    blue, green, red, nir, swir1, swir2 = dn
    # vegetated landscape: NIR well above red on average; swir2 below swir1
    assert nir.mean() > 1.3 * red.mean()
    assert swir2.mean() < swir1.mean()
    assert (nir > red).mean() > 0.8
    assert green.mean() > blue.mean() * 0.9


def test_thermal_values_are_plausible(area: Path) -> None:
    lst = read(area / "landsat_thermal_30m.tif", 1)
    assert np.isfinite(lst).all()
    assert lst.min() > 285 and lst.max() < 320
    assert lst.std() > 1.0


def test_sar_covers_dem_with_valid_backscatter(area: Path) -> None:
    with rasterio.open(area / "dem_10m.tif") as dem:
        dem_bounds = dem.bounds
    with rasterio.open(area / "sar_vv_10m.tif") as sar:
        vv = sar.read(1)
        sar_box = box(*sar.bounds)
        assert sar_box.contains(box(*transform_bounds(32616, 5070, *dem_bounds, densify_pts=21)))
        # sample along the DEM's outline, reprojected: all valid pixels
        outline = box(*dem_bounds).exterior.segmentize(50.0)
        xs, ys = np.asarray(outline.coords).T
        sx, sy = Transformer.from_crs(32616, 5070, always_xy=True).transform(xs, ys)
        values = np.array([v[0] for v in sar.sample(zip(sx, sy, strict=True))])
    assert np.isfinite(values).all()
    assert np.isfinite(vv).all()
    assert vv.min() >= -30 and vv.max() <= 5
    assert -16 < np.median(vv) < -4
    assert vv.std() > 1.5  # speckled


def test_boundary(area: Path) -> None:
    gdf = gpd.read_file(area / "boundary.geojson")
    assert gdf.crs.to_epsg() == 4326
    assert len(gdf) == 1
    row = gdf.iloc[0]
    assert row["huc12"] == "071300090405"
    assert row["name"] == "Synthetic Pine Lake"
    geom = row.geometry
    assert geom.geom_type == "Polygon"
    assert shapely.is_valid(geom)
    assert len(geom.exterior.coords) < 500
    utm = to_utm(geom)
    square = dem_box(area)
    assert square.contains(utm)
    assert 0.35 < utm.area / square.area < 0.65


def test_streams_and_waterbodies(area: Path) -> None:
    square = dem_box(area)
    streams = gpd.read_file(area / "streams.geojson")
    lakes = gpd.read_file(area / "waterbodies.geojson")
    assert streams.crs.to_epsg() == 4326 and lakes.crs.to_epsg() == 4326
    assert len(streams) >= 3
    assert set(streams.geom_type) == {"LineString"}
    assert set(streams["kind"]) == {"stream"}
    assert 1 <= len(lakes) <= 2
    assert set(lakes.geom_type) == {"Polygon"}
    assert set(lakes["kind"]) == {"lake"}
    for geom in [*streams.geometry, *lakes.geometry]:
        utm = to_utm(geom)
        assert shapely.is_valid(utm)
        assert square.buffer(1.0).contains(utm)
    assert max(to_utm(g).length for g in streams.geometry) > 0.5 * SIZE_KM * 1000


def test_streams_run_along_valleys(area: Path) -> None:
    """Channels are lower than the ground 300 m to either side of them."""
    streams = gpd.read_file(area / "streams.geojson").to_crs(32616)
    below = []
    with rasterio.open(area / "dem_10m.tif") as src:

        def z(points: np.ndarray) -> np.ndarray:
            return np.array([v[0] for v in src.sample(points)], dtype=float)

        for line in streams.geometry:
            xy = np.asarray(line.segmentize(50.0).coords)[:, :2]
            tangent = np.gradient(xy, axis=0)
            tangent /= np.hypot(*tangent.T)[:, None]
            normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
            on, left, right = z(xy), z(xy + 300 * normal), z(xy - 300 * normal)
            ok = (on != -9999) & (left != -9999) & (right != -9999)
            below.append((on < (left + right) / 2)[ok])
    assert np.concatenate(below).mean() > 0.75


def test_pipeline_toml(area: Path) -> None:
    raw = tomllib.loads((area / "pipeline.toml").read_text(encoding="utf-8"))
    assert raw["study_area"] == {"boundary": "boundary.geojson", "buffer_m": 0}
    assert raw["grid"] == {
        "reference": "dem",
        "patch_size": PATCH,
        "stride": PATCH,
        "mode": "native",
        "keep": "center",
    }
    assert {k: v["path"] for k, v in raw["modalities"].items()} == {
        "dem": "dem_10m.tif",
        "sar": "sar_vv_10m.tif",
        "optical": "landsat_optical_30m.tif",
        "thermal": "landsat_thermal_30m.tif",
    }
    # issue 9: blocks of a quarter of the side (<= 3 km); leaking val/test kept as "guard"
    block_m = min(3000, int(SIZE_KM * 250))
    assert raw["split"] == {
        "by": "block",
        "fractions": [0.8, 0.1, 0.1],
        "seed": 0,
        "block_m": block_m,
        "guard": "keep",
    }
    assert raw["labels"]["streams"] == {
        "kind": "vector",
        "grid": "dem",
        "sources": [{"path": "streams.geojson", "buffer_m": 15}, {"path": "waterbodies.geojson"}],
    }
    assert raw["labels"]["flowdir"] == {"kind": "d8", "dem": "dem"}
    assert raw["output"] == {"path": "dataset", "format": "zarr"}
    for m in raw["modalities"].values():
        assert (area / m["path"]).is_file()


def test_pipeline_toml_loads_with_config_reader(area: Path) -> None:
    config = pytest.importorskip("geoharmony.planning.config")
    cfg = config.load_config(area / "pipeline.toml")
    assert cfg.grid.patch_size == PATCH
    assert set(cfg.modalities) == {"dem", "sar", "optical", "thermal"}
    assert set(cfg.labels) == {"streams", "flowdir"}


def test_same_seed_same_data_other_seed_different(area: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    other = tmp_path / "other"
    synthesize_study_area(again, seed=0, size_km=SIZE_KM, patch_size=PATCH)
    synthesize_study_area(other, seed=1, size_km=SIZE_KM, patch_size=PATCH)
    for name in RASTERS:
        a, b, c = read(area / name), read(again / name), read(other / name)
        assert np.array_equal(a, b, equal_nan=True), name
        assert a.shape != c.shape or not np.array_equal(a, c, equal_nan=True), name
    for name in (*VECTORS, "pipeline.toml"):
        assert (area / name).read_bytes() == (again / name).read_bytes(), name
    for name in VECTORS:
        assert (area / name).read_bytes() != (other / name).read_bytes(), name


def test_block_size_does_not_change_pixels(area: Path, tmp_path: Path) -> None:
    synthesize_study_area(tmp_path, seed=0, size_km=SIZE_KM, patch_size=PATCH, block=128)
    for name in RASTERS:
        with rasterio.open(tmp_path / name) as src:
            assert src.block_shapes[0] == (128, 128)
        assert np.array_equal(read(area / name), read(tmp_path / name), equal_nan=True), name


@pytest.mark.parametrize(
    "kwargs",
    [{"size_km": 1.0}, {"size_km": float("nan")}, {"block": 100}, {"block": 0}, {"patch_size": 0}],
)
def test_invalid_arguments(tmp_path: Path, kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        synthesize_study_area(tmp_path, **kwargs)  # type: ignore[arg-type]
    assert not any(tmp_path.iterdir())


def test_write_config_alone(tmp_path: Path) -> None:
    path = write_config(tmp_path / "sub", patch_size=128, stride=96, split_seed=7)
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    assert raw["grid"]["patch_size"] == 128 and raw["grid"]["stride"] == 96
    assert raw["split"]["seed"] == 7
    assert [p.name for p in path.parent.iterdir()] == ["pipeline.toml"]


@pytest.mark.slow
def test_default_size(tmp_path: Path) -> None:
    toml = synthesize_study_area(tmp_path, seed=3)
    assert tomllib.loads(toml.read_text())["grid"]["patch_size"] == 224
    with rasterio.open(tmp_path / "dem_10m.tif") as dem:
        assert dem.shape == (1200, 1200)
        assert 0 < (dem.read(1) == -9999).mean() < 0.02
    with rasterio.open(tmp_path / "landsat_optical_30m.tif") as opt:
        assert opt.shape == (401, 401)
    with rasterio.open(tmp_path / "sar_vv_10m.tif") as sar:
        assert np.isfinite(sar.read(1)).all()
    gdf = gpd.read_file(tmp_path / "boundary.geojson")
    utm = to_utm(gdf.geometry.iloc[0])
    assert 0.4 < utm.area / (12_000.0**2) < 0.6
    assert json.loads((tmp_path / "streams.geojson").read_text())["features"]
