"""Labels for the users' models: vector layers burned per patch, and D8 flow direction.

Code maps are recorded in the manifest. D8 uses ESRI codes (1 = east, then clockwise:
2 SE, 4 S, 8 SW, 16 W, 32 NW, 64 N, 128 NE; 0 = undefined: a pit, a flat, or a
neighbour without data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.features import rasterize

from geoharmony.config import VectorSource
from geoharmony.errors import InputError
from geoharmony.geometry.footprint import to_crs
from geoharmony.geometry.grid import Grid, _unit_factor
from geoharmony.study_area import local_metric_crs

D8_CODES = {
    "east": 1,
    "southeast": 2,
    "south": 4,
    "southwest": 8,
    "west": 16,
    "northwest": 32,
    "north": 64,
    "northeast": 128,
}
# (drow, dcol, code) in ESRI order
D8_NEIGHBOURS = (
    (0, 1, 1),
    (1, 1, 2),
    (1, 0, 4),
    (1, -1, 8),
    (0, -1, 16),
    (-1, -1, 32),
    (-1, 0, 64),
    (-1, 1, 128),
)


def d8_flow_direction(
    dem: np.ndarray, valid: np.ndarray, res_m: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """D8 flow direction of the interior of ``dem`` (a 1-pixel halo is consumed).

    Parameters
    ----------
    dem
        Elevations ``(h + 2, w + 2)`` including a one-pixel halo.
    valid
        Validity of ``dem``.
    res_m
        Pixel size in metres ``(x, y)``; diagonal distances follow from it.

    Returns
    -------
    codes, defined
        ``uint8`` ESRI codes ``(h, w)`` and where they are defined.
    """
    z = dem.astype(np.float64)
    h, w = z.shape[0] - 2, z.shape[1] - 2
    centre = z[1:-1, 1:-1]
    best = np.zeros((h, w))
    code = np.zeros((h, w), dtype=np.uint8)
    all_valid = valid[1:-1, 1:-1].copy()
    dx, dy = res_m
    for dr, dc, c in D8_NEIGHBOURS:
        nb = z[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
        all_valid &= valid[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
        dist = float(np.hypot(dx * dc, dy * dr))
        drop = (centre - nb) / dist
        better = drop > best  # strict: ties keep the first direction in ESRI order
        best = np.where(better, drop, best)
        code = np.where(better, np.uint8(c), code)
    code[~all_valid] = 0
    return code, all_valid


def remap_d8(codes: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """Apply a code permutation (used by augmentations that flip or rotate)."""
    lut = np.arange(256, dtype=np.uint8)
    for a, b in mapping.items():
        lut[a] = b
    return lut[codes]


@dataclass
class VectorLayer:
    """A vector source loaded in one grid's CRS, buffered, with a spatial index."""

    geoms: np.ndarray
    value: int
    tree: Any


def load_vector_layers(
    sources: Sequence[VectorSource], grid: Grid, *, where: str
) -> list[VectorLayer]:
    """Read, reproject and buffer (in metres) the vector sources of one label."""
    import geopandas as gpd

    layers = []
    for src in sources:
        if not src.path.exists():
            raise InputError(f"{src.path}: vector label source not found ({where}); check the path")
        try:
            gdf = gpd.read_file(src.path, layer=src.layer, where=src.where)
        except Exception as exc:
            raise InputError(
                f"{src.path}: cannot read vector label source ({where}): {exc}"
            ) from None
        if gdf.crs is None:
            raise InputError(f"{src.path}: vector label source ({where}) has no CRS")
        crs = CRS.from_user_input(gdf.crs)
        geoms = np.asarray(gdf.geometry.values, dtype=object)
        geoms = geoms[~(shapely.is_empty(geoms) | shapely.is_missing(geoms))]
        geoms = np.asarray(shapely.make_valid(geoms), dtype=object)
        if src.buffer_m and len(geoms):
            if grid.is_geographic or _unit_factor(grid.crs) != 1.0:
                local = local_metric_crs(shapely.union_all(geoms), crs)
                geoms = to_crs(
                    shapely.buffer(to_crs(geoms, crs, local), src.buffer_m), local, grid.crs
                )
            else:
                geoms = shapely.buffer(to_crs(geoms, crs, grid.crs), src.buffer_m)
        else:
            geoms = to_crs(geoms, crs, grid.crs)
        layers.append(
            VectorLayer(np.asarray(geoms, dtype=object), src.value, shapely.STRtree(geoms))
        )
    return layers


def burn(
    layers: Sequence[VectorLayer],
    grid: Grid,
    col_off: int,
    row_off: int,
    width: int,
    height: int,
    *,
    all_touched: bool,
) -> np.ndarray:
    """Burn the layers onto one window (later sources overwrite earlier ones)."""
    out = np.zeros((height, width), dtype=np.uint8)
    transform = grid.transform @ Affine.translation(col_off, row_off)
    cols = np.array([0, width, width, 0], float)
    rows = np.array([0, 0, height, height], float)
    xs, ys = Grid(grid.crs, transform, width, height).to_xy(cols, rows)
    box = shapely.box(xs.min(), ys.min(), xs.max(), ys.max())
    for layer in layers:
        hits = layer.tree.query(box, predicate="intersects")
        if len(hits):
            rasterize(
                ((g, layer.value) for g in layer.geoms[hits]),
                out=out,
                transform=transform,
                all_touched=all_touched,
            )
    return out
