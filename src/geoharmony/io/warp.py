"""Warping: a source block onto a destination (reference) window; a raster onto any grid."""

from __future__ import annotations

from typing import Any

import numpy as np
from rasterio.warp import Resampling, reproject

from geoharmony.geometry.footprint import to_crs, window_polygons
from geoharmony.geometry.grid import Grid
from geoharmony.geometry.identity import IdentityCache
from geoharmony.geometry.sampling import (
    KERNELS,
    Positions,
    sample,
    sample_axes,
    source_positions,
)
from geoharmony.geometry.window import Window, Windows, subgrid, window_transform
from geoharmony.io.raster_info import RasterInfo
from geoharmony.io.reader import Block, RasterReader

#: Largest source pixels per destination pixel warped by :mod:`~geoharmony.geometry.sampling`
#: with the plain kernels; beyond it (downsampling) GDAL warps, widening its kernels.
MAX_SPAN = 1.01


def warp_window(
    block: Block,
    src: Grid,
    ref: Grid,
    window: Window,
    *,
    resampling: str,
    dtype: np.dtype,
    fill: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``block`` (read from ``src``) onto ``window`` of the reference grid ``ref``.

    ``nearest``, ``bilinear`` and ``cubic`` are sampled in numpy at each destination pixel
    centre's source position (:func:`~geoharmony.geometry.sampling.source_positions`,
    within 1e-3 source pixel of PROJ's exact answer; GDAL's approximate transformer
    allows 1/8), the same kernels and validity rule as :func:`warp_block`, without
    GDAL's fixed cost per call. ``average``, ``mode`` and downsampling beyond
    :data:`MAX_SPAN` go through GDAL (:func:`warp_block`).
    """
    if resampling in KERNELS:
        strips = _strips(window)
        parts = []
        for strip in strips:
            pos = source_positions(src, ref, strip)
            if resampling != "nearest" and pos.span > MAX_SPAN:
                break  # downsampling somewhere in the window: GDAL warps all of it
            part = block if len(strips) == 1 else _crop(block, pos)
            parts.append(_sample(part, pos, resampling))
        else:
            out = np.concatenate([p[0] for p in parts], axis=1)
            valid = np.concatenate([p[1] for p in parts], axis=0)
            return _cast(out, valid, dtype, fill), valid
    return warp_block(
        block, src, subgrid(ref, window), resampling=resampling, dtype=dtype, fill=fill
    )


#: Source pixels a kernel reaches beyond its position's pixel (cubic: 2), plus one.
_REACH = 3


def _crop(block: Block, pos: Positions) -> Block:
    """The part of ``block`` a strip's kernels can reach (a view; the same samples).

    Taps outside the original block stay outside the crop, so validity is unchanged; a
    region's large label window is warped strip by strip without each strip's kernel
    temporaries spanning the whole block.
    """
    ok = np.isfinite(pos.cols) & np.isfinite(pos.rows)
    if not ok.any():
        return block
    h, w = block.valid.shape
    c = pos.cols[ok] - block.col_off
    r = pos.rows[ok] - block.row_off
    c0 = int(np.clip(np.floor(c.min()) - _REACH, 0, w))
    c1 = int(np.clip(np.ceil(c.max()) + _REACH, c0, w))
    r0 = int(np.clip(np.floor(r.min()) - _REACH, 0, h))
    r1 = int(np.clip(np.ceil(r.max()) + _REACH, r0, h))
    return Block(
        block.col_off + c0,
        block.row_off + r0,
        block.data[:, r0:r1, c0:c1],
        block.valid[r0:r1, c0:c1],
    )


#: Destination pixels sampled at once (a region's label window is warped in strips of rows,
#: the float64 temporaries of a kernel being several times the window's size).
STRIP_PIXELS = 2**20


def _strips(window: Window) -> list[Window]:
    """``window`` cut into strips of whole rows of at most :data:`STRIP_PIXELS` pixels."""
    rows = max(STRIP_PIXELS // max(window.width, 1), 1)
    return [
        Window(window.col_off, window.row_off + r, window.width, min(rows, window.height - r))
        for r in range(0, window.height, rows)
    ]


def _sample(block: Block, pos: Positions, resampling: str) -> tuple[np.ndarray, np.ndarray]:
    """The kernel at ``pos`` on ``block``'s pixels: one axis at a time when it can."""
    if pos.axes is not None:
        return sample_axes(
            block.data,
            block.valid,
            pos.axes[0] - block.col_off,
            pos.axes[1] - block.row_off,
            resampling,
        )
    return sample(
        block.data, block.valid, pos.cols - block.col_off, pos.rows - block.row_off, resampling
    )


def _cast(out: np.ndarray, valid: np.ndarray, dtype: np.dtype, fill: float) -> np.ndarray:
    """Warped float64 values in ``dtype`` (integers rounded and clipped), ``fill`` where invalid."""
    if dtype.kind in "iu":
        np.rint(out, out=out)
        np.clip(out, *_float_bounds(dtype), out=out)
    if not valid.all():
        out[:, ~valid] = fill
    return out.astype(dtype)


def _float_bounds(dtype: np.dtype) -> tuple[float, float]:
    """The widest float64 range that casts into integer ``dtype`` without wrapping.

    ``float(2**63 - 1)`` rounds up to 2**63, which int64 cannot hold: step below it.
    """
    info = np.iinfo(dtype)
    lo, hi = float(info.min), float(info.max)
    if int(hi) > info.max:
        hi = float(np.nextafter(hi, -np.inf))
    if int(lo) < info.min:
        lo = float(np.nextafter(lo, np.inf))
    return lo, hi


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
    A block without invalid pixels skips that second warp (its result would be 1
    everywhere the data lands) and warps without a source nodata: one GDAL call.
    Returns ``(data (bands, h, w) in dtype, valid (h, w))``.
    """
    bands = block.data.shape[0]
    src_f = block.data.astype(np.float64)
    out = np.full((bands, dst.height, dst.width), np.nan, dtype=np.float64)
    src_transform = window_transform(src.transform, block.col_off, block.row_off)
    src_crs = _wkt(src.crs)
    if block.valid.all():
        # Every source pixel valid (the common case): the block, read with the kernel's
        # margin, holds every kernel whole, so the validity warp would be 1 wherever the
        # data warp lands; GDAL's kernel without a source nodata is also ~1.6x faster.
        _onto(src_f, out, src_transform, src_crs, dst, resampling, src_nodata=None)
        valid: np.ndarray = np.asarray(np.isfinite(out).all(axis=0))
    else:
        valid = _warp_with_support(block, src_f, out, src_transform, src_crs, dst, resampling)
    return _cast(out, valid, dtype, fill), valid


def _warp_with_support(
    block: Block,
    src_f: np.ndarray,
    out: np.ndarray,
    src_transform: Any,
    src_crs: str,
    dst: Grid,
    resampling: str,
) -> np.ndarray:
    """Warp ``src_f`` into ``out`` with NaN for invalid pixels; valid = whole kernel valid."""
    src_f[:, ~block.valid] = np.nan
    _onto(src_f, out, src_transform, src_crs, dst, resampling, src_nodata=np.nan)
    support = np.zeros((1, dst.height, dst.width), dtype=np.float64)
    ones = block.valid.astype(np.float64)[None]
    _onto(ones, support, src_transform, src_crs, dst, resampling, src_nodata=None, dst_nodata=None)
    return np.asarray(np.isfinite(out).all(axis=0) & (np.abs(support[0] - 1.0) <= 1e-6))


def _onto(
    source: np.ndarray,
    destination: np.ndarray,
    src_transform: Any,
    src_crs: str,
    dst: Grid,
    resampling: str,
    *,
    src_nodata: float | None,
    dst_nodata: float | None = np.nan,
) -> None:
    """One GDAL warp of ``source`` onto ``dst`` (``dst_nodata=None``: no initialisation)."""
    reproject(
        source=source,
        destination=destination,
        src_transform=src_transform,
        src_crs=src_crs,
        dst_transform=dst.transform,
        dst_crs=_wkt(dst.crs),
        resampling=Resampling[resampling],
        src_nodata=src_nodata,
        dst_nodata=dst_nodata,
        init_dest_nodata=dst_nodata is not None,
    )


_WKT: IdentityCache[str] = IdentityCache(256)


def _wkt(crs: Any) -> str:
    """WKT of a CRS object, computed once per object (every warp passes it to GDAL)."""
    return _WKT.get((crs,), lambda: str(crs.to_wkt()))


def covering_window(src: Grid, dst: Grid, *, margin: int = 1) -> Window | None:
    """The window of ``src`` that covers ``dst``'s ground, plus ``margin`` pixels.

    ``dst``'s edges are densified before transforming, so a rotated or curved outline is
    covered; the window is clipped to ``src`` (None when they do not overlap).
    """
    poly = window_polygons(
        dst, np.array([0]), np.array([0]), dst.width, dst.height, points_per_edge=21
    )
    xy = np.asarray(to_crs(poly, dst.crs, src.crs)[0].exterior.coords)
    ok = np.isfinite(xy).all(axis=1)
    if not ok.any():
        return None
    c, r = src.to_colrow(xy[ok, 0], xy[ok, 1])
    c0, r0 = int(np.floor(c.min())) - margin, int(np.floor(r.min())) - margin
    c1, r1 = int(np.ceil(c.max())) + margin, int(np.ceil(r.max())) + margin
    inner = Windows.of(c0, r0, c1 - c0, r1 - r0).clipped(src.width, src.height)
    return None if inner.empty[0] else inner[0]


def read_onto(
    info: RasterInfo, dst: Grid, *, resampling: str = "bilinear", oversample: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """A raster read decimated and warped onto ``dst`` (for display: figures, maps).

    The source is read at about ``oversample`` source pixels per destination pixel (GDAL
    decimation), with the same nodata and mask rules as every read, then warped with
    :func:`warp_block`. Returns ``data`` (bands, h, w) float64 with NaN where invalid, and
    ``valid`` (h, w).
    """
    out = np.full((len(info.bands), dst.height, dst.width), np.nan)
    win = covering_window(info.grid, dst)
    if win is None:
        return out, np.zeros((dst.height, dst.width), dtype=bool)
    step = max(1.0, max(win.width / dst.width, win.height / dst.height) / oversample)
    shape = (max(int(win.height / step), 1), max(int(win.width / step), 1))
    with RasterReader(info) as reader:
        block = reader.read_overview(win, shape)
    data, valid = warp_block(
        block,
        subgrid(info.grid, win, shape=shape),
        dst,
        resampling=resampling,
        dtype=np.dtype(np.float64),
        fill=np.nan,
    )
    return data, valid
