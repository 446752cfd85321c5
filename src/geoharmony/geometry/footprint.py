"""Footprints: the ground polygons of windows, carried across CRSs without distortion."""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import CRS

from geoharmony.geometry.grid import Grid
from geoharmony.geometry.transforms import transformer


def window_polygons(
    grid: Grid,
    col_off: np.ndarray,
    row_off: np.ndarray,
    width: int,
    height: int,
    *,
    points_per_edge: int = 1,
) -> np.ndarray:
    """Polygons (in ``grid.crs``) of N windows, vectorised.

    Parameters
    ----------
    grid
        The raster's grid.
    col_off, row_off
        Window offsets (N,).
    width, height
        Window size in pixels.
    points_per_edge
        Vertices per edge (>1 densifies, so a later reprojection bends edges correctly).
    """
    k = max(int(points_per_edge), 1)
    t = np.arange(k, dtype=float) / k
    # Ring around the unit square (clockwise from top-left in pixel space), then scaled.
    uc = np.concatenate([t, np.ones(k), 1 - t, np.zeros(k)])
    ur = np.concatenate([np.zeros(k), t, np.ones(k), 1 - t])
    cols = np.asarray(col_off, float)[:, None] + uc[None, :] * width
    rows = np.asarray(row_off, float)[:, None] + ur[None, :] * height
    xs, ys = grid.to_xy(cols, rows)
    ring = np.stack([xs, ys], axis=-1)
    ring = np.concatenate([ring, ring[:, :1, :]], axis=1)
    return np.asarray(shapely.polygons(ring))


def to_crs(geoms: np.ndarray, src: CRS, dst: CRS) -> np.ndarray:
    """Transform an array of geometries between CRSs (vertex-wise, vectorised)."""
    if src == dst:
        return geoms
    tr = transformer(src, dst)

    def _apply(coords: np.ndarray) -> np.ndarray:
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return np.asarray(shapely.transform(geoms, _apply))


def transform_points(
    x: np.ndarray, y: np.ndarray, src: CRS, dst: CRS
) -> tuple[np.ndarray, np.ndarray]:
    """Transform points between CRSs (``always_xy``), vectorised."""
    if src == dst:
        return np.asarray(x, float), np.asarray(y, float)
    tr = transformer(src, dst)
    tx, ty = tr.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(tx, float), np.asarray(ty, float)
