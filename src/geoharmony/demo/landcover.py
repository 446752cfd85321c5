"""Land cover (internal, 10 m): PLSS fields, roads, towns, riparian forest and water."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pyproj import Transformer
from shapely.geometry import Point, Polygon

from geoharmony.demo.fields import _blob_mask, _fbm, _upsample
from geoharmony.demo.layout import (
    _RNG_FIELDS,
    _RNG_TEXTURE,
    _RNG_TOWNS,
    CENTER_LONLAT,
    COARSE,
    F32,
    GEO_CRS,
    UTM_CRS,
    _Layout,
    _rng,
)
from geoharmony.demo.streams import _Stream
from geoharmony.demo.terrain import _burn

# Land-cover classes of the internal 10 m map.
WATER, FOREST, CORN, SOY, GRASS, BARE, URBAN, ROAD = 1, 2, 3, 4, 5, 6, 7, 8
N_CLASSES = 9

# Mean vegetation fraction per class (scaled per field by vigour).
_FV = {WATER: 0.0, FOREST: 0.93, CORN: 0.90, SOY: 0.62, GRASS: 0.72, BARE: 0.07, URBAN: 0.30}

QUARTER_SECTION_M = 804.672  # half a mile
SECTION_M = 2 * QUARTER_SECTION_M


# land cover
def _north_east(lay: _Layout) -> tuple[tuple[float, float], tuple[float, float]]:
    """Return unit vectors of true north and east in UTM coordinates at the area centre."""
    to_utm = Transformer.from_crs(GEO_CRS, UTM_CRS, always_xy=True)
    lon, lat = CENTER_LONLAT
    x0, y0 = to_utm.transform(lon, lat)
    x1, y1 = to_utm.transform(lon, lat + 0.01)
    nx, ny = x1 - x0, y1 - y0
    norm = math.hypot(nx, ny)
    nx, ny = nx / norm, ny / norm
    return (nx, ny), (ny, -nx)


@dataclass(slots=True)
class _Cover:
    cls: NDArray[np.uint8]  # class per ext pixel
    fv: F32  # vegetation fraction
    field: F32  # per-field uniform random number (vigour, roughness)
    texture: F32  # smooth unit-variance noise


def _landcover(
    seed: int,
    lay: _Layout,
    streams: Sequence[_Stream],
    lakes: Sequence[tuple[Polygon, float]],
    dist_c: F32,
    carved_c: F32,
) -> _Cover:
    g = lay.ext
    frng = _rng(seed, _RNG_FIELDS)
    trng = _rng(seed, _RNG_TEXTURE)
    (nx, ny), (ex, ey) = _north_east(lay)
    off_u, off_v = frng.uniform(0.0, SECTION_M, 2)
    xs = (np.arange(g.width, dtype=np.float32) + 0.5) * np.float32(g.res)
    ys = -(np.arange(g.height, dtype=np.float32) + 0.5) * np.float32(g.res)
    u = np.float32(ex) * xs[None, :] + np.float32(ey) * ys[:, None] + np.float32(off_u)
    v = np.float32(nx) * xs[None, :] + np.float32(ny) * ys[:, None] + np.float32(off_v)

    # quarter-section fields, some split in halves
    q = np.float32(QUARTER_SECTION_M)
    qi = np.floor(u / q).astype(np.int32)
    qj = np.floor(v / q).astype(np.int32)
    qi0, qj0 = int(qi.min()), int(qj.min())
    qi -= qi0
    qj -= qj0
    ni, nj = int(qi.max()) + 1, int(qj.max()) + 1
    split = frng.choice(3, size=(ni, nj), p=[0.45, 0.3, 0.25]).astype(np.int8)
    crop = frng.choice(
        np.array([CORN, SOY, GRASS, BARE, FOREST], dtype=np.uint8),
        size=(ni, nj, 2),
        p=[0.46, 0.38, 0.07, 0.04, 0.05],
    )
    field_rand = frng.uniform(0.0, 1.0, size=(ni, nj, 2)).astype(np.float32)
    key = qi * np.int32(nj) + qj
    s = split.ravel()[key]
    half_u = (u - np.floor(u / q) * q) >= q / 2
    half_v = (v - np.floor(v / q) * q) >= q / 2
    sub = np.where(s == 1, half_u, np.where(s == 2, half_v, False)).astype(np.int32)
    del s, half_u, half_v, qi, qj
    key = key * np.int32(2) + sub
    del sub
    cls = crop.ravel()[key]
    field = field_rand.ravel()[key]
    del key

    # section-line roads
    sec = np.float32(SECTION_M)
    road = (np.abs(u - np.round(u / sec) * sec) < 4.0) | (np.abs(v - np.round(v / sec) * sec) < 4.0)
    cls[road] = ROAD
    del road

    # smooth texture, riparian and steep-slope forest (coarse grid, upsampled)
    tex_c = _fbm(trng, lay.coarse.shape, lay.coarse.res, beta=3.0, corner_m=1500.0)
    gy, gx = np.gradient(carved_c, lay.coarse.res)
    slope_c = np.hypot(gx, gy)
    ripar_w = np.float32(90.0) + np.float32(70.0) * tex_c
    steep = max(float(np.quantile(slope_c, 0.94)), 0.03)
    score = np.minimum(dist_c - ripar_w, (np.float32(steep) - slope_c) * np.float32(4000.0))
    forest = _upsample(score.astype(np.float32), COARSE) < 0
    cls[forest] = np.where(cls[forest] == ROAD, ROAD, FOREST)
    del forest, score, slope_c, gx, gy
    texture = _upsample(tex_c, COARSE)

    # towns with a street grid
    left, top = float(g.transform.c), float(g.transform.f)
    size = lay.dem.bounds[2] - lay.dem.bounds[0]
    n_towns = 1 + int((size / 1000.0) ** 2 // 300)
    trn = _rng(seed, _RNG_TOWNS)
    placed = 0
    for _ in range(50 * n_towns):
        if placed == n_towns:
            break
        d_left, d_bottom, d_right, d_top = lay.dem.bounds
        tx = trn.uniform(d_left, d_right)
        ty = trn.uniform(d_bottom, d_top)
        tp = Point(tx, ty)
        if any(s.line.distance(tp) < 500.0 for s in streams):
            continue
        radius = trn.uniform(450.0, 1000.0)
        half = int(radius * 1.8 / g.res)
        col, row = ~g.transform @ (tx, ty)
        r0, c0 = max(int(row) - half, 0), max(int(col) - half, 0)
        r1, c1 = min(int(row) + half, g.height), min(int(col) + half, g.width)
        if r1 <= r0 or c1 <= c0:
            continue
        bx = left + (np.arange(c0, c1, dtype=np.float64) + 0.5) * g.res
        by = top - (np.arange(r0, r1, dtype=np.float64) + 0.5) * g.res
        town = _blob_mask(trn, bx, by, tx, ty, radius, 0.25)
        block_m = np.float32(trn.uniform(90.0, 130.0))
        uu, vv = u[r0:r1, c0:c1], v[r0:r1, c0:c1]
        street = (np.mod(uu, block_m) < 9.0) | (np.mod(vv, block_m) < 9.0)
        view = cls[r0:r1, c0:c1]
        view[town] = URBAN
        view[town & street] = ROAD
        placed += 1
    del u, v

    # open water: lakes and channels
    water = [(lake, 1) for lake, _ in lakes]
    water += [(st.line.buffer(st.channel_m), 1) for st in streams]
    cls[_burn(g, water) > 0] = WATER

    # vegetation fraction
    fv_lut = np.zeros(N_CLASSES, dtype=np.float32)
    for c, f in _FV.items():
        fv_lut[c] = f
    fv_lut[ROAD] = 0.04
    fv = fv_lut[cls]
    vigour = np.float32(0.78) + np.float32(0.22) * field
    crops = (cls >= CORN) & (cls <= BARE)
    fv = np.where(crops, fv * vigour, fv)
    fv *= np.float32(1.0) + np.float32(0.08) * texture
    fv += np.float32(0.025) * trng.standard_normal(g.shape, dtype=np.float32)
    np.clip(fv, 0.0, 1.0, out=fv)
    fv[cls == WATER] = 0.0
    return _Cover(cls, fv.astype(np.float32), field, texture)
