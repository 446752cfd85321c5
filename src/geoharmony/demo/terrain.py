"""Terrain: fBm relief, the watershed boundary, lakes on the main stem and DEM voids."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from rasterio.features import rasterize
from shapely.geometry import Point, Polygon, box

from geoharmony.demo.fields import _blob_mask, _block_mean, _eval_radial, _fbm, _radial_noise
from geoharmony.demo.layout import COARSE, DEM_NODATA, ELEV_RANGE, F32, _Grid, _Layout
from geoharmony.demo.streams import _Stream


def _boundary(rng: np.random.Generator, lay: _Layout) -> Polygon:
    """Draw a smooth random star-shaped, slightly elongated watershed outline (UTM)."""
    left, bottom, right, top = lay.dem.bounds
    size = right - left
    cx = (left + right) / 2.0 + rng.uniform(-0.02, 0.02) * size
    cy = (bottom + top) / 2.0 + rng.uniform(-0.02, 0.02) * size
    target = rng.uniform(0.44, 0.54) * size * size
    aspect = rng.uniform(1.05, 1.3)
    orient = rng.uniform(0.0, math.pi)
    theta = np.linspace(0.0, 2.0 * math.pi, 1440, endpoint=False)
    coarse = _eval_radial(_radial_noise(rng, 6, 1.0), theta)
    fine = _eval_radial(_radial_noise(rng, 160, 1.1), theta)
    t = theta - orient
    ellipse = 1.0 / np.sqrt((np.cos(t) / aspect) ** 2 + np.sin(t) ** 2)
    limit = 0.5 * size * 0.95
    gain = 1.0
    xy = np.zeros((theta.size, 2))
    for _ in range(60):
        r = ellipse * np.exp(gain * (0.16 * coarse + 0.05 * fine))
        x, y = r * np.cos(theta), r * np.sin(theta)
        area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
        s = math.sqrt(target / area)
        x, y = x * s, y * s
        xy = np.column_stack([x + cx, y + cy])
        if np.all(np.abs(xy[:, 0] - (left + right) / 2.0) <= limit) and np.all(
            np.abs(xy[:, 1] - (bottom + top) / 2.0) <= limit
        ):
            break
        gain *= 0.9
        target *= 0.99
    poly = Polygon(xy)
    tol = 1.0
    simple = poly
    while len(simple.exterior.coords) >= 500 or not simple.is_valid:
        simple = poly.simplify(tol, preserve_topology=True)
        tol *= 1.5
    return simple


def _lakes(
    rng: np.random.Generator, lay: _Layout, main: _Stream, boundary: Polygon
) -> list[tuple[Polygon, float]]:
    """One or two small lakes on the main stem, inside the watershed if possible."""
    left, bottom, right, top = lay.dem.bounds
    size = right - left
    n_lakes = int(rng.integers(1, 3))
    region = boundary.buffer(-min(400.0, 0.05 * size))
    if region.is_empty:
        region = box(left, bottom, right, top).buffer(-0.15 * size)
    xy = np.asarray(main.line.coords)
    inside = np.flatnonzero(shapely.contains_xy(region, xy[:, 0], xy[:, 1]))
    if inside.size == 0:
        inner = box(left, bottom, right, top).buffer(-0.1 * size)
        inside = np.flatnonzero(shapely.contains_xy(inner, xy[:, 0], xy[:, 1]))
    lakes: list[tuple[Polygon, float]] = []
    centres: list[float] = []
    for _ in range(40):
        if len(lakes) == n_lakes or inside.size == 0:
            break
        i = int(inside[rng.integers(0, inside.size)])
        d = float(main.dist[i])
        if any(abs(d - c) < 0.15 * size for c in centres):
            continue
        j = min(i + 1, len(xy) - 1)
        h = math.atan2(xy[j, 1] - xy[i - 1, 1], xy[j, 0] - xy[i - 1, 0]) if i > 0 else 0.0
        a = min(rng.uniform(200.0, 420.0), 0.05 * size)
        b = a * rng.uniform(0.35, 0.55)
        shift = rng.uniform(-0.25, 0.25) * b
        ccx = xy[i, 0] - math.sin(h) * shift
        ccy = xy[i, 1] + math.cos(h) * shift
        theta = np.linspace(0.0, 2.0 * math.pi, 96, endpoint=False)
        wig = np.exp(0.12 * _eval_radial(_radial_noise(rng, 10, 1.3), theta))
        t = theta
        ex = a * np.cos(t) * wig
        ey = b * np.sin(t) * wig
        px = ccx + ex * math.cos(h) - ey * math.sin(h)
        py = ccy + ex * math.sin(h) + ey * math.cos(h)
        poly = Polygon(np.column_stack([px, py]))
        if not poly.is_valid:
            poly = poly.buffer(0)
        level = main.floor_at(d) + 0.3
        lakes.append((poly, level))
        centres.append(d)
    return lakes


# ----------------------------------------------------------------------------------------
# terrain
def _terrain(rng: np.random.Generator, lay: _Layout) -> tuple[F32, F32, F32, tuple[float, float]]:
    """Uncarved terrain (fBm + ridged fBm + regional slope), scaled to about ``ELEV_RANGE``.

    Returns the fine terrain on ``ext`` *without* the ridged part, the ridged part on the
    coarse grid (the caller upsamples it together with the valley incision, saving a
    pass), the whole terrain's coarse block mean and the unit downslope direction.
    """
    g = lay.ext
    z = _fbm(rng, g.shape, g.res, beta=4.2, corner_m=9000.0, smooth_m=25.0)
    ridges = _fbm(rng, lay.coarse.shape, lay.coarse.res, beta=4.0, corner_m=2500.0)
    # some ridged relief (soft absolute value) for moraine-like crests
    ridges = np.float32(0.3) * (np.sqrt(ridges * ridges + np.float32(0.04)) - np.float32(0.8))
    azimuth = rng.uniform(0.0, 2.0 * math.pi)
    ux, uy = math.cos(azimuth), math.sin(azimuth)
    left, bottom, right, top = lay.dem.bounds
    gradient = 1.6 / (right - left)  # regional fall over the DEM ~1.6 fBm standard deviations
    xs = (np.arange(g.width, dtype=np.float32) + 0.5) * np.float32(g.res) + np.float32(
        g.transform.c - (left + right) / 2.0
    )
    ys = np.float32(g.transform.f - (bottom + top) / 2.0) - (
        np.arange(g.height, dtype=np.float32) + 0.5
    ) * np.float32(g.res)
    z -= np.float32(gradient * ux) * xs[None, :]
    z -= np.float32(gradient * uy) * ys[:, None]
    base_c = _block_mean(z, COARSE) + ridges
    r0, c0 = lay.dem_offset
    inner = base_c[
        r0 // COARSE : -(-(r0 + lay.dem.height) // COARSE),
        c0 // COARSE : -(-(c0 + lay.dem.width) // COARSE),
    ]
    lo, hi = float(inner.min()), float(inner.max())
    scale = np.float32((ELEV_RANGE[1] - ELEV_RANGE[0]) / max(hi - lo, 1e-6))
    shift = np.float32(ELEV_RANGE[0]) - np.float32(lo) * scale
    for a in (z, base_c):
        a *= scale
        a += shift
    ridges *= scale
    return z, ridges, base_c, (ux, uy)


def _burn(grid: _Grid, shapes: Sequence[tuple[Any, int]]) -> Any:
    if not shapes:
        return np.zeros(grid.shape, dtype=np.uint8)
    return rasterize(
        shapes,
        out_shape=grid.shape,
        transform=grid.transform,
        fill=0,
        dtype="uint8",
    )


def _dem_holes(
    rng: np.random.Generator,
    dem: F32,
    grid: _Grid,
    boundary: Polygon,
    lakes: Sequence[tuple[Polygon, float]],
) -> None:
    """Punch 2-3 irregular voids of a few hundred pixels inside the watershed."""
    left, bottom, right, top = boundary.bounds
    region = boundary.buffer(-300.0)
    for lake, _ in lakes:
        region = region.difference(lake.buffer(200.0))
    if region.is_empty:
        region = boundary
    n = int(rng.integers(2, 4))
    done = 0
    for _ in range(200):
        if done == n:
            break
        x, y = rng.uniform(left, right), rng.uniform(bottom, top)
        if not region.contains(Point(x, y)):
            continue
        # a few hundred pixels each, but never more than ~0.5 % of the DEM in all
        radius_px = min(rng.uniform(7.0, 12.0), math.sqrt(0.005 * grid.width * grid.height / 10.0))
        half = int(radius_px * 2.2) + 2
        col, row = ~grid.transform @ (x, y)
        r0, c0 = int(row) - half, int(col) - half
        if r0 < 0 or c0 < 0 or r0 + 2 * half > grid.height or c0 + 2 * half > grid.width:
            continue
        idx = np.arange(2 * half, dtype=np.float64) + 0.5
        mask = _blob_mask(rng, idx, idx, float(half), float(half), radius_px, 0.3)
        dem[r0 : r0 + 2 * half, c0 : c0 + 2 * half][mask] = DEM_NODATA
        done += 1
