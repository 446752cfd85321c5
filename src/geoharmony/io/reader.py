"""Windowed reads: each raster opened once per worker, edges filled, validity masks.

Windows of one task are read together: when their union is compact (the usual case: a
task is a spatial tile of patches), the union is read in one call, so every source block
is decoded once, and patches are sliced from it. Plain (not ``boundless``) reads only:
rasterio builds a VRT for every boundless read, which is 10x slower; edges are filled
here instead with the raster's nodata value (0 where it has none).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.windows import Window as RioWindow

from geoharmony.io.raster_info import RasterInfo

#: Read the union of a group's windows when it is at most this many times their summed area.
UNION_FACTOR = 2.5
#: ... and at most this many pixels (bounds a task's memory whatever the raster size).
UNION_MAX_PIXELS = 64_000_000


@dataclass(frozen=True, slots=True)
class Block:
    """Pixels read from a raster: ``data`` (bands, h, w) at ``(col_off, row_off)``."""

    col_off: int
    row_off: int
    data: np.ndarray
    valid: np.ndarray  # (h, w) bool


class RasterReader:
    """An open raster with the reads geoharmony needs. Open once, read many windows."""

    def __init__(self, info: RasterInfo) -> None:
        self.info = info
        self.ds = rasterio.open(info.path)
        self.bands = list(info.bands)
        self.dtype = np.dtype(info.dtype)
        self.fill = np.array(info.fill_value).astype(self.dtype)

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
        nod = self.info.nodata
        if self.dtype.kind == "f":
            valid &= ~np.isnan(data).any(axis=0)
        if nod is not None and not np.isnan(nod):
            valid &= ~(data == np.array(nod).astype(self.dtype)).any(axis=0)
        if self.info.has_internal_mask:
            valid &= self.ds.read_masks(self.bands[0], window=win) > 0
        return valid

    def read_block(self, col_off: int, row_off: int, width: int, height: int) -> Block:
        """Read a rectangle, filling what lies outside the raster (valid = False there)."""
        data = np.empty((len(self.bands), height, width), dtype=self.dtype)
        data[...] = self.fill
        valid = np.zeros((height, width), dtype=bool)
        c0, r0 = max(col_off, 0), max(row_off, 0)
        c1 = min(col_off + width, self.ds.width)
        r1 = min(row_off + height, self.ds.height)
        if c1 > c0 and r1 > r0:
            win = RioWindow(c0, r0, c1 - c0, r1 - r0)
            part = self.ds.read(self.bands, window=win)
            ys = slice(r0 - row_off, r1 - row_off)
            xs = slice(c0 - col_off, c1 - col_off)
            data[:, ys, xs] = part
            valid[ys, xs] = self._valid(part, win)
        return Block(col_off, row_off, data, valid)

    def read_group(
        self, col_off: np.ndarray, row_off: np.ndarray, width: np.ndarray, height: np.ndarray
    ) -> list[Block]:
        """Read many windows, decoding shared source blocks once when they are compact."""
        n = len(col_off)
        if n == 0:
            return []
        W, H = self.ds.width, self.ds.height
        cc0 = np.clip(col_off, 0, W)
        rr0 = np.clip(row_off, 0, H)
        cc1 = np.clip(col_off + width, 0, W)
        rr1 = np.clip(row_off + height, 0, H)
        inside = (cc1 > cc0) & (rr1 > rr0)
        if n > 1 and inside.any():
            u0c, u0r = int(cc0[inside].min()), int(rr0[inside].min())
            u1c, u1r = int(cc1[inside].max()), int(rr1[inside].max())
            union = (u1c - u0c) * (u1r - u0r)
            summed = float(((cc1 - cc0) * (rr1 - rr0))[inside].sum())
            if union <= UNION_FACTOR * summed and union <= UNION_MAX_PIXELS:
                sup = self.read_block(u0c, u0r, u1c - u0c, u1r - u0r)
                return [
                    _slice(sup, int(c), int(r), int(w), int(h), self.fill)
                    for c, r, w, h in zip(col_off, row_off, width, height, strict=True)
                ]
        return [
            self.read_block(int(c), int(r), int(w), int(h))
            for c, r, w, h in zip(col_off, row_off, width, height, strict=True)
        ]


def _slice(sup: Block, col_off: int, row_off: int, width: int, height: int, fill: np.ndarray) -> Block:
    """Cut a window out of a block that covers its in-raster part; fill the rest."""
    bands, bh, bw = sup.data.shape
    c0, r0 = col_off - sup.col_off, row_off - sup.row_off
    sc0, sr0 = max(c0, 0), max(r0, 0)
    sc1, sr1 = min(c0 + width, bw), min(r0 + height, bh)
    if sc0 == c0 and sr0 == r0 and sc1 - sc0 == width and sr1 - sr0 == height:
        return Block(col_off, row_off, sup.data[:, sr0:sr1, sc0:sc1], sup.valid[sr0:sr1, sc0:sc1])
    data = np.empty((bands, height, width), dtype=sup.data.dtype)
    data[...] = fill
    valid = np.zeros((height, width), dtype=bool)
    if sc1 > sc0 and sr1 > sr0:
        ys = slice(sr0 - r0, sr1 - r0)
        xs = slice(sc0 - c0, sc1 - c0)
        data[:, ys, xs] = sup.data[:, sr0:sr1, sc0:sc1]
        valid[ys, xs] = sup.valid[sr0:sr1, sc0:sc1]
    return Block(col_off, row_off, data, valid)
