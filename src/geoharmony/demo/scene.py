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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.warp import Resampling, reproject
from rasterio.windows import Window

from geoharmony.demo.fields import _upsample
from geoharmony.demo.landcover import _landcover
from geoharmony.demo.landsat import _landsat
from geoharmony.demo.layout import (
    _RNG_BOUNDARY,
    _RNG_HOLES,
    _RNG_LAKES,
    _RNG_SAR,
    _RNG_STREAMS,
    _RNG_TERRAIN,
    BAND_NAMES,
    BOUNDARY_NAME,
    COARSE,
    CONFIG_NAME,
    DEM_NAME,
    DEM_NODATA,
    OPTICAL_NAME,
    OPTICAL_NODATA,
    SAR_NAME,
    SAR_NODATA,
    STREAMS_NAME,
    THERMAL_NAME,
    THERMAL_NODATA,
    WATERBODIES_NAME,
    _Grid,
    _layout,
    _rng,
    _workers,
)
from geoharmony.demo.sar import _gamma0_db, _sar_rows
from geoharmony.demo.streams import _carve, _streams
from geoharmony.demo.terrain import _boundary, _burn, _dem_holes, _lakes, _terrain
from geoharmony.demo.vectors import write_vectors
from geoharmony.io.atomic import atomic_path, write_text_atomic

__all__ = ["RASTERS", "synthesize_study_area", "write_config"]


#: Each raster file: dtype, nodata, band descriptions, units.
RASTERS: dict[str, tuple[str, float, tuple[str, ...], str]] = {
    DEM_NAME: ("float32", DEM_NODATA, ("elevation",), "m"),
    OPTICAL_NAME: ("uint16", OPTICAL_NODATA, BAND_NAMES, "DN"),
    THERMAL_NAME: ("float32", THERMAL_NODATA, ("lst",), "K"),
    SAR_NAME: ("float32", SAR_NODATA, ("VV",), "dB"),
}


@contextmanager
def _open_raster(path: Path, grid: _Grid, block: int) -> Iterator[Any]:
    """A tiled, DEFLATE-compressed GeoTIFF of :data:`RASTERS`, open for writing.

    It appears at ``path`` only once closed without error.
    """
    dtype, nodata, descriptions, units = RASTERS[path.name]
    profile = {
        "driver": "GTiff",
        "dtype": dtype,
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
        "compress": "deflate",
        "predictor": 2 if dtype.startswith(("uint", "int")) else 3,
        "zlevel": 6,
        "num_threads": str(_workers()),
        "bigtiff": "if_safer",
        "width": grid.width,
        "height": grid.height,
        "count": len(descriptions),
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": nodata,
    }
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        for i, desc in enumerate(descriptions, start=1):
            dst.set_band_description(i, desc)
            dst.set_band_unit(i, units)
        yield dst


def _write_raster(path: Path, grid: _Grid, data: np.ndarray, block: int) -> None:
    """Write a whole raster of :data:`RASTERS` (2-D: its one band)."""
    with _open_raster(path, grid, block) as dst:
        if data.ndim == 2:
            dst.write(data, 1)
        else:
            dst.write(data)


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
    write_text_atomic(path, text)
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
    _write_raster(out / DEM_NAME, lay.dem, dem, block)
    del dem

    # land cover, Landsat
    cover = _landcover(seed, lay, streams, lakes, dist_c, carved_c)
    del dist_c, carved_c
    dn, lst = _landsat(seed, lay, z, cover)
    _write_raster(out / OPTICAL_NAME, lay.landsat, dn, block)
    _write_raster(out / THERMAL_NAME, lay.landsat, lst, block)
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
    with _open_raster(out / SAR_NAME, lay.sar, block) as dst:
        for row0 in range(0, lay.sar.height, block):
            row1 = min(row0 + block, lay.sar.height)
            rows = _sar_rows(srng, sar_dem, sar_g0, row0, row1, lay.sar)
            dst.write(rows, 1, window=Window(0, row0, lay.sar.width, row1 - row0))
    del sar_dem, sar_g0

    write_vectors(out, lay, boundary, streams, lakes)
    return write_config(out, patch_size=patch_size)
