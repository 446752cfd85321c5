"""C-band VV backscatter on the Albers grid: per-class gamma-nought, terrain, speckle."""

from __future__ import annotations

import math

import numpy as np

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
from geoharmony.demo.layout import _RNG_SAR, F32, _Grid, _rng

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

SAR_ENL = 4.0
SAR_LOOK_AZIMUTH_DEG = 78.0  # ascending pass, right-looking: looks east-north-east


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
