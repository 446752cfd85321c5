"""Landsat-like optical (6 bands, surface reflectance DN) and thermal (LST) at 30 m."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from rasterio.warp import Resampling, reproject
from scipy import ndimage

from geoharmony.demo.landcover import (
    BARE,
    CORN,
    FOREST,
    GRASS,
    N_CLASSES,
    ROAD,
    SOY,
    URBAN,
    WATER,
    _Cover,
)
from geoharmony.demo.layout import _RNG_OPTICAL, F32, _Grid, _Layout, _rng, _workers

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
SUN_ZENITH_DEG = 28.0
SUN_AZIMUTH_DEG = 130.0


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
