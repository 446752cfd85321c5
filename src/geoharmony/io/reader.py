"""Windowed reads: each raster opened once per worker, edges filled, validity masks.

The windows of one task are read together, block-aware: :func:`plan_reads` turns them
into block-aligned rectangles that cover every source block a window touches, each block
exactly once (runs of needed blocks along a block row, merged with identical runs of the
next block rows). Each rectangle is decoded by one plain GDAL read, its validity is
computed once, and every window is assembled from the rectangles it overlaps with numpy
slice copies (no Python work per pixel). So each DEFLATE block of a task is decoded once
however many windows share it (a 30 m window of 224 px shares its blocks with ~9 others),
no block that no window needs is decoded, and memory is bounded by the blocks the task
needs, not by the raster nor by the task's bounding box.

Only plain (not ``boundless``) reads: rasterio builds a VRT for every boundless read,
which is ~10x slower; what lies outside the raster is filled here with the raster's
nodata value (0 where it has none) and marked invalid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.windows import Window as RioWindow

from geoharmony.io.raster_info import RasterInfo

IntArray = np.ndarray


@dataclass(frozen=True, slots=True)
class Block:
    """Pixels read from a raster: ``data`` (bands, h, w) at ``(col_off, row_off)``."""

    col_off: int
    row_off: int
    data: np.ndarray
    valid: np.ndarray  # (h, w) bool


@dataclass(frozen=True, slots=True)
class ReadRect:
    """A block-aligned rectangle of a raster (clipped to its extent), read in one call."""

    col_off: int
    row_off: int
    width: int
    height: int


def plan_reads(
    col_off: IntArray,
    row_off: IntArray,
    width: IntArray,
    height: IntArray,
    *,
    raster_width: int,
    raster_height: int,
    block_width: int,
    block_height: int,
) -> list[ReadRect]:
    """Block-aligned rectangles covering every source block the windows touch, once each.

    Parameters
    ----------
    col_off, row_off, width, height
        The windows (pixels; they may reach past the raster's edges).
    raster_width, raster_height
        Raster size in pixels.
    block_width, block_height
        The raster's block (tile or strip) size.

    Returns
    -------
    list of ReadRect
        Disjoint rectangles, clipped to the raster, whose union is exactly the set of
        blocks intersected by the in-raster part of some window. Runs of consecutive
        needed blocks along a block row are merged with identical runs of the following
        block rows, so a compact group of windows is usually one rectangle.

    Examples
    --------
    >>> plan_reads(np.array([0, 300]), np.array([0, 0]), np.array([10, 10]),
    ...            np.array([10, 10]), raster_width=1000, raster_height=1000,
    ...            block_width=256, block_height=256)
    [ReadRect(col_off=0, row_off=0, width=512, height=256)]
    """
    c0 = np.clip(np.asarray(col_off, dtype=np.int64), 0, raster_width)
    r0 = np.clip(np.asarray(row_off, dtype=np.int64), 0, raster_height)
    c1 = np.clip(np.asarray(col_off, dtype=np.int64) + width, 0, raster_width)
    r1 = np.clip(np.asarray(row_off, dtype=np.int64) + height, 0, raster_height)
    inside = (c1 > c0) & (r1 > r0)
    if not inside.any():
        return []
    bc0, bc1 = c0[inside] // block_width, (c1[inside] - 1) // block_width
    br0, br1 = r0[inside] // block_height, (r1[inside] - 1) // block_height
    ncol = bc1 - bc0 + 1
    nrow = br1 - br0 + 1
    per = ncol * nrow
    # Enumerate every (block row, block col) touched, vectorised over windows.
    owner = np.repeat(np.arange(len(per)), per)
    k = np.arange(int(per.sum())) - np.repeat(np.cumsum(per) - per, per)
    rows = br0[owner] + k // ncol[owner]
    cols = bc0[owner] + k % ncol[owner]
    n_bcols = -(-raster_width // block_width)
    keys = np.unique(rows * n_bcols + cols)
    rows, cols = keys // n_bcols, keys % n_bcols
    # Runs of consecutive blocks along each block row.
    brk = np.flatnonzero((np.diff(rows) != 0) | (np.diff(cols) != 1)) + 1
    starts = np.r_[0, brk]
    stops = np.r_[brk, len(keys)]
    run_row = rows[starts].tolist()
    run_c0 = cols[starts].tolist()
    run_c1 = (cols[stops - 1] + 1).tolist()
    # Merge a run with the identical run of the block row just above it.
    open_rects: dict[tuple[int, int], list[int]] = {}  # (c0, c1) -> [row0, row1]
    done: list[tuple[int, int, int, int]] = []
    for r, a, b in zip(run_row, run_c0, run_c1, strict=True):
        cur = open_rects.get((a, b))
        if cur is not None and cur[1] == r:
            cur[1] = r + 1
            continue
        if cur is not None:
            done.append((a, b, cur[0], cur[1]))
        open_rects[(a, b)] = [r, r + 1]
    done.extend((a, b, v[0], v[1]) for (a, b), v in open_rects.items())
    out = []
    for a, b, ra, rb in sorted(done, key=lambda t: (t[2], t[0])):
        x0, y0 = a * block_width, ra * block_height
        x1 = min(b * block_width, raster_width)
        y1 = min(rb * block_height, raster_height)
        out.append(ReadRect(x0, y0, x1 - x0, y1 - y0))
    return out


class RasterReader:
    """An open raster with the reads geoharmony needs. Open once, read many windows."""

    def __init__(self, info: RasterInfo) -> None:
        self.info = info
        self.ds = rasterio.open(info.path)
        self.bands = list(info.bands)
        self.dtype = np.dtype(info.dtype)
        self.fill = np.array(info.fill_value).astype(self.dtype)
        bh, bw = self.ds.block_shapes[self.bands[0] - 1]
        self.block_height, self.block_width = int(bh), int(bw)
        nod = info.nodata
        self._nodata = None if nod is None or np.isnan(nod) else np.array(nod).astype(self.dtype)
        # bands whose nodata values differ: each band masked with its own value
        per = info.band_nodata
        self._band_nodata = (
            None
            if per is None
            else [None if v is None or np.isnan(v) else np.array(v).astype(self.dtype) for v in per]
        )
        if per is not None:
            fills = [0.0 if v is None or np.isnan(v) else v for v in per]
            self.fill = np.array(fills).astype(self.dtype)[:, None, None]
        self._check_nan = self.dtype.kind == "f"

    def close(self) -> None:
        """Close the dataset."""
        self.ds.close()

    def __enter__(self) -> RasterReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- masks ---------------------------------------------------------------------------
    def _valid(self, data: np.ndarray, win: RioWindow) -> np.ndarray:
        """Valid where every selected band is neither nodata nor NaN (and the mask says so)."""
        valid = np.ones(data.shape[1:], dtype=bool)
        for k, band in enumerate(data):
            if self._check_nan:
                valid &= band == band  # False only for NaN
            nod = self._nodata if self._band_nodata is None else self._band_nodata[k]
            if nod is not None:
                valid &= band != nod
        if self.info.has_internal_mask:
            valid &= self.ds.read_masks(self.bands[0], window=win) > 0
        return valid

    def read_block(self, col_off: int, row_off: int, width: int, height: int) -> Block:
        """Read a rectangle, filling what lies outside the raster (valid = False there)."""
        data = np.empty((len(self.bands), height, width), dtype=self.dtype)
        valid = np.empty((height, width), dtype=bool)
        self._read_windows(
            np.array([col_off]),
            np.array([row_off]),
            np.array([width]),
            np.array([height]),
            [data],
            [valid],
        )
        return Block(col_off, row_off, data, valid)

    def read_into(
        self,
        col_off: IntArray,
        row_off: IntArray,
        data: np.ndarray,
        valid: np.ndarray,
    ) -> None:
        """Read equal-sized windows straight into preallocated patch arrays.

        Parameters
        ----------
        col_off, row_off
            Window offsets (n,); the window size is ``data.shape[-2:]``.
        data
            ``(n, bands, height, width)`` array of the raster's dtype, written in place.
        valid
            ``(n, height, width)`` bool array, written in place.
        """
        n, _, h, w = data.shape
        self._read_windows(
            np.asarray(col_off),
            np.asarray(row_off),
            np.full(n, w),
            np.full(n, h),
            list(data),
            list(valid),
        )

    def read_group(
        self, col_off: IntArray, row_off: IntArray, width: IntArray, height: IntArray
    ) -> list[Block]:
        """Read many windows (any sizes), decoding each source block they share once."""
        datas = [
            np.empty((len(self.bands), int(h), int(w)), dtype=self.dtype)
            for w, h in zip(width, height, strict=True)
        ]
        valids = [np.empty(d.shape[1:], dtype=bool) for d in datas]
        self._read_windows(
            np.asarray(col_off),
            np.asarray(row_off),
            np.asarray(width),
            np.asarray(height),
            datas,
            valids,
        )
        return [
            Block(int(c), int(r), d, v)
            for c, r, d, v in zip(col_off, row_off, datas, valids, strict=True)
        ]

    def _read_windows(
        self,
        col_off: IntArray,
        row_off: IntArray,
        width: IntArray,
        height: IntArray,
        datas: Sequence[np.ndarray],
        valids: Sequence[np.ndarray],
    ) -> None:
        """Windows of the north-up grid: flipped rasters read mirrored windows, then flip.

        A south-up (or east-west mirrored) file's window ``(col, row)`` on the north-up
        grid is the file's window ending at ``height - row`` (``width - col``); its rows
        (columns) are reversed in place, so every stored patch has row 0 north. Exact.
        """
        flip_cols, flip_rows = self.info.flip
        if not (flip_cols or flip_rows):
            self._read_file_windows(col_off, row_off, width, height, datas, valids)
            return
        W, H = self.ds.width, self.ds.height
        c = W - np.asarray(col_off) - np.asarray(width) if flip_cols else np.asarray(col_off)
        r = H - np.asarray(row_off) - np.asarray(height) if flip_rows else np.asarray(row_off)
        self._read_file_windows(c, r, width, height, datas, valids)
        for d, v in zip(datas, valids, strict=True):
            if flip_rows:
                d[...] = d[:, ::-1, :].copy()
                v[...] = v[::-1, :].copy()
            if flip_cols:
                d[...] = d[:, :, ::-1].copy()
                v[...] = v[:, ::-1].copy()

    def _read_file_windows(
        self,
        col_off: IntArray,
        row_off: IntArray,
        width: IntArray,
        height: IntArray,
        datas: Sequence[np.ndarray],
        valids: Sequence[np.ndarray],
    ) -> None:
        """Fill ``datas[k]``/``valids[k]`` with file window ``k`` (see module docstring)."""
        if len(col_off) == 0:
            return
        W, H = self.ds.width, self.ds.height
        col_off = col_off.astype(np.int64)
        row_off = row_off.astype(np.int64)
        c1 = col_off + width
        r1 = row_off + height
        # Windows not wholly inside the raster: fill first (invalid), then paste the part
        # inside. Windows wholly inside are covered entirely by the rectangles.
        partial = (col_off < 0) | (row_off < 0) | (c1 > W) | (r1 > H)
        for k in np.flatnonzero(partial).tolist():
            datas[k][...] = self.fill
            valids[k][...] = False
        rects = plan_reads(
            col_off,
            row_off,
            width,
            height,
            raster_width=W,
            raster_height=H,
            block_width=self.block_width,
            block_height=self.block_height,
        )
        for rect in rects:
            x0, y0 = rect.col_off, rect.row_off
            x1, y1 = x0 + rect.width, y0 + rect.height
            ix0 = np.maximum(col_off, x0)
            iy0 = np.maximum(row_off, y0)
            ix1 = np.minimum(c1, x1)
            iy1 = np.minimum(r1, y1)
            hits = np.flatnonzero((ix1 > ix0) & (iy1 > iy0))
            if len(hits) == 0:  # pragma: no cover - every rectangle is needed by a window
                continue
            win = RioWindow(x0, y0, rect.width, rect.height)
            arr = self.ds.read(self.bands, window=win)
            ok = self._valid(arr, win)
            for k in hits.tolist():
                sx0, sy0 = int(ix0[k]) - x0, int(iy0[k]) - y0
                sx1, sy1 = int(ix1[k]) - x0, int(iy1[k]) - y0
                dx0, dy0 = int(ix0[k] - col_off[k]), int(iy0[k] - row_off[k])
                dx1, dy1 = dx0 + (sx1 - sx0), dy0 + (sy1 - sy0)
                datas[k][:, dy0:dy1, dx0:dx1] = arr[:, sy0:sy1, sx0:sx1]
                valids[k][dy0:dy1, dx0:dx1] = ok[sy0:sy1, sx0:sx1]
