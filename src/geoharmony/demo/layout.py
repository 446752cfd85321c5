"""The scene's fixed facts and grids: file names, CRSs, resolutions, nodata, RNG streams."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pyproj import Transformer
from rasterio.transform import Affine
from rasterio.warp import transform_bounds

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

# Named random streams, so changing one component does not reshuffle the others.
_RNG_TERRAIN, _RNG_STREAMS, _RNG_BOUNDARY, _RNG_LAKES, _RNG_HOLES = 1, 2, 3, 4, 5
_RNG_FIELDS, _RNG_TOWNS, _RNG_TEXTURE, _RNG_OPTICAL, _RNG_SAR = 6, 7, 8, 9, 10


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


# random fields
def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFF_FFFF_FFFF_FFFF, stream]))


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))
