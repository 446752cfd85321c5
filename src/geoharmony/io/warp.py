"""Warping a source block onto a destination (reference) window."""

from __future__ import annotations

import numpy as np
from affine import Affine
from rasterio.warp import Resampling, reproject

from geoharmony.geometry.grid import Grid
from geoharmony.io.reader import Block


def warp_block(
    block: Block,
    src: Grid,
    dst: Grid,
    *,
    resampling: str,
    dtype: np.dtype,
    fill: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``block`` (read from ``src``) onto the whole of ``dst``.

    Invalid source pixels never contribute to data: they go through float64 with NaN as
    nodata, whatever the source's nodata. A destination pixel is valid only when *every*
    source pixel its kernel draws on is valid: the source validity (1/0) is warped with
    the same kernel and must come out as 1 (GDAL alone would renormalise the weights over
    the valid neighbours and call a pixel next to a hole or the raster's edge valid).
    Returns ``(data (bands, h, w) in dtype, valid (h, w))``.
    """
    bands = block.data.shape[0]
    src_f = block.data.astype(np.float64)
    src_f[:, ~block.valid] = np.nan
    out = np.full((bands, dst.height, dst.width), np.nan, dtype=np.float64)
    src_transform = src.transform @ Affine.translation(block.col_off, block.row_off)
    reproject(
        source=src_f,
        destination=out,
        src_transform=src_transform,
        src_crs=src.crs.to_wkt(),
        dst_transform=dst.transform,
        dst_crs=dst.crs.to_wkt(),
        resampling=Resampling[resampling],
        src_nodata=np.nan,
        dst_nodata=np.nan,
    )
    support = np.zeros((1, dst.height, dst.width), dtype=np.float64)
    reproject(
        source=block.valid.astype(np.float64)[None],
        destination=support,
        src_transform=src_transform,
        src_crs=src.crs.to_wkt(),
        dst_transform=dst.transform,
        dst_crs=dst.crs.to_wkt(),
        resampling=Resampling[resampling],
        src_nodata=None,
        dst_nodata=None,
        init_dest_nodata=False,
    )
    valid: np.ndarray = np.asarray(
        np.isfinite(out).all(axis=0) & (np.abs(support[0] - 1.0) <= 1e-6)
    )
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    out[:, ~valid] = fill
    return out.astype(dtype), valid
