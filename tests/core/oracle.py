"""An independent oracle for windows, reads and masks (used by core and real-data tests).

Nothing here imports geoharmony: the nearest-centre rule, the boundless read and the
validity mask are re-derived from the contract with pyproj, numpy and plain rasterio.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.windows import Window


def inverse(t: Affine, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """CRS ``(x, y)`` to fractional pixel ``(col, row)`` by solving the 2x2 system."""
    m = np.array([[t.a, t.b], [t.d, t.e]], dtype=float)
    rhs = np.stack([np.asarray(x, float).ravel() - t.c, np.asarray(y, float).ravel() - t.f])
    col, row = np.linalg.solve(m, rhs)
    return col, row


def forward(t: Affine, col: Any, row: Any) -> tuple[np.ndarray, np.ndarray]:
    """Pixel ``(col, row)`` to CRS ``(x, y)``."""
    col, row = np.asarray(col, float), np.asarray(row, float)
    return t.a * col + t.b * row + t.c, t.d * col + t.e * row + t.f


@lru_cache(maxsize=64)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


def transform(src: Any, dst: Any, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Points from ``src`` to ``dst`` CRS (always x/y order)."""
    key = [c.to_wkt() if isinstance(c, CRS) else str(c) for c in (src, dst)]
    tr = _transformer(*key)
    tx, ty = tr.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(tx, float), np.asarray(ty, float)


def round_half_up(v: np.ndarray) -> np.ndarray:
    """``round-half-up``: the nearest integer, ties towards +inf."""
    return np.floor(np.asarray(v, float) + 0.5).astype(np.int64)


def lattice_centres(
    ref_t: Affine, i: np.ndarray, j: np.ndarray, patch: int, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    """Reference-CRS centres of lattice points (the reference window at (j*s, i*s))."""
    return forward(ref_t, np.asarray(j) * stride + patch / 2, np.asarray(i) * stride + patch / 2)


@dataclass
class Source:
    """One raster opened for oracle reads."""

    path: Path
    bands: list[int] | None = None
    nodata: float | None = None  # override; None: the file's

    def __post_init__(self) -> None:
        self.ds = rasterio.open(self.path)
        self.crs = CRS.from_wkt(self.ds.crs.to_wkt())
        self.t: Affine = self.ds.transform
        # issue 9: a south-up file is stored north-up; the oracle reads it that way
        self.flip_rows = self.t.b == 0 and self.t.d == 0 and self.t.e > 0
        if self.flip_rows:
            self.t = Affine(
                self.t.a, 0, self.t.c, 0, -self.t.e, self.t.f + self.t.e * self.ds.height
            )
        self.idx = self.bands or list(range(1, self.ds.count + 1))
        self.nod = self.ds.nodata if self.nodata is None else self.nodata
        self.dtype = np.dtype(self.ds.dtypes[self.idx[0] - 1])

    def close(self) -> None:
        self.ds.close()

    def windows(self, x: Any, y: Any, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Nearest-centre window offsets for centres in this raster's CRS."""
        col, row = inverse(self.t, x, y)
        return round_half_up(col - w / 2), round_half_up(row - h / 2)

    def inside(self, col_off: int, row_off: int, w: int, h: int) -> np.ndarray:
        """(h, w) mask of the window's pixels that lie on the raster."""
        rows = np.arange(row_off, row_off + h)
        cols = np.arange(col_off, col_off + w)
        return ((rows >= 0) & (rows < self.ds.height))[:, None] & (
            (cols >= 0) & (cols < self.ds.width)
        )[None, :]

    def read(self, col_off: int, row_off: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Boundless read filled with nodata (or 0), and the validity mask."""
        fill = 0 if self.nod is None else self.nod
        inside = self.inside(col_off, row_off, w, h)
        r0, r1 = max(0, -row_off), min(h, self.ds.height - row_off)
        c0, c1 = max(0, -col_off), min(w, self.ds.width - col_off)
        if self.flip_rows:  # the file's rows, bottom up
            data = self.ds.read(
                self.idx,
                window=Window(int(col_off), int(self.ds.height - row_off - h), w, h),
                boundless=True,
                fill_value=fill,
            )[:, ::-1, :]
        elif self.t.b == 0 and self.t.d == 0:
            data = self.ds.read(
                self.idx,
                window=Window(int(col_off), int(row_off), w, h),
                boundless=True,
                fill_value=fill,
            )
        else:
            # rasterio's boundless read goes through a VRT that mis-places rotated grids
            # (it returns the wrong pixels), so read the in-raster part and fill by hand.
            data = np.full((len(self.idx), h, w), fill, dtype=self.dtype)
            if r1 > r0 and c1 > c0:
                win = Window(col_off + c0, row_off + r0, c1 - c0, r1 - r0)
                data[:, r0:r1, c0:c1] = self.ds.read(self.idx, window=win)
        valid = inside.copy()
        if self.dtype.kind == "f":
            valid &= ~np.isnan(data).any(axis=0)
        if self.nod is not None and not np.isnan(self.nod):
            valid &= ~(data == np.array(self.nod).astype(self.dtype)).any(axis=0)
        # outside the raster the data must be the fill value
        expect_fill = np.array(fill).astype(self.dtype)
        out = data[:, ~inside]
        assert np.all((out == expect_fill) | (np.isnan(out) if self.dtype.kind == "f" else False))
        return data, valid


def central(data: np.ndarray, valid: np.ndarray) -> tuple[float, float] | None:
    """Mean of the central 2x2 / 2x1 / 1x1 pixels of bands 1, 2 (None when not all valid)."""
    h, w = valid.shape
    cs = [w // 2 - 1, w // 2] if w % 2 == 0 else [w // 2]
    rs = [h // 2 - 1, h // 2] if h % 2 == 0 else [h // 2]
    sel = np.ix_(rs, cs)
    if not valid[sel].all():
        return None
    return float(data[0][sel].mean()), float(data[1][sel].mean())


def equal_data(a: np.ndarray, b: np.ndarray) -> bool:
    """Exact equality, NaN equal to NaN, dtype included."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
