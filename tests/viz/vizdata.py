"""A tiny synthetic multi-CRS study area for the figure and report tests.

About 4 km across with 32-pixel patches, so every figure renders in well under a second,
yet it has what the figures must handle: a DEM in UTM with a nodata hole, SAR in CONUS
Albers (rotated relative to UTM), 6-band optical and thermal at 30 m, a boundary in
EPSG:4326, a stream/lake label and D8 flow direction.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from affine import Affine
from pyproj import CRS, Transformer

LON0, LAT0 = -88.45, 41.02  # a point in UTM 16N and inside CONUS


def _terrain(x: np.ndarray, y: np.ndarray, x0: float, y0: float) -> np.ndarray:
    """A smooth synthetic landscape (metres) from map coordinates: hills and a valley."""
    u, v = (x - x0) / 1000.0, (y - y0) / 1000.0
    z = 220 + 12 * u - 6 * v
    z += 40 * np.exp(-((u - 1.0) ** 2 + (v - 0.8) ** 2) / 0.8)
    z += 30 * np.exp(-((u + 1.2) ** 2 + (v + 0.5) ** 2) / 0.5)
    z -= 18 * np.exp(-((u - 0.3 * v) ** 2) / 0.08)
    return z


def _write(path: Path, data: np.ndarray, crs: CRS, transform: Affine, nodata: Any) -> Path:
    prof = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": crs.to_wkt(),
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 64,
        "blockysize": 64,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(data)
    return path


def _grid(crs: CRS, res: float, half: float) -> tuple[Affine, int, int, np.ndarray, np.ndarray]:
    """A north-up grid of ``res`` m around the area's centre, ``half`` m each side."""
    x0, y0 = Transformer.from_crs(4326, crs, always_xy=True).transform(LON0, LAT0)
    ox = np.floor((x0 - half) / res) * res
    oy = np.ceil((y0 + half) / res) * res
    n = round(2 * half / res)
    t = Affine(res, 0, ox, 0, -res, oy)
    cols, rows = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5)
    xs, ys = t.a * cols + t.b * rows + t.c, t.d * cols + t.e * rows + t.f
    return t, n, n, xs, ys


def make_area(root: Path, *, mode: str = "native", patch_size: int = 32) -> Path:
    """Write the tiny study area under ``root``; return its pipeline.toml."""
    import geopandas as gpd

    root.mkdir(parents=True, exist_ok=True)
    utm, albers, wgs = CRS.from_epsg(32616), CRS.from_epsg(5070), CRS.from_epsg(4326)
    to_utm = Transformer.from_crs(wgs, utm, always_xy=True)
    cx, cy = to_utm.transform(LON0, LAT0)
    # DEM 10 m UTM, float32, nodata hole
    t, _, _, xs, ys = _grid(utm, 10.0, 2400.0)
    dem = _terrain(xs, ys, cx, cy).astype("float32")
    dem[300:340, 60:120] = -9999.0
    _write(root / "dem.tif", dem[None], utm, t, -9999.0)
    # SAR 10 m CONUS Albers (dB), derived from the terrain so it lines up visibly
    t, _, _, xs, ys = _grid(albers, 10.0, 2500.0)
    ux, uy = Transformer.from_crs(albers, utm, always_xy=True).transform(xs, ys)
    rng = np.random.default_rng(0)
    slope = np.gradient(_terrain(ux, uy, cx, cy), axis=1)
    sar = (-12 + 2.5 * slope + rng.normal(0, 1.2, xs.shape)).astype("float32")
    _write(root / "sar.tif", sar[None], albers, t, None)
    # optical: 6 bands uint16 at 30 m UTM (blue, green, red, nir, swir1, swir2)
    t, _w, _h, xs, ys = _grid(utm, 30.0, 2700.0)
    z = _terrain(xs, ys, cx, cy)
    base = np.stack([8000 + 10 * z * k + rng.normal(0, 150, z.shape) for k in (1, 2, 3, 6, 4, 2)])
    _write(root / "optical.tif", base.astype("uint16"), utm, t, 0)
    thermal = (290 + 0.05 * (z - 220) + rng.normal(0, 0.3, z.shape)).astype("float32")
    _write(root / "thermal.tif", thermal[None], utm, t, None)
    # boundary (EPSG:4326): an irregular polygon, about 3 km across
    ang = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    rad = 1500 * (1 + 0.18 * np.sin(3 * ang) + 0.08 * np.cos(5 * ang))
    px, py = cx + rad * np.cos(ang), cy + 0.8 * rad * np.sin(ang)
    lon, lat = Transformer.from_crs(utm, wgs, always_xy=True).transform(px, py)
    poly = shapely.Polygon(np.column_stack([lon, lat]))
    gpd.GeoDataFrame({"huc12": ["071300090405"]}, geometry=[poly], crs=wgs).to_file(
        root / "boundary.geojson", driver="GeoJSON"
    )
    # streams and a lake (UTM)
    line = shapely.LineString([(cx - 2000 + 60 * k, cy + 0.3 * (60 * k - 2000)) for k in range(67)])
    lake = shapely.Point(cx + 700, cy - 500).buffer(220)
    gpd.GeoDataFrame(geometry=[line], crs=utm).to_file(root / "streams.geojson", driver="GeoJSON")
    gpd.GeoDataFrame(geometry=[lake], crs=utm).to_file(root / "lakes.geojson", driver="GeoJSON")
    toml = f"""
        [study_area]
        boundary = "boundary.geojson"
        buffer_m = 300

        [grid]
        reference = "dem"
        patch_size = {patch_size}
        mode = "{mode}"

        [modalities.dem]
        path = "dem.tif"
        [modalities.sar]
        path = "sar.tif"
        [modalities.optical]
        path = "optical.tif"
        [modalities.thermal]
        path = "thermal.tif"

        [split]
        by = "block"
        block_m = 1000
        fractions = [0.6, 0.2, 0.2]
        guard = "keep"

        [labels.streams]
        kind = "vector"
        grid = "dem"
        sources = [{{ path = "streams.geojson", buffer_m = 15 }}, {{ path = "lakes.geojson" }}]

        [labels.flowdir]
        kind = "d8"
        dem = "dem"

        [output]
        path = "out/tiny"
    """
    cfg = root / "pipeline.toml"
    cfg.write_text(textwrap.dedent(toml), encoding="utf-8")
    return cfg
