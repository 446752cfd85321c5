"""Small synthetic scenes (rasters + boundary + config) shared by integration tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine
from pyproj import CRS, Transformer

LON0, LAT0 = -88.9, 40.3


def _utm(lon: float, lat: float) -> tuple[float, float]:
    x, y = Transformer.from_crs(4326, 32616, always_xy=True).transform(lon, lat)
    return float(x), float(y)


def write_dem(path: Path, *, x0: float, y0: float, res: float, n: int, seed: int = 0) -> Path:
    """A smooth random DEM (float32, nodata -9999, one small hole) in EPSG:32616."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:n, 0:n].astype(np.float32)
    dem = 200 + 0.05 * cols + 0.02 * rows + 5 * np.sin(cols / 17.0) * np.cos(rows / 23.0)
    dem += rng.normal(scale=0.01, size=dem.shape).astype(np.float32)
    dem[n // 3 : n // 3 + 6, n // 2 : n // 2 + 6] = -9999
    prof = {
        "driver": "GTiff",
        "width": n,
        "height": n,
        "count": 1,
        "dtype": "float32",
        "crs": CRS.from_epsg(32616).to_wkt(),
        "transform": Affine(res, 0, x0, 0, -res, y0),
        "nodata": -9999.0,
        "tiled": True,
        "blockxsize": 64,
        "blockysize": 64,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(dem.astype(np.float32), 1)
    return path


def small_scene(
    root: Path,
    *,
    mode: str = "native",
    labels: bool = False,
    regions: int = 1,
    fmt: str = "zarr",
    split: str = "",
    patch: int = 16,
) -> Path:
    """Write a 10 m DEM (UTM) + 30 m optical-like raster (Albers) + boundary; return the toml."""
    root.mkdir(parents=True, exist_ok=True)
    x0, y0 = _utm(LON0, LAT0)
    n = 320
    write_dem(root / "dem.tif", x0=x0 - 1600, y0=y0 + 1600, res=10, n=n)
    ax, ay = Transformer.from_crs(4326, 5070, always_xy=True).transform(LON0, LAT0)
    m = 130
    rng = np.random.default_rng(1)
    prof = {
        "driver": "GTiff",
        "width": m,
        "height": m,
        "count": 3,
        "dtype": "uint16",
        "crs": CRS.from_epsg(5070).to_wkt(),
        "transform": Affine(30, 0, ax - 1950, 0, -30, ay + 1950),
        "nodata": 0,
    }
    with rasterio.open(root / "opt.tif", "w", **prof) as dst:
        dst.write(rng.integers(1, 5000, size=(3, m, m), dtype=np.uint16))
    # boundary: regions side by side, in EPSG:4326
    feats = []
    w = 0.024 / regions
    for k in range(regions):
        west = LON0 - 0.012 + k * w
        feats.append(shapely.box(west, LAT0 - 0.01, west + w, LAT0 + 0.01))
    import geopandas as gpd

    gpd.GeoDataFrame({"huc": [f"h{k}" for k in range(regions)]}, geometry=feats, crs=4326).to_file(
        root / "boundary.geojson", driver="GeoJSON"
    )
    body = f"""
    [study_area]
    boundary = "boundary.geojson"
    {'id_field = "huc"' if regions > 1 else ""}

    [grid]
    reference = "dem"
    patch_size = {patch}
    stride = {patch}
    mode = "{mode}"

    [modalities.dem]
    path = "dem.tif"

    [modalities.opt]
    path = "opt.tif"

    [output]
    path = "out"
    format = "{fmt}"
    patches_per_shard = 4
    """
    if labels:
        stream = shapely.LineString([(LON0 - 0.02, LAT0), (LON0 + 0.02, LAT0)])
        gpd.GeoDataFrame({"kind": ["stream"]}, geometry=[stream], crs=4326).to_file(
            root / "streams.geojson", driver="GeoJSON"
        )
        body += """
    [labels.streams]
    kind = "vector"
    grid = "dem"
    sources = [{ path = "streams.geojson", buffer_m = 10 }]

    [labels.flowdir]
    kind = "d8"
    dem = "dem"
    """
    if split:
        body += split
    cfg = root / "pipeline.toml"
    cfg.write_text(textwrap.dedent(body), encoding="utf-8")
    return cfg
