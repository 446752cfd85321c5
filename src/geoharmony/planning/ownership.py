"""One owner per lattice point: which region a shared lattice point belongs to.

Regions whose reference rasters share one grid share one lattice; each of its points is
planned at most once. The rules (all in the boundary's own CRS, where shared edges are
exactly shared):

* **Owner**: the region whose *unbuffered* polygon contains the centre. A centre on an
  edge is **half-open**: it belongs to the region that contains the point just east of it
  (just north of it on an east-west edge), so of two regions sharing an edge exactly one
  owns the point. Overlapping polygons (slivers) are resolved by the smallest region id.
* A centre inside no unbuffered polygon (kept because of a buffer, or by ``keep =
  "overlap"``) goes to the **nearest** region (distance to its unbuffered polygon; ties by
  region id).
* ``regions_touched``: every region whose buffered area contains the centre.

:func:`cross_region_duplicates` is the check ``info``, ``validate`` and the report use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geoharmony.geometry.grid import Grid

#: Probe offset, relative to the regions' extent, for the half-open edge rule.
_PROBE = 1e-9


def lattice_key(grid: Grid, patch_size: int, stride: int) -> str:
    """A short stable name of a lattice (reference grid + patch size + stride)."""
    text = f"{grid.crs.to_wkt()}|{tuple(grid.transform)[:6]}|{patch_size}|{stride}"
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def owners(x: np.ndarray, y: np.ndarray, boundaries: Sequence[Any]) -> np.ndarray:
    """Index (into ``boundaries``) of the owner of each point (see module docstring).

    Parameters
    ----------
    x, y
        Points in the boundaries' CRS.
    boundaries
        Unbuffered region polygons, in region-id order (the order breaks ties).

    Returns
    -------
    numpy.ndarray
        int64 owner index of every point.

    Examples
    --------
    >>> a, b = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    >>> owners(np.array([0.5, 1.0, 1.5]), np.array([0.5, 0.5, 0.5]), [a, b]).tolist()
    [0, 1, 1]
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    out = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return out
    geoms = np.asarray(list(boundaries), dtype=object)
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    eps = _PROBE * max(xmax - xmin, ymax - ymin, 1e-300)
    pi, ri, inside = _pairs(x, y, geoms)
    if len(pi):
        on_edge = ~inside
        probe = np.zeros(len(pi), dtype=bool)
        if on_edge.any():
            probe[on_edge] = shapely.contains_xy(
                geoms[ri[on_edge]], x[pi[on_edge]] + eps, y[pi[on_edge]] + eps * 1e-3
            )
        owned = inside | probe
        pi, ri = pi[owned], ri[owned]
        # the smallest region index per point (ties by region id)
        order = np.lexsort((ri, pi))
        pi, ri = pi[order], ri[order]
        first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, dtype=bool)
        out[pi[first]] = ri[first]
    lost = np.flatnonzero(out < 0)
    if len(lost):
        pts = shapely.points(x[lost], y[lost])
        dist = shapely.distance(geoms[None, :], pts[:, None])
        out[lost] = np.argmin(dist, axis=1)  # argmin keeps the first of equal distances
    return out


def regions_touched(
    x: np.ndarray, y: np.ndarray, areas: Sequence[Any], ids: Sequence[str]
) -> np.ndarray:
    """Comma-joined ids of the regions whose (buffered) area contains each point."""
    n = len(x)
    out = np.full(n, "", dtype=object)
    if n == 0:
        return out
    geoms = np.asarray(list(areas), dtype=object)
    pi, ri, _ = _pairs(np.asarray(x, float), np.asarray(y, float), geoms)
    names = np.asarray(list(ids), dtype=object)
    order = np.lexsort((ri, pi))
    pi, ri = pi[order], ri[order]
    if not len(pi):
        return out
    starts = np.flatnonzero(np.r_[True, pi[1:] != pi[:-1]])
    sizes = np.diff(np.r_[starts, len(pi)])
    single = sizes == 1  # most points: one region, no join needed
    out[pi[starts[single]]] = names[ri[starts[single]]]
    for a, k in zip(starts[~single].tolist(), sizes[~single].tolist(), strict=True):
        out[int(pi[a])] = ",".join(names[ri[a : a + k]])
    return out


def _pairs(
    x: np.ndarray, y: np.ndarray, geoms: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point, polygon) pairs where the polygon intersects the point; inside or on edge.

    Candidates come from an STRtree of bounding boxes; each polygon, prepared, then tests
    its candidates with the vectorised ``*_xy`` predicates. The third array says whether
    the polygon contains the point (not only its edge).
    """
    tree = shapely.STRtree(shapely.envelope(geoms))
    pi, ri = tree.query(shapely.points(x, y))
    if not len(pi):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=bool)
    order = np.argsort(ri, kind="stable")
    pi, ri = pi[order], ri[order]
    hit = np.zeros(len(pi), dtype=bool)
    inside = np.zeros(len(pi), dtype=bool)
    bounds = np.flatnonzero(np.r_[True, ri[1:] != ri[:-1], True])
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        g = geoms[ri[a]]
        shapely.prepare(g)
        px, py = x[pi[a:b]], y[pi[a:b]]
        h = shapely.intersects_xy(g, px, py)
        hit[a:b] = h
        if h.any():
            sub = np.zeros(b - a, dtype=bool)
            sub[h] = shapely.contains_xy(g, px[h], py[h])
            inside[a:b] = sub
    return pi[hit], ri[hit], inside[hit]


def cross_region_duplicates(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of a plan table or index whose lattice point appears more than once.

    A lattice point is ``(lattice, lattice_i, lattice_j)``; tables without a ``lattice``
    column (older datasets) are read as one lattice. An empty result is the promise
    "0 cross-region duplicates".
    """
    keys = [c for c in ("lattice", "lattice_i", "lattice_j") if c in table.columns]
    if len(keys) < 2 or not len(table):
        return table.iloc[0:0]
    return table.loc[table.duplicated(keys, keep=False)]


def duplicates_line(table: pd.DataFrame) -> tuple[bool, str]:
    """``(ok, "0 cross-region duplicates")`` or ``(False, "<n> ... e.g. <ids>")``."""
    dup = cross_region_duplicates(table)
    if not len(dup):
        return True, "0 cross-region duplicates"
    ex = ", ".join(dup["patch_id"].astype(str).head(4)) if "patch_id" in dup else ""
    return False, f"{len(dup)} patches share a lattice point with another region (e.g. {ex})"
