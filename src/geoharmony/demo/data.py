"""Seeded synthesiser of a realistic multi-sensor study area.

:func:`synthesize_study_area` writes a small but realistic set of inputs for the
pipeline into a directory: a 10 m DEM in UTM 16N, a 10 m SAR backscatter image in a
*different* CRS (CONUS Albers), a 6-band 30 m Landsat-like optical image and a 30 m
thermal band on a grid offset by half a Landsat pixel from the DEM's, a watershed-like
boundary, stream lines, lakes and a ``pipeline.toml`` tying them together. It is used
by ``geoharmony demo``, by the tests and by the benchmarks.

Everything is derived from one synthetic world so the layers agree with each other:

* **Terrain** -- fractional Brownian motion made by spectral synthesis (white noise
  shaped by a power-law spectrum, inverse FFT) with some ridged relief and a gentle
  regional slope. A main stem and tributaries meander across it, bending downhill; the
  ground is pulled down to their valley floors (which only fall downstream) across
  smooth valley sides. Lakes are flat water surfaces in the main valley, and a few
  irregular nodata holes mimic DEM voids.
* **Land cover** (internal, 10 m) -- a Public Land Survey grid of quarter-section
  fields (corn, soybean, pasture, bare soil, woodlots) rotated by the UTM grid
  convergence, section-line roads, small towns with street grids, riparian forest
  along the valleys and on steep slopes, and open water in lakes and channels.
* **Optical** -- linear mixtures of canopy and background spectra (Landsat 8 surface
  reflectance scaled to Collection 2 DN), with topographic illumination and sensor
  noise, averaged from 10 m to the 30 m grid (so class edges give mixed pixels).
* **Thermal** -- land surface temperature from the same mixture (hot soil and roofs,
  cool canopy and water), lapse rate, sun-facing slopes warmer, smoothed to ~100 m.
* **SAR** -- C-band VV backscatter: per-class gamma-nought, terrain modulation from
  the local incidence angle of the DEM resampled onto the Albers grid, a noise floor
  and multiplicative gamma-distributed speckle (ENL 4), in decibels.

Output is fully determined by the arguments: the same seed gives the same pixels (and,
with the same GDAL build, the same bytes), whatever the tile size. Rasters are tiled,
DEFLATE-compressed and written under a temporary name that is renamed into place once
complete, so a crash never leaves a half-written file under a final name.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import scipy.fft
import shapely
from numpy.typing import NDArray
from pyproj import Transformer
from rasterio.features import rasterize
from rasterio.transform import Affine
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.windows import Window
from scipy import ndimage
from shapely.geometry import LineString, Point, Polygon, box, mapping
from shapely.ops import substring

__all__ = [
    "BOUNDARY_NAME",
    "CONFIG_NAME",
    "DEM_NAME",
    "OPTICAL_NAME",
    "SAR_NAME",
    "STREAMS_NAME",
    "THERMAL_NAME",
    "WATERBODIES_NAME",
    "synthesize_study_area",
    "write_config",
]

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

DEM_NAME = "dem_10m.tif"
SAR_NAME = "sar_vv_10m.tif"
OPTICAL_NAME = "landsat_optical_30m.tif"
THERMAL_NAME = "landsat_thermal_30m.tif"
BOUNDARY_NAME = "boundary.geojson"
STREAMS_NAME = "streams.geojson"
WATERBODIES_NAME = "waterbodies.geojson"
CONFIG_NAME = "pipeline.toml"

UTM_CRS = "EPSG:32616"
ALBERS_CRS = "EPSG:5070"
GEO_CRS = "EPSG:4326"
CENTER_LONLAT = (-88.9, 40.3)  # central Illinois

DEM_RES = 10.0
SAR_RES = 10.0
LANDSAT_RES = 30.0
LANDSAT_OFFSET = 15.0  # Landsat grid origin offset from the DEM's, metres
SAR_PAD_M = 500.0
COARSE = 4  # working grid for valleys and smooth fields: COARSE * DEM_RES metres
ELEV_RANGE = (200.0, 318.0)  # uncarved terrain over the DEM; valleys cut ~5-25 m deeper

DEM_NODATA = -9999.0
THERMAL_NODATA = -9999.0
OPTICAL_NODATA = 0
SAR_NODATA = float("nan")

BAND_NAMES = ("blue", "green", "red", "nir", "swir1", "swir2")
HUC12 = "071300090405"
WATERSHED_NAME = "Synthetic Pine Lake"

# Land-cover classes of the internal 10 m map.
WATER, FOREST, CORN, SOY, GRASS, BARE, URBAN, ROAD = 1, 2, 3, 4, 5, 6, 7, 8
N_CLASSES = 9

# Surface reflectance (blue, green, red, nir, swir1, swir2): canopy and background
# (soil / built material) end-members per class; a pixel is fv * canopy + (1-fv) * bg.
_SOIL = (0.055, 0.085, 0.115, 0.19, 0.27, 0.22)
_BUILT = (0.10, 0.11, 0.125, 0.16, 0.20, 0.18)
_ASPHALT = (0.075, 0.08, 0.085, 0.10, 0.13, 0.12)
_WATER_SPEC = (0.045, 0.060, 0.035, 0.018, 0.009, 0.006)
_CANOPY: dict[int, tuple[float, ...]] = {
    WATER: _WATER_SPEC,
    FOREST: (0.020, 0.045, 0.025, 0.34, 0.16, 0.070),
    CORN: (0.025, 0.065, 0.030, 0.50, 0.21, 0.090),
    SOY: (0.030, 0.070, 0.035, 0.44, 0.22, 0.100),
    GRASS: (0.040, 0.080, 0.060, 0.32, 0.25, 0.140),
    BARE: (0.040, 0.080, 0.060, 0.30, 0.24, 0.130),
    URBAN: (0.030, 0.060, 0.040, 0.36, 0.20, 0.090),
    ROAD: (0.040, 0.080, 0.060, 0.30, 0.24, 0.130),
}
_BACKGROUND: dict[int, tuple[float, ...]] = {
    WATER: _WATER_SPEC,
    FOREST: _SOIL,
    CORN: _SOIL,
    SOY: _SOIL,
    GRASS: _SOIL,
    BARE: _SOIL,
    URBAN: _BUILT,
    ROAD: _ASPHALT,
}
# Mean vegetation fraction per class (scaled per field by vigour).
_FV = {WATER: 0.0, FOREST: 0.93, CORN: 0.90, SOY: 0.62, GRASS: 0.72, BARE: 0.07, URBAN: 0.30}
# Land surface temperature end-members, kelvin: (canopy, background).
_LST = {
    WATER: (293.5, 293.5),
    FOREST: (295.5, 309.0),
    CORN: (297.0, 312.5),
    SOY: (297.5, 312.5),
    GRASS: (298.5, 311.5),
    BARE: (298.5, 312.5),
    URBAN: (297.0, 313.0),
    ROAD: (298.0, 314.0),
}
# C-band VV gamma-nought, dB, midsummer.
_GAMMA0_DB = {
    WATER: -21.0,
    FOREST: -7.5,
    CORN: -8.5,
    SOY: -10.5,
    GRASS: -12.0,
    BARE: -13.5,
    URBAN: -3.5,
    ROAD: -15.0,
}

QUARTER_SECTION_M = 804.672  # half a mile
SECTION_M = 2 * QUARTER_SECTION_M
SAR_ENL = 4.0
SAR_LOOK_AZIMUTH_DEG = 78.0  # ascending pass, right-looking: looks east-north-east
SUN_ZENITH_DEG = 28.0
SUN_AZIMUTH_DEG = 130.0

# Named random streams, so changing one component does not reshuffle the others.
_RNG_TERRAIN, _RNG_STREAMS, _RNG_BOUNDARY, _RNG_LAKES, _RNG_HOLES = 1, 2, 3, 4, 5
_RNG_FIELDS, _RNG_TOWNS, _RNG_TEXTURE, _RNG_OPTICAL, _RNG_SAR = 6, 7, 8, 9, 10


# ----------------------------------------------------------------------------------------
# grids
@dataclass(frozen=True, slots=True)
class _Grid:
    """A north-up raster grid."""

    crs: str
    transform: Affine
    width: int
    height: int

    @property
    def res(self) -> float:
        return float(self.transform.a)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        left, top = float(self.transform.c), float(self.transform.f)
        return (left, top - self.height * self.res, left + self.width * self.res, top)

    def window(self, row: int, col: int, height: int, width: int) -> _Grid:
        """Return the sub-grid starting at ``(row, col)``."""
        return _Grid(self.crs, self.transform @ Affine.translation(col, row), width, height)

    def to_pixel(self, xy: F64) -> tuple[F64, F64]:
        """Fractional ``(row, col)`` of pixel *centres* for ``(n, 2)`` map coordinates."""
        left, _, _, top = self.bounds
        col = (xy[:, 0] - left) / self.res - 0.5
        row = (top - xy[:, 1]) / self.res - 0.5
        return row, col


@dataclass(frozen=True, slots=True)
class _Layout:
    """All grids of one study area.

    ``ext`` is the 10 m UTM working grid on which the world is simulated; it contains the
    DEM (at ``dem_offset``), the Landsat grid and the SAR footprint, and its size is a
    multiple of ``COARSE`` so ``coarse`` tiles it exactly.
    """

    dem: _Grid
    ext: _Grid
    coarse: _Grid
    dem_offset: tuple[int, int]
    landsat: _Grid
    sar: _Grid


def _layout(size_km: float) -> _Layout:
    to_utm = Transformer.from_crs(GEO_CRS, UTM_CRS, always_xy=True)
    cx, cy = to_utm.transform(*CENTER_LONLAT)
    n = round(size_km * 1000.0 / DEM_RES)
    half = n * DEM_RES / 2.0
    # DEM origin on a 30 m lattice, so the Landsat grid is exactly 15 m off it.
    x0 = math.floor((cx - half) / LANDSAT_RES) * LANDSAT_RES
    top = math.floor((cy + half) / LANDSAT_RES) * LANDSAT_RES
    dem = _Grid(UTM_CRS, Affine(DEM_RES, 0.0, x0, 0.0, -DEM_RES, top), n, n)

    n_ls = math.ceil((n * DEM_RES + LANDSAT_OFFSET) / LANDSAT_RES)
    landsat = _Grid(
        UTM_CRS,
        Affine(LANDSAT_RES, 0.0, x0 - LANDSAT_OFFSET, 0.0, -LANDSAT_RES, top + LANDSAT_OFFSET),
        n_ls,
        n_ls,
    )

    sl, sb, sr, st = transform_bounds(UTM_CRS, ALBERS_CRS, *dem.bounds, densify_pts=101)
    sl = math.floor((sl - SAR_PAD_M) / SAR_RES) * SAR_RES
    sb = math.floor((sb - SAR_PAD_M) / SAR_RES) * SAR_RES
    sr = math.ceil((sr + SAR_PAD_M) / SAR_RES) * SAR_RES
    st = math.ceil((st + SAR_PAD_M) / SAR_RES) * SAR_RES
    sar = _Grid(
        ALBERS_CRS,
        Affine(SAR_RES, 0.0, sl, 0.0, -SAR_RES, st),
        round((sr - sl) / SAR_RES),
        round((st - sb) / SAR_RES),
    )

    # Working grid: covers DEM, Landsat and the SAR footprint (plus a resampling halo).
    ul, ub, ur, ut = transform_bounds(ALBERS_CRS, UTM_CRS, *sar.bounds, densify_pts=101)
    ll, lb, lr, lt = landsat.bounds
    halo = 4 * DEM_RES
    d_left, d_bottom, d_right, d_top = dem.bounds
    m_left = math.ceil((d_left - min(ul, ll) + halo) / DEM_RES)
    m_top = math.ceil((max(ut, lt) - d_top + halo) / DEM_RES)
    m_right = math.ceil((max(ur, lr) - d_right + halo) / DEM_RES)
    m_bottom = math.ceil((d_bottom - min(ub, lb) + halo) / DEM_RES)
    width = m_left + n + m_right
    height = m_top + n + m_bottom
    width += -width % COARSE
    height += -height % COARSE
    ext = _Grid(
        UTM_CRS,
        Affine(DEM_RES, 0.0, x0 - m_left * DEM_RES, 0.0, -DEM_RES, top + m_top * DEM_RES),
        width,
        height,
    )
    coarse = _Grid(
        UTM_CRS,
        Affine(DEM_RES * COARSE, 0.0, ext.transform.c, 0.0, -DEM_RES * COARSE, ext.transform.f),
        width // COARSE,
        height // COARSE,
    )
    return _Layout(dem, ext, coarse, (m_top, m_left), landsat, sar)


# ----------------------------------------------------------------------------------------
# random fields
def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFF_FFFF_FFFF_FFFF, stream]))


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _fbm(
    rng: np.random.Generator,
    shape: tuple[int, int],
    res: float,
    *,
    beta: float,
    corner_m: float,
    smooth_m: float = 0.0,
) -> F32:
    """Fractional Brownian surface by spectral synthesis, zero mean and unit variance.

    White complex noise is shaped by the power spectrum ``(f**2 + f0**2) ** (-beta / 2)``
    (``f0 = 1 / corner_m`` flattens it beyond the corner wavelength so no single wave
    dominates a large area), optionally tapered by a Gaussian of ``smooth_m`` metres
    (hillslope diffusion), and inverse-transformed on a padded, FFT-friendly grid.
    """
    ny, nx = shape
    py = scipy.fft.next_fast_len(ny + 16, real=True)
    px = scipy.fft.next_fast_len(nx + 16, real=True)
    fy = np.fft.fftfreq(py, d=res).astype(np.float32)
    fx = np.fft.rfftfreq(px, d=res).astype(np.float32)
    power = fy[:, None] ** 2 + fx[None, :] ** 2
    power += np.float32((1.0 / corner_m) ** 2)
    amp = power ** np.float32(-beta / 4.0)
    if smooth_m > 0.0:
        amp *= np.exp(np.float32(-2.0 * (math.pi * smooth_m) ** 2) * power)
    del power
    amp[0, 0] = 0.0
    spec = np.empty(amp.shape, dtype=np.complex64)
    spec.real = rng.standard_normal(amp.shape, dtype=np.float32)
    spec.imag = rng.standard_normal(amp.shape, dtype=np.float32)
    spec *= amp
    del amp
    full = scipy.fft.irfft2(spec, s=(py, px), workers=_workers())
    del spec
    field = np.array(full[:ny, :nx], dtype=np.float32)
    del full
    field -= np.float32(field.mean(dtype=np.float64))
    field /= np.float32(max(float(field.std(dtype=np.float64)), 1e-12))
    return field


def _upsample(coarse: F32, factor: int, *, order: int = 1) -> F32:
    """Spline upsampling by an integer factor, aligned on pixel areas.

    ``order=3`` (cubic) keeps slopes continuous, which a hillshade of the terrain needs.
    """
    out = ndimage.zoom(
        coarse, factor, order=order, mode="nearest", grid_mode=True, output=np.float32
    )
    return np.asarray(out, dtype=np.float32)


def _block_mean(a: F32, factor: int) -> F32:
    h, w = a.shape
    return np.asarray(
        a.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3), dtype=np.float32),
        dtype=np.float32,
    )


def _radial_noise(rng: np.random.Generator, n_harmonics: int, decay: float) -> tuple[F64, F64, F64]:
    """Random harmonic coefficients for a star-shaped outline (see :func:`_eval_radial`)."""
    k = np.arange(1, n_harmonics + 1, dtype=np.float64)
    amp = k**-decay * rng.standard_normal(n_harmonics)
    phase = rng.uniform(0.0, 2.0 * np.pi, n_harmonics)
    amp /= math.sqrt(float(np.sum(amp**2)) / 2.0) or 1.0  # unit standard deviation
    return k, amp, phase


def _eval_radial(coef: tuple[F64, F64, F64], theta: F64) -> F64:
    k, amp, phase = coef
    out = np.zeros(theta.shape, dtype=np.float64)
    for kk, a, p in zip(k, amp, phase, strict=True):
        out += a * np.cos(kk * theta + p)
    return out


def _blob_mask(
    rng: np.random.Generator, xs: F64, ys: F64, cx: float, cy: float, radius: float, wiggle: float
) -> NDArray[np.bool_]:
    """Irregular blob (noisy radius) on the grid of pixel-centre coordinates ``xs``, ``ys``."""
    coef = _radial_noise(rng, 12, 1.2)
    dx = xs[None, :] - cx
    dy = ys[:, None] - cy
    r = np.hypot(dx, dy)
    rmax = radius * np.exp(wiggle * _eval_radial(coef, np.arctan2(dy, dx)))
    return np.asarray(r < rmax)


# ----------------------------------------------------------------------------------------
# streams, valleys and lakes
@dataclass(slots=True)
class _Stream:
    line: LineString
    dist: F64  # cumulative distance of the vertices, m
    floor: F64  # valley floor elevation at the vertices, m
    bottom_m: float  # half-width of the flat valley bottom, m
    wall_m: float  # horizontal extent of each valley side, m
    channel_m: float  # half-width of the open-water channel, m
    main: bool

    def floor_at(self, d: float) -> float:
        return float(np.interp(d, self.dist, self.floor))


@dataclass(frozen=True, slots=True)
class _Downhill:
    """Downhill direction of the smoothed terrain, weighted by steepness (0..1)."""

    grid: _Grid
    hx: F32
    hy: F32

    @classmethod
    def from_terrain(cls, grid: _Grid, z: F32, smooth_m: float) -> _Downhill:
        smooth = ndimage.gaussian_filter(z, smooth_m / grid.res, mode="nearest")
        gy, gx = np.gradient(smooth, grid.res)
        dx, dy = -gx, gy  # downhill, in map axes (rows run south)
        mag = np.hypot(dx, dy)
        ref = float(np.median(mag)) or 1.0
        weight = 1.0 / (mag + ref)  # unit vector * mag / (mag + ref)
        return cls(grid, (dx * weight).astype(np.float32), (dy * weight).astype(np.float32))

    def at(self, x: float, y: float) -> tuple[float, float]:
        left, _, _, top = self.grid.bounds
        c = min(max(int((x - left) / self.grid.res), 0), self.grid.width - 1)
        r = min(max(int((top - y) / self.grid.res), 0), self.grid.height - 1)
        return float(self.hx[r, c]), float(self.hy[r, c])


def _wrap(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


def _walk(
    rng: np.random.Generator,
    start: tuple[float, float],
    waypoints: Sequence[tuple[float, float]],
    *,
    step: float,
    bounds: tuple[float, float, float, float],
    max_steps: int,
    downhill: _Downhill,
) -> tuple[F64, int]:
    """Meandering path: a correlated random turn rate plus steering towards waypoints.

    The course also bends downhill, so channels settle into the terrain's hollows.
    Returns the vertices and the number of waypoints reached; the walk stops at the last
    waypoint, on leaving ``bounds`` or after ``max_steps``.
    """
    x, y = start
    heading = math.atan2(waypoints[0][1] - y, waypoints[0][0] - x)
    turn = wiggle = 0.0
    pts = [(x, y)]
    target = 0
    left, bottom, right, top = bounds
    for _ in range(max_steps):
        tx, ty = waypoints[target]
        dist = math.hypot(tx - x, ty - y)
        if dist < 2.0 * step:
            target += 1
            if target == len(waypoints):
                pts.append((tx, ty))
                break
            continue
        desired = math.atan2(ty - y, tx - x)
        # slow drift of the course plus short wiggles; steer harder near the target
        turn = 0.95 * turn + 0.005 * float(rng.standard_normal())
        wiggle = 0.6 * wiggle + 0.05 * float(rng.standard_normal())
        steer = min(1.0, max(0.015, 1.5 * step / dist))
        heading += steer * _wrap(desired - heading) + turn + wiggle
        hx, hy = downhill.at(x, y)
        if hx or hy:
            # only the part of the slope that does not lead away from the target (no
            # orbiting in hollows)
            down = math.atan2(hy, hx)
            along = math.cos(_wrap(down - desired))
            if along > 0.0:
                heading += 0.06 * along * math.hypot(hx, hy) * _wrap(down - heading)
        x += step * math.cos(heading)
        y += step * math.sin(heading)
        pts.append((x, y))
        if not (left <= x <= right and bottom <= y <= top):
            break
    return np.asarray(pts, dtype=np.float64), target


def _cumdist(xy: F64) -> F64:
    seg = np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1]))
    return np.concatenate([[0.0], np.cumsum(seg)])


def _sample(grid: _Grid, raster: F32, xy: F64) -> F64:
    row, col = grid.to_pixel(xy)
    return np.asarray(
        ndimage.map_coordinates(raster, [row, col], order=1, mode="nearest"), dtype=np.float64
    )


def _make_stream(
    xy: F64,
    base_grid: _Grid,
    base: F32,
    *,
    depth: tuple[float, float],
    bottom_m: float,
    wall_m: float,
    channel_m: float,
    main: bool,
    junction_floor: float | None = None,
) -> _Stream:
    dist = _cumdist(xy)
    ground = _sample(base_grid, base, xy)
    frac = dist / max(float(dist[-1]), 1.0)
    target = ground - (depth[0] + (depth[1] - depth[0]) * frac)
    # never rising downstream, and falling at least 0.3 m/km (no flat reaches)
    floor = np.minimum.accumulate(target + 0.0003 * dist) - 0.0003 * dist
    if junction_floor is not None:
        floor = np.maximum(floor, junction_floor + 0.3)
    return _Stream(LineString(xy), dist, floor, bottom_m, wall_m, channel_m, main)


def _streams(
    rng: np.random.Generator, lay: _Layout, base_c: F32, downslope: tuple[float, float]
) -> list[_Stream]:
    """One main stem through the centre, tributaries joining it (or each other)."""
    left, bottom, right, top = lay.dem.bounds
    size = right - left
    cx, cy = (left + right) / 2.0, (bottom + top) / 2.0
    ux, uy = downslope
    px, py = -uy, ux
    ext_bounds = lay.ext.bounds
    step = lay.coarse.res
    downhill = _Downhill.from_terrain(lay.coarse, base_c, 300.0)
    reach = (ext_bounds[2] - ext_bounds[0]) * 0.75
    # start just inside the working grid, upslope of the centre
    e_left, e_bottom, e_right, e_top = ext_bounds
    off = rng.uniform(-0.08, 0.08) * size
    ox, oy = cx + px * off, cy + py * off
    back = min(
        (ox - e_left - 2 * step) / abs(ux) if ux > 0 else math.inf,
        (e_right - ox - 2 * step) / abs(ux) if ux < 0 else math.inf,
        (oy - e_bottom - 2 * step) / abs(uy) if uy > 0 else math.inf,
        (e_top - oy - 2 * step) / abs(uy) if uy < 0 else math.inf,
    )
    start = (ox - ux * back, oy - uy * back)
    mid = (cx + px * rng.uniform(-0.05, 0.05) * size, cy + py * rng.uniform(-0.05, 0.05) * size)
    end = (cx + ux * reach - px * off, cy + uy * reach - py * off)
    for _ in range(50):  # a walk that wanders off before the centre is redrawn
        xy, reached = _walk(
            rng,
            start,
            [mid, end],
            step=step,
            bounds=ext_bounds,
            max_steps=20_000,
            downhill=downhill,
        )
        if reached >= 1:
            break
    main = _make_stream(
        xy,
        lay.coarse,
        base_c,
        depth=(8.0, 20.0),
        bottom_m=150.0,
        wall_m=650.0,
        channel_m=9.0,
        main=True,
    )
    streams = [main]

    scale = max(1, round(size / 12_000.0))
    n_trib = int(rng.integers(3, 6)) * scale
    inner = box(left, bottom, right, top).buffer(-0.06 * size)
    starts: list[Point] = []
    attempts = 0
    while len(streams) < n_trib + 1 and attempts < 400:
        attempts += 1
        sx = rng.uniform(left + 0.06 * size, right - 0.06 * size)
        sy = rng.uniform(bottom + 0.06 * size, top - 0.06 * size)
        p = Point(sx, sy)
        if not inner.contains(p) or main.line.distance(p) < 0.2 * size / math.sqrt(scale):
            continue
        if any(p.distance(q) < 0.18 * size / math.sqrt(scale) for q in starts):
            continue
        # aim at the main stem, somewhat downstream of the nearest point
        d_near = main.line.project(p)
        d_target = min(d_near + 0.08 * size, float(main.dist[-1]))
        tgt = main.line.interpolate(d_target)
        dist = p.distance(tgt)
        path, _ = _walk(
            rng,
            (sx, sy),
            [(tgt.x, tgt.y)],
            step=step,
            bounds=ext_bounds,
            max_steps=int(3 * dist / step) + 10,
            downhill=downhill,
        )
        if len(path) < 4:
            continue
        line = LineString(path)
        # stop at the first stream it meets
        cut, joined_floor = float(_cumdist(path)[-1]), None
        for other in streams:
            inter = line.intersection(other.line)
            if inter.is_empty:
                continue
            for q in getattr(inter, "geoms", [inter]):
                qp = q if isinstance(q, Point) else q.centroid
                d = line.project(qp)
                if step < d < cut:
                    cut = d
                    joined_floor = other.floor_at(other.line.project(qp))
        if cut < 0.1 * size:
            continue
        line = substring(line, 0.0, cut)
        xy = np.asarray(line.coords, dtype=np.float64)
        streams.append(
            _make_stream(
                xy,
                lay.coarse,
                base_c,
                depth=(3.0, 10.0),
                bottom_m=40.0,
                wall_m=260.0,
                channel_m=3.5,
                main=False,
                junction_floor=joined_floor,
            )
        )
        starts.append(p)
    return streams


def _carve(lay: _Layout, base_c: F32, streams: Sequence[_Stream]) -> tuple[F32, F32]:
    """Valley incision on the coarse grid.

    Returns the elevation change (<= 0) and the distance to the nearest channel, both on
    the coarse grid. Around each channel the ground is pulled down towards the valley
    floor with a weight that is 1 on the valley bottom and falls smoothly to 0 across the
    valley sides, so the sides keep the shape of the terrain they cut into. The floor
    under each cell is a Gaussian-weighted mean of nearby channel floors, which keeps
    the surface free of creases where the nearest channel cell jumps across a bend.
    """
    g = lay.coarse
    carved = base_c.copy()
    near = np.full(g.shape, np.inf, dtype=np.float32)
    for s in sorted(streams, key=lambda st: st.main):  # main stem last
        n = max(2, int(float(s.dist[-1]) / (g.res / 4.0)))
        d = np.linspace(0.0, float(s.dist[-1]), n)
        xy = np.column_stack(
            [np.interp(d, s.dist, s.line.xy[0]), np.interp(d, s.dist, s.line.xy[1])]
        )
        fl = np.interp(d, s.dist, s.floor)
        row, col = g.to_pixel(xy)
        r = np.rint(row).astype(np.int64)
        c = np.rint(col).astype(np.int64)
        ok = (r >= 0) & (r < g.height) & (c >= 0) & (c < g.width)
        if not ok.any():
            continue
        floor = np.full(g.shape, np.inf, dtype=np.float32)
        np.minimum.at(floor, (r[ok], c[ok]), fl[ok].astype(np.float32))
        on = np.isfinite(floor)
        dist, (ir, ic) = ndimage.distance_transform_edt(~on, sampling=g.res, return_indices=True)
        dist = dist.astype(np.float32)
        sigma = max(2.0, 0.5 * (s.bottom_m + s.wall_m) / g.res)
        num = ndimage.gaussian_filter(np.where(on, floor, np.float32(0.0)), sigma, mode="constant")
        den = ndimage.gaussian_filter(on.astype(np.float32), sigma, mode="constant")
        eps = np.float32(1e-3)
        smooth_floor = (num + eps * floor[ir, ic]) / (den + eps)
        del num, den, ir, ic, floor
        t = np.clip((dist - np.float32(s.bottom_m)) / np.float32(s.wall_m), 0.0, 1.0)
        weight = np.float32(1.0) - t * t * (np.float32(3.0) - np.float32(2.0) * t)
        carved -= np.maximum(carved - smooth_floor, np.float32(0.0)) * weight
        np.minimum(near, dist, out=near)
    delta = ndimage.gaussian_filter(carved - base_c, 0.7, mode="nearest")
    return np.asarray(np.minimum(delta, 0.0), dtype=np.float32), near


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


# ----------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------
# sensors
def _illumination(dem: F32, res: float) -> F32:
    """Cosine of the solar incidence angle on the terrain over that on flat ground."""
    gy, gx = np.gradient(dem, res)
    dzdx, dzdy = gx, -gy  # east, north
    zen, az = math.radians(SUN_ZENITH_DEG), math.radians(SUN_AZIMUTH_DEG)
    sx, sy, sz = math.sin(zen) * math.sin(az), math.sin(zen) * math.cos(az), math.cos(zen)
    cos_i = (-dzdx * np.float32(sx) - dzdy * np.float32(sy) + np.float32(sz)) / np.sqrt(
        np.float32(1.0) + dzdx**2 + dzdy**2
    )
    return np.asarray(cos_i / np.float32(sz), dtype=np.float32)


def _to_landsat(src: F32, src_grid: _Grid, dst_grid: _Grid) -> F32:
    out = np.empty(dst_grid.shape, dtype=np.float32)
    reproject(
        source=src,
        destination=out,
        src_transform=src_grid.transform,
        src_crs=src_grid.crs,
        dst_transform=dst_grid.transform,
        dst_crs=dst_grid.crs,
        resampling=Resampling.average,
        num_threads=_workers(),
    )
    return out


def _landsat(seed: int, lay: _Layout, z: F32, cover: _Cover) -> tuple[NDArray[np.uint16], F32]:
    """Optical DN (6, h, w) and land surface temperature (h, w) on the Landsat grid."""
    rng = _rng(seed, _RNG_OPTICAL)
    g = lay.ext
    # window of the working grid covering the Landsat grid, with a margin
    ll, lb, lr, lt = lay.landsat.bounds
    c0 = math.floor((ll - g.transform.c) / g.res) - 2
    r0 = math.floor((g.transform.f - lt) / g.res) - 2
    c1 = math.ceil((lr - g.transform.c) / g.res) + 2
    r1 = math.ceil((g.transform.f - lb) / g.res) + 2
    c0, r0 = max(c0, 0), max(r0, 0)
    c1, r1 = min(c1, g.width), min(r1, g.height)
    win = g.window(r0, c0, r1 - r0, c1 - c0)
    cls = cover.cls[r0:r1, c0:c1]
    fv = cover.fv[r0:r1, c0:c1]
    tex = cover.texture[r0:r1, c0:c1]
    illum = _illumination(z[r0:r1, c0:c1], g.res)
    water = cls == WATER
    illum[water] = 1.0
    turbid = np.float32(1.0) + np.float32(0.25) * tex

    canopy = np.zeros((N_CLASSES, 6), dtype=np.float32)
    back = np.zeros((N_CLASSES, 6), dtype=np.float32)
    for c in _CANOPY:
        canopy[c] = _CANOPY[c]
        back[c] = _BACKGROUND[c]
    dn = np.empty((6, *lay.landsat.shape), dtype=np.uint16)
    for b in range(6):
        refl = fv * canopy[cls, b] + (np.float32(1.0) - fv) * back[cls, b]
        refl *= illum
        refl = np.where(water, refl * turbid, refl)
        out = _to_landsat(refl, win, lay.landsat)
        del refl
        out += np.float32(0.0025) * rng.standard_normal(out.shape, dtype=np.float32)
        # Landsat Collection 2 surface reflectance scaling: rho = DN * 2.75e-5 - 0.2
        digital = (out + np.float32(0.2)) / np.float32(2.75e-5)
        dn[b] = np.clip(np.rint(digital), 7001, 30000).astype(np.uint16)

    t_can = np.zeros(N_CLASSES, dtype=np.float32)
    t_bg = np.zeros(N_CLASSES, dtype=np.float32)
    for c, (tc, tb) in _LST.items():
        t_can[c], t_bg[c] = tc, tb
    lst = fv * t_can[cls] + (np.float32(1.0) - fv) * t_bg[cls]
    mean_z = float(z[r0:r1, c0:c1].mean(dtype=np.float64))
    lst -= np.float32(0.0065) * (z[r0:r1, c0:c1] - np.float32(mean_z))
    lst += np.where(water, np.float32(0.0), np.float32(2.5) * (illum - np.float32(1.0)))
    lst += np.float32(0.6) * tex
    del illum, turbid, water
    lst30 = _to_landsat(lst.astype(np.float32), win, lay.landsat)
    del lst
    lst30 = np.asarray(ndimage.gaussian_filter(lst30, 1.3, mode="nearest"), dtype=np.float32)
    lst30 += np.float32(0.15) * rng.standard_normal(lst30.shape, dtype=np.float32)
    np.clip(lst30, 288.0, 316.0, out=lst30)
    return dn, lst30


def _gamma0_db(seed: int, cover: _Cover) -> F32:
    """Per-pixel gamma-nought (dB) from land cover, field roughness and texture."""
    rng = _rng(seed, _RNG_SAR)
    lut = np.zeros(N_CLASSES, dtype=np.float32)
    for c, v in _GAMMA0_DB.items():
        lut[c] = v
    g0 = lut[cover.cls]
    crops = (cover.cls >= CORN) & (cover.cls <= BARE)
    g0 += np.where(crops, np.float32(2.4) * (cover.field - np.float32(0.5)), np.float32(0.0))
    g0 += np.where(
        cover.cls == WATER, np.float32(2.0) * cover.texture, np.float32(0.5) * cover.texture
    )
    urban = cover.cls == URBAN
    g0[urban] += np.float32(3.0) * rng.standard_normal(int(urban.sum()), dtype=np.float32)
    return g0


def _sar_rows(
    rng: np.random.Generator, dem: F32, g0_db: F32, row0: int, row1: int, sar: _Grid
) -> F32:
    """Backscatter (dB) for SAR rows ``row0:row1``; ``dem`` is on the SAR grid."""
    h0, h1 = max(row0 - 1, 0), min(row1 + 1, dem.shape[0])
    gy, gx = (np.asarray(a, dtype=np.float32) for a in np.gradient(dem[h0:h1], sar.res))
    sl = slice(row0 - h0, row0 - h0 + (row1 - row0))
    p, q = gx[sl], -gy[sl]  # dz/d(east), dz/d(north)
    cols = np.arange(sar.width, dtype=np.float32)
    theta = np.deg2rad(np.float32(33.0) + np.float32(4.0) * cols / np.float32(sar.width))
    az = math.radians(SAR_LOOK_AZIMUTH_DEG)
    sin_t, cos_t = np.sin(theta)[None, :], np.cos(theta)[None, :]
    cos_loc = p * sin_t * np.float32(math.sin(az)) + q * sin_t * np.float32(math.cos(az)) + cos_t
    cos_loc /= np.sqrt(np.float32(1.0) + p**2 + q**2)
    sin_loc = np.sqrt(np.clip(np.float32(1.0) - cos_loc**2, 0.0, 1.0))
    gamma0 = np.power(np.float32(10.0), g0_db[row0:row1] / np.float32(10.0))
    sigma0 = gamma0 * np.clip(cos_loc, 0.0, 1.0) * sin_t / np.maximum(sin_loc, np.float32(0.15))
    sigma0 += np.float32(10 ** (-23.5 / 10))  # noise-equivalent sigma-nought
    sigma0 *= rng.standard_gamma(SAR_ENL, size=sigma0.shape, dtype=np.float32) / np.float32(SAR_ENL)
    db = np.float32(10.0) * np.log10(np.maximum(sigma0, np.float32(1e-4)))
    return np.asarray(np.clip(db, -28.0, 3.0), dtype=np.float32)


# ----------------------------------------------------------------------------------------
# writing
def _creation_options(dtype: str, block: int) -> dict[str, Any]:
    return {
        "driver": "GTiff",
        "dtype": dtype,
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
        "compress": "deflate",
        "predictor": 2 if dtype.startswith("uint") or dtype.startswith("int") else 3,
        "zlevel": 6,
        "num_threads": str(_workers()),
        "bigtiff": "if_safer",
    }


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto ``path`` on success, else delete it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def _open_raster(
    path: Path,
    grid: _Grid,
    *,
    dtype: str,
    count: int,
    nodata: float,
    block: int,
    descriptions: Sequence[str],
    units: str,
) -> Iterator[Any]:
    with _atomic_path(path) as tmp:
        profile = _creation_options(dtype, block)
        profile.update(
            width=grid.width,
            height=grid.height,
            count=count,
            crs=grid.crs,
            transform=grid.transform,
            nodata=nodata,
        )
        with rasterio.open(tmp, "w", **profile) as dst:
            for i, desc in enumerate(descriptions, start=1):
                dst.set_band_description(i, desc)
                dst.set_band_unit(i, units)
            yield dst


def _write_json(path: Path, obj: Any) -> None:
    with _atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, separators=(",", ":")) + "\n", encoding="utf-8")


def _feature_collection(
    geoms: Sequence[Any], props: Sequence[dict[str, Any]], to_geo: Transformer
) -> dict[str, Any]:
    feats = []
    for geom, prop in zip(geoms, props, strict=True):
        g = shapely.transform(
            geom, lambda xy: np.column_stack(to_geo.transform(xy[:, 0], xy[:, 1]))
        )
        g = shapely.set_precision(g, 1e-7)
        feats.append({"type": "Feature", "properties": prop, "geometry": mapping(g)})
    return {"type": "FeatureCollection", "features": feats}


def write_config(
    out_dir: str | Path,
    *,
    patch_size: int = 224,
    stride: int | None = None,
    split_seed: int = 0,
    block_m: float = 3000,
    output: str = "dataset",
    buffer_m: float = 0,
) -> Path:
    """Write the ``pipeline.toml`` that ties the synthetic inputs together.

    Parameters
    ----------
    out_dir
        Directory holding the files written by :func:`synthesize_study_area`; all paths in
        the configuration are relative to it.
    patch_size
        Patch edge in reference (DEM) pixels.
    stride
        Lattice step in reference pixels; defaults to ``patch_size`` (no overlap).
    split_seed
        Seed of the spatial block split.
    block_m
        Edge of the square split blocks, metres.
    output
        Dataset path, relative to ``out_dir``.
    buffer_m
        ``[study_area].buffer_m``: grow the watershed by this many metres.

    Returns
    -------
    Path
        The configuration file.
    """
    if patch_size <= 0:
        raise ValueError(f"patch_size must be a positive integer, found {patch_size!r}")
    stride = patch_size if stride is None else stride
    if stride <= 0:
        raise ValueError(f"stride must be a positive integer, found {stride!r}")
    block_txt = f"{int(block_m)}" if float(block_m).is_integer() else f"{block_m!r}"
    text = f"""\
# Synthetic multi-sensor study area written by geoharmony.demo.data.
[study_area]
boundary = "{BOUNDARY_NAME}"
buffer_m = {buffer_m:g}

[grid]
reference = "dem"
patch_size = {int(patch_size)}
stride = {int(stride)}
mode = "native"
keep = "center"

[modalities.dem]
path = "{DEM_NAME}"

[modalities.sar]
path = "{SAR_NAME}"

[modalities.optical]
path = "{OPTICAL_NAME}"

[modalities.thermal]
path = "{THERMAL_NAME}"

[split]
by = "block"
fractions = [0.8, 0.1, 0.1]
seed = {int(split_seed)}
block_m = {block_txt}
# 30 m windows of 224 px (6.7 km) are larger than a block: val/test patches that share
# ground with train patches are kept, but in a split of their own ("guard")
guard = "keep"

[labels.streams]
kind = "vector"
grid = "dem"
sources = [
  {{ path = "{STREAMS_NAME}", buffer_m = 15 }},
  {{ path = "{WATERBODIES_NAME}" }},
]

[labels.flowdir]
kind = "d8"
dem = "dem"

[output]
path = {json.dumps(output)}
format = "zarr"
"""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / CONFIG_NAME
    with _atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------
def synthesize_study_area(
    out_dir: str | Path,
    *,
    seed: int = 0,
    size_km: float = 12.0,
    patch_size: int = 224,
    block: int = 256,
) -> Path:
    """Write rasters + boundary + streams + a pipeline.toml into out_dir; return the toml path.

    Parameters
    ----------
    out_dir
        Destination directory (created if missing). Existing files of the same names are
        replaced.
    seed
        Seed of every random choice; the same seed and arguments give the same pixels.
    size_km
        Edge of the square DEM area, kilometres (at least 2).
    patch_size
        Patch edge written into the configuration's ``[grid]`` table.
    block
        GeoTIFF tile edge, pixels (a positive multiple of 16).

    Returns
    -------
    Path
        ``out_dir / "pipeline.toml"``.

    Notes
    -----
    Files written (see the module docstring for how they are made):

    ``dem_10m.tif``
        float32 elevation, m, EPSG:32616, 10 m, nodata -9999 (a few small voids).
    ``sar_vv_10m.tif``
        float32 VV backscatter, dB, EPSG:5070, 10 m, covering the DEM plus ~500 m,
        nodata NaN.
    ``landsat_optical_30m.tif``
        6 x uint16 surface-reflectance DN (blue, green, red, nir, swir1, swir2),
        EPSG:32616, 30 m grid offset 15 m from the DEM's, nodata 0.
    ``landsat_thermal_30m.tif``
        float32 land surface temperature, K, same grid, nodata -9999.
    ``boundary.geojson``, ``streams.geojson``, ``waterbodies.geojson``
        EPSG:4326 watershed polygon, stream lines and lakes.
    ``pipeline.toml``
        Configuration with paths relative to ``out_dir`` (see :func:`write_config`).
    """
    if not (isinstance(size_km, int | float) and math.isfinite(size_km) and size_km >= 2.0):
        raise ValueError(f"size_km must be a number >= 2, found {size_km!r}")
    if isinstance(block, bool) or not isinstance(block, int) or block <= 0 or block % 16:
        raise ValueError(f"block must be a positive multiple of 16, found {block!r}")
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size <= 0:
        raise ValueError(f"patch_size must be a positive integer, found {patch_size!r}")
    seed = int(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lay = _layout(float(size_km))
    to_geo = Transformer.from_crs(UTM_CRS, GEO_CRS, always_xy=True)

    # terrain, streams, boundary, lakes
    z, ridges_c, base_c, downslope = _terrain(_rng(seed, _RNG_TERRAIN), lay)
    streams = _streams(_rng(seed, _RNG_STREAMS), lay, base_c, downslope)
    boundary = _boundary(_rng(seed, _RNG_BOUNDARY), lay)
    lakes = _lakes(_rng(seed, _RNG_LAKES), lay, streams[0], boundary)
    delta_c, dist_c = _carve(lay, base_c, streams)
    carved_c = base_c + delta_c
    del base_c
    z += _upsample(ridges_c + delta_c, COARSE, order=3)
    del delta_c, ridges_c
    if lakes:
        ids = _burn(lay.ext, [(lake, i + 1) for i, (lake, _) in enumerate(lakes)])
        for i, (_, level) in enumerate(lakes):
            z[ids == i + 1] = np.float32(level)
        del ids

    # DEM
    r0, c0 = lay.dem_offset
    dem = np.array(z[r0 : r0 + lay.dem.height, c0 : c0 + lay.dem.width], dtype=np.float32)
    _dem_holes(_rng(seed, _RNG_HOLES), dem, lay.dem, boundary, lakes)
    with _open_raster(
        out / DEM_NAME,
        lay.dem,
        dtype="float32",
        count=1,
        nodata=DEM_NODATA,
        block=block,
        descriptions=["elevation"],
        units="m",
    ) as dst:
        dst.write(dem, 1)
    del dem

    # land cover, Landsat
    cover = _landcover(seed, lay, streams, lakes, dist_c, carved_c)
    del dist_c, carved_c
    dn, lst = _landsat(seed, lay, z, cover)
    with _open_raster(
        out / OPTICAL_NAME,
        lay.landsat,
        dtype="uint16",
        count=6,
        nodata=OPTICAL_NODATA,
        block=block,
        descriptions=BAND_NAMES,
        units="DN",
    ) as dst:
        dst.write(dn)
    with _open_raster(
        out / THERMAL_NAME,
        lay.landsat,
        dtype="float32",
        count=1,
        nodata=THERMAL_NODATA,
        block=block,
        descriptions=["lst"],
        units="K",
    ) as dst:
        dst.write(lst, 1)
    del dn, lst

    # SAR: terrain and gamma-nought onto the Albers grid, then strip by strip
    g0_ext = _gamma0_db(seed, cover)
    del cover
    sar_dem = np.full(lay.sar.shape, np.nan, dtype=np.float32)
    sar_g0 = np.full(lay.sar.shape, np.nan, dtype=np.float32)
    for src, dst_arr, how in (
        (z, sar_dem, Resampling.bilinear),
        (g0_ext, sar_g0, Resampling.nearest),
    ):
        reproject(
            source=src,
            destination=dst_arr,
            src_transform=lay.ext.transform,
            src_crs=lay.ext.crs,
            dst_transform=lay.sar.transform,
            dst_crs=lay.sar.crs,
            resampling=how,
            dst_nodata=np.nan,
            num_threads=_workers(),
        )
    del z, g0_ext
    srng = _rng(seed, _RNG_SAR + 100)
    with _open_raster(
        out / SAR_NAME,
        lay.sar,
        dtype="float32",
        count=1,
        nodata=SAR_NODATA,
        block=block,
        descriptions=["VV"],
        units="dB",
    ) as dst:
        for row0 in range(0, lay.sar.height, block):
            row1 = min(row0 + block, lay.sar.height)
            rows = _sar_rows(srng, sar_dem, sar_g0, row0, row1, lay.sar)
            dst.write(rows, 1, window=Window(0, row0, lay.sar.width, row1 - row0))
    del sar_dem, sar_g0

    # vectors
    _write_json(
        out / BOUNDARY_NAME,
        _feature_collection([boundary], [{"huc12": HUC12, "name": WATERSHED_NAME}], to_geo),
    )
    d_left, d_bottom, d_right, d_top = lay.dem.bounds
    clip = box(d_left, d_bottom, d_right, d_top).buffer(-DEM_RES, join_style="mitre")
    lines: list[LineString] = []
    for s in streams:
        part = s.line.intersection(clip)
        for piece in getattr(part, "geoms", [part]):
            if isinstance(piece, LineString) and piece.length >= 200.0:
                lines.append(piece.simplify(2.0))
    _write_json(
        out / STREAMS_NAME,
        _feature_collection(lines, [{"kind": "stream"} for _ in lines], to_geo),
    )
    _write_json(
        out / WATERBODIES_NAME,
        _feature_collection([lake for lake, _ in lakes], [{"kind": "lake"} for _ in lakes], to_geo),
    )
    # blocks of a quarter of the area's side (3 km for the default 12 km), so that every
    # split gets blocks even on a small area
    return write_config(out, patch_size=patch_size, block_m=min(3000.0, size_km * 250.0))
