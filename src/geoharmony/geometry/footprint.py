"""Footprints: the ground polygons of windows, carried across CRSs without distortion."""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import CRS, Transformer

from geoharmony.geometry.grid import Grid
from geoharmony.geometry.window import Windows


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
    ws = Windows.of(col_off, row_off, width, height)
    return windows_polygons(grid, ws, points_per_edge=points_per_edge)


def windows_polygons(grid: Grid, windows: Windows, *, points_per_edge: int = 1) -> np.ndarray:
    """Polygons (in ``grid.crs``) of N windows, vectorised (see :func:`window_polygons`)."""
    k = max(int(points_per_edge), 1)
    t = np.arange(k, dtype=float) / k
    # Ring around the unit square (clockwise from top-left in pixel space), then scaled.
    uc = np.concatenate([t, np.ones(k), 1 - t, np.zeros(k)])
    ur = np.concatenate([np.zeros(k), t, np.ones(k), 1 - t])
    cols = windows.col_off[:, None] + uc[None, :] * windows.width[:, None]
    rows = windows.row_off[:, None] + ur[None, :] * windows.height[:, None]
    xs, ys = grid.to_xy(cols, rows)
    ring = np.stack([xs, ys], axis=-1)
    ring = np.concatenate([ring, ring[:, :1, :]], axis=1)
    return np.asarray(shapely.polygons(ring))


def rotation_deg(corners: np.ndarray) -> float:
    """Angle of a window's top edge (corner 0 to corner 1) from the x axis, in degrees.

    Counter-clockwise; ``corners`` as :func:`~geoharmony.planning.windows.patch_corners`
    returns them.
    """
    d = np.asarray(corners[1], float) - np.asarray(corners[0], float)
    return float(np.degrees(np.arctan2(d[1], d[0])))


def to_crs(geoms: np.ndarray, src: CRS, dst: CRS) -> np.ndarray:
    """Transform an array of geometries between CRSs (vertex-wise, vectorised)."""
    if src == dst:
        return geoms
    tr = Transformer.from_crs(src, dst, always_xy=True)

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
    tr = Transformer.from_crs(src, dst, always_xy=True)
    tx, ty = tr.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(tx, float), np.asarray(ty, float)
