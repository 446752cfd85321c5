"""Test helpers: tiny synthetic rasters whose pixels encode their own coordinates.

A module of its own (not conftest.py) so tests import it by a unique name.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS, Transformer

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write_coord_raster(
    path: Path,
    *,
    crs: Any,
    transform: Affine,
    width: int,
    height: int,
    nodata: float | None = None,
    holes: list[tuple[int, int, int, int]] | None = None,
    dtype: str = "float64",
    tiled: bool = True,
) -> Path:
    """A 2-band raster: band 1 = x, band 2 = y of each pixel centre, in its own CRS.

    ``holes`` are ``(col_off, row_off, width, height)`` rectangles set to ``nodata``.
    """
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    a, b, c, d, e, f = tuple(transform)[:6]
    data = np.stack([a * cols + b * rows + c, d * cols + e * rows + f]).astype(dtype)
    for c0, r0, w, h in holes or []:
        data[:, r0 : r0 + h, c0 : c0 + w] = nodata
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 2,
        "dtype": dtype,
        "crs": CRS.from_user_input(crs).to_wkt(),
        "transform": transform,
        "nodata": nodata,
    }
    if tiled and width >= 16 and height >= 16:
        block = 16 * max(1, min(width, height) // 64 or 1)
        profile.update(tiled=True, blockxsize=block, blockysize=block, compress="deflate")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def write_boundary(
    path: Path, geoms: list[Any], crs: Any, props: list[dict[str, Any]] | None = None
) -> Path:
    """GeoJSON with the given shapely geometries in ``crs``."""
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(props or [{} for _ in geoms], geometry=geoms, crs=crs)
    gdf.to_file(path, driver="GeoJSON")
    return path


def write_config(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def lonlat_to(crs: Any, lon: float, lat: float) -> tuple[float, float]:
    t = Transformer.from_crs(4326, crs, always_xy=True)
    x, y = t.transform(lon, lat)
    return float(x), float(y)


def dumps(x: Any) -> str:
    return json.dumps(x)


# -- fixtures added for issue 2 (tests/core, tests/realdata, tests/cli) ----------------------
