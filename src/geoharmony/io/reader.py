"""Windowed reads: each raster opened once per worker, edges filled, validity masks.

The windows of one task are read together, block-aware:
:func:`geoharmony.geometry.window.block_cover` rounds them out to block-aligned
rectangles that cover every source block a window touches, each block exactly once
(runs of needed blocks along a block row, merged with identical runs of the next block
rows). Each rectangle is decoded by one plain GDAL read, its validity is
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

from geoharmony.geometry.window import Window, Windows, block_cover
from geoharmony.io.raster_info import RasterInfo

IntArray = np.ndarray


@dataclass(frozen=True, slots=True)
class Block:
    """Pixels read from a raster: ``data`` (bands, h, w) at ``(col_off, row_off)``."""

    col_off: int
    row_off: int
    data: np.ndarray
    valid: np.ndarray  # (h, w) bool


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
) -> list[Window]:
    """The block-aligned rectangles to decode for these windows, as a list.

    See :func:`geoharmony.geometry.window.block_cover`.

    Examples
    --------
    >>> plan_reads(np.array([0, 300]), np.array([0, 0]), np.array([10, 10]),
    ...            np.array([10, 10]), raster_width=1000, raster_height=1000,
    ...            block_width=256, block_height=256)
    [Window(col_off=0, row_off=0, width=512, height=256)]
    """
    return list(
        block_cover(
            Windows.of(col_off, row_off, width, height),
            raster_width=raster_width,
            raster_height=raster_height,
            block_width=block_width,
            block_height=block_height,
        )
    )


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
        for band in data:
            if self._check_nan:
                valid &= band == band  # False only for NaN
            if self._nodata is not None:
                valid &= band != self._nodata
        if self.info.has_internal_mask:
            mask = self.ds.read_masks(self.bands[0], window=win, out_shape=data.shape[1:])
            valid &= mask > 0
        return valid

    def read_block(self, col_off: int, row_off: int, width: int, height: int) -> Block:
        """Read a rectangle, filling what lies outside the raster (valid = False there)."""
        return self.read_windows(Windows.of(col_off, row_off, width, height))[0]

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
        _, _, h, w = data.shape
        self._read_windows(Windows.of(col_off, row_off, w, h), list(data), list(valid))

    def read_group(
        self, col_off: IntArray, row_off: IntArray, width: IntArray, height: IntArray
    ) -> list[Block]:
        """Read many windows (any sizes), decoding each source block they share once."""
        return self.read_windows(Windows.of(col_off, row_off, width, height))

    def read_windows(self, windows: Windows) -> list[Block]:
        """Read many windows (any sizes), decoding each source block they share once."""
        datas = [
            np.empty((len(self.bands), int(h), int(w)), dtype=self.dtype)
            for w, h in zip(windows.width, windows.height, strict=True)
        ]
        valids = [np.empty(d.shape[1:], dtype=bool) for d in datas]
        self._read_windows(windows, datas, valids)
        return [
            Block(int(c), int(r), d, v)
            for c, r, d, v in zip(windows.col_off, windows.row_off, datas, valids, strict=True)
        ]

    def read_overview(self, window: Window, shape: tuple[int, int]) -> Block:
        """The in-raster part of ``window`` read decimated to ``shape`` = ``(height, width)``.

        For display only (GDAL averages nothing: nearest decimation); ``valid`` follows
        the same rules as full-resolution reads. The block's pixels are those of
        ``subgrid(grid, window, shape=shape)``; ``window`` must lie inside the raster.
        """
        if not Windows.from_window(window).inside(self.ds.width, self.ds.height).all():
            raise ValueError(f"{self.info.path}: {window} reaches past the raster")
        h, w = int(shape[0]), int(shape[1])
        win = RioWindow(window.col_off, window.row_off, window.width, window.height)
        arr = self.ds.read(self.bands, window=win, out_shape=(len(self.bands), h, w))
        return Block(0, 0, arr, self._valid(arr, win))

    def _read_windows(
        self, ws: Windows, datas: Sequence[np.ndarray], valids: Sequence[np.ndarray]
    ) -> None:
        """Fill ``datas[k]``/``valids[k]`` with window ``k`` (see module docstring)."""
        if len(ws) == 0:
            return
        W, H = self.ds.width, self.ds.height
        # Windows not wholly inside the raster: fill first (invalid), then paste the part
        # inside. Windows wholly inside are covered entirely by the rectangles.
        for k in np.flatnonzero(~ws.inside(W, H)).tolist():
            datas[k][...] = self.fill
            valids[k][...] = False
        rects = block_cover(
            ws,
            raster_width=W,
            raster_height=H,
            block_width=self.block_width,
            block_height=self.block_height,
        )
        for rect in rects:
            part = ws.intersect(Windows.from_window(rect))
            hits = np.flatnonzero(~part.empty)
            if len(hits) == 0:  # pragma: no cover - every rectangle is needed by a window
                continue
            win = RioWindow(rect.col_off, rect.row_off, rect.width, rect.height)
            arr = self.ds.read(self.bands, window=win)
            ok = self._valid(arr, win)
            part = part[hits]
            src = part.shifted(-rect.col_off, -rect.row_off)  # in the rectangle's pixels
            dst = part.relative_to(ws[hits])  # in each window's pixels
            for k, sc, sr, dc, dr, w, h in zip(
                hits.tolist(),
                src.col_off.tolist(),
                src.row_off.tolist(),
                dst.col_off.tolist(),
                dst.row_off.tolist(),
                part.width.tolist(),
                part.height.tolist(),
                strict=True,
            ):
                datas[k][:, dr : dr + h, dc : dc + w] = arr[:, sr : sr + h, sc : sc + w]
                valids[k][dr : dr + h, dc : dc + w] = ok[sr : sr + h, sc : sc + w]
