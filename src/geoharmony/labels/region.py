"""Region-level labels: flow direction, accumulation and streams of one region's window.

Pure functions of arrays and a grid: the execution layer reads the DEM window the plan
decided (:class:`geoharmony.planning.plan.LabelWindow`), calls :func:`flow_labels` and
writes the result as a tiled GeoTIFF that every patch of the region is windowed from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine

from geoharmony.geometry.d8codes import encode, to_esri
from geoharmony.geometry.grid import Grid, _geod
from geoharmony.labels import hydro
from geoharmony.planning.config import LabelConfig


@dataclass(frozen=True)
class RegionLabel:
    """One region's label raster: ``data`` (h, w) in the stored dtype, ``valid`` (h, w)."""

    data: np.ndarray
    valid: np.ndarray
    qa: dict[str, Any]


def cell_sizes_m(grid: Grid, row_off: int, height: int) -> tuple[np.ndarray, float]:
    """Ground cell width per row (metres) and cell height of a window of ``grid``.

    Geographic grids: the geodesic length of one pixel along each row's parallel (so the
    width shrinks towards the poles) and along the meridian at the window's centre.
    Projected grids: the CRS units in metres, the same for every row.
    """
    if not grid.is_geographic:
        dx, dy = grid.resolution_m
        return np.full(height, dx), float(dy)
    geod = _geod(grid.crs)
    t = grid.transform
    rows = row_off + np.arange(height) + 0.5
    x0, _ = t @ (grid.width / 2, 0)
    lon0 = np.full(height, x0)
    lat = np.asarray(t.f + t.e * rows, dtype=float)
    _, _, dx = geod.inv(lon0, lat, lon0 + t.a, lat)
    mid = float(t.f + t.e * (row_off + height / 2))
    _, _, dy = geod.inv(float(x0), mid, float(x0), mid + t.e)
    return np.abs(np.asarray(dx, dtype=float)), float(abs(dy))


def south_up(grid: Grid) -> bool:
    """True when row 0 of the grid is its southern edge (positive row step in y).

    D8 codes always name array neighbours (64: the row above), as stored patches and
    augmentations see them; on a south-up grid the row above is the southern one, and
    the manifest records ``row0 = "south"``.
    """
    return bool(grid.transform.e > 0)


def flow_labels(
    lab: LabelConfig,
    dem: np.ndarray,
    valid: np.ndarray,
    dx_rows: np.ndarray,
    dy: float,
) -> RegionLabel:
    """A ``d8``, ``accumulation`` or ``streams`` label of one region window.

    Parameters
    ----------
    lab
        The label's configuration (kind, conditioning, outlets, encoding, units...).
    dem, valid
        The region window's elevations and validity.
    dx_rows, dy
        Ground cell width per row and height, metres.

    Returns
    -------
    RegionLabel
        Data in the stored dtype, its mask and QA counts (undefined cells, cycles, the
        largest contributing area).
    """
    code = hydro.conditioned_d8(
        dem, valid, dx_rows, dy, outlets=lab.outlets, conditioning=lab.conditioning
    )
    qa: dict[str, Any] = dict(hydro.d8_qa(code, valid))
    qa["conditioning"] = lab.conditioning
    if lab.kind == "d8":
        mask = valid & (code != 0)
        return RegionLabel(encode(code, lab.encoding), mask, qa)
    units = "km2" if lab.kind == "streams" else lab.units
    acc, _ = hydro.flow_accumulation(code, valid, units=units, dx=dx_rows, dy=dy)
    del code
    finite = np.isfinite(acc)
    qa["max_accumulation"] = float(np.nanmax(acc)) if finite.any() else 0.0
    qa["units"] = units
    if lab.kind == "accumulation":
        return RegionLabel(acc, valid.copy(), qa)
    assert lab.threshold_km2 is not None
    streams = (np.nan_to_num(acc, nan=0.0) >= lab.threshold_km2).astype(np.uint8)
    return RegionLabel(streams, valid.copy(), qa)


def raster_label(lab: LabelConfig, values: np.ndarray, valid: np.ndarray) -> RegionLabel:
    """A ``kind = "raster"`` label of one region window (codes converted to ESRI)."""
    qa: dict[str, Any] = {}
    if lab.codes is not None:
        code, known = to_esri(values, lab.codes)
        mask = valid & known
        qa["unknown_codes"] = int((valid & ~known).sum())
        return RegionLabel(encode(code, lab.encoding), mask, qa)
    if lab.categorical:
        return RegionLabel(np.asarray(values).astype(np.uint8), valid.copy(), qa)
    out = np.asarray(values, dtype=np.float32).copy()
    out[~valid] = np.nan
    return RegionLabel(out, valid.copy(), qa)


def class_fractions(data: np.ndarray, valid: np.ndarray, *, limit: int = 32) -> dict[str, float]:
    """Fraction of valid pixels per class value (uint8 labels), at most ``limit`` classes."""
    n = int(valid.sum())
    if n == 0 or data.dtype != np.uint8:
        return {}
    counts = np.bincount(data[valid].ravel(), minlength=256)
    nz = np.flatnonzero(counts)[:limit]
    return {str(int(v)): float(counts[v] / n) for v in nz}


def window_transform(grid: Grid, col_off: int, row_off: int) -> Affine:
    """Transform of a window of ``grid`` starting at ``(col_off, row_off)``."""
    return grid.transform @ Affine.translation(col_off, row_off)


def positives_per_window(
    data: np.ndarray, valid: np.ndarray, col_off: np.ndarray, row_off: np.ndarray, w: int, h: int
) -> np.ndarray:
    """Pixels of a positive class (value != 0, valid) in each ``w x h`` window (vectorised).

    Offsets are relative to ``data``; parts of a window outside it count as 0.
    """
    pos = ((data != 0) & valid).astype(np.int64)
    sat = np.zeros((pos.shape[0] + 1, pos.shape[1] + 1), dtype=np.int64)
    sat[1:, 1:] = pos.cumsum(0).cumsum(1)
    H, W = pos.shape
    c0 = np.clip(col_off, 0, W)
    r0 = np.clip(row_off, 0, H)
    c1 = np.clip(col_off + w, 0, W)
    r1 = np.clip(row_off + h, 0, H)
    out: np.ndarray = sat[r1, c1] - sat[r0, c1] - sat[r1, c0] + sat[r0, c0]
    return out
