"""Windows: the one vocabulary of pixel rectangles, scalar and array-based.

A window is a rectangle of a raster's pixels, ``(col_off, row_off, width, height)``, in
rasterio's convention: ``(col, row)`` with integers on pixel *edges*, so a window of
``width`` pixels at ``col_off`` has its centre at ``col_off + width / 2``. Offsets may be
negative or reach past the raster (the lattice is unbounded; missing data shows in masks).

* :class:`Window` is one rectangle; :class:`Windows` is N of them as int64 arrays, with
  pure vectorised operations (shift, grow, clip, intersect, centres).
* :func:`subgrid` is the grid *of* a window (odc-geo's ``GeoBox[roi]``): same CRS, the
  window's origin composed into the transform, the window's size. Every window
  sub-transform in geoharmony is composed here.
* :func:`block_cover` rounds windows out to a raster's blocks: the disjoint, block-aligned
  rectangles that decode every needed block exactly once.
* :func:`nearest_windows` is the alignment rule (contract, "Alignment"): for a patch
  centre, the window of the requested size whose centre is nearest on the raster's own
  lattice; the nearest integer ``col_off`` to ``col - width / 2`` leaves a residual of at
  most half a pixel.

Orientation: a window's pixel axes are its raster's (column ``+1`` is the grid's
``transform`` column step, row ``+1`` its row step); :func:`pixel_axes` names them on the
ground. Nothing here flips or rotates pixels.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine

from geoharmony.geometry.grid import Grid, _geod, _unit_factor


@dataclass(frozen=True, slots=True)
class Window:
    """A pixel rectangle of a raster (offsets may be negative or past the edge)."""

    col_off: int
    row_off: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"Window size must be positive, got {self.width} x {self.height}")

    def intersection(self, width: int, height: int) -> Window | None:
        """Part of this window inside a ``width`` x ``height`` raster, or None."""
        c0, r0 = max(self.col_off, 0), max(self.row_off, 0)
        c1 = min(self.col_off + self.width, width)
        r1 = min(self.row_off + self.height, height)
        if c1 <= c0 or r1 <= r0:
            return None
        return Window(c0, r0, c1 - c0, r1 - r0)

    def is_inside(self, width: int, height: int) -> bool:
        """True when the window lies entirely within a ``width`` x ``height`` raster."""
        return (
            self.col_off >= 0
            and self.row_off >= 0
            and self.col_off + self.width <= width
            and self.row_off + self.height <= height
        )


def _ints(v: Any, n: int | None = None) -> np.ndarray:
    a = np.asarray(v)
    if a.dtype.kind == "f" and not np.all(a == np.floor(a)):
        raise ValueError("window offsets and sizes must be whole pixels")
    a = a.astype(np.int64)
    return np.broadcast_to(a, (n,)).copy() if n is not None and a.ndim == 0 else a.reshape(-1)


@dataclass(frozen=True, slots=True, eq=False)
class Windows:
    """N pixel rectangles of one raster as int64 arrays (``len`` N, any may be empty).

    Built from arrays or scalars (broadcast): ``Windows.of(c0, r0, 32, 32)``. Sizes may
    be 0 (an empty intersection) but never negative.
    """

    col_off: np.ndarray
    row_off: np.ndarray
    width: np.ndarray
    height: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.col_off)
        if not (len(self.row_off) == len(self.width) == len(self.height) == n):
            raise ValueError("Windows arrays must have one length")
        if n and (self.width.min() < 0 or self.height.min() < 0):
            raise ValueError("Window sizes must not be negative")

    @classmethod
    def of(cls, col_off: Any, row_off: Any, width: Any, height: Any) -> Windows:
        """Windows from arrays and/or scalars (scalars broadcast to the arrays' length)."""
        lens = [np.asarray(v).size for v in (col_off, row_off, width, height) if np.ndim(v)]
        n = max(lens) if lens else 1
        return cls(*(_ints(v, n) for v in (col_off, row_off, width, height)))

    @classmethod
    def from_window(cls, w: Window) -> Windows:
        """One window as a Windows of length 1."""
        return cls.of(w.col_off, w.row_off, w.width, w.height)

    def __len__(self) -> int:
        return len(self.col_off)

    def __getitem__(self, k: Any) -> Any:
        """``ws[k]`` is a :class:`Window`; ``ws[mask]``/``ws[a:b]`` a :class:`Windows`."""
        if isinstance(k, int | np.integer):
            return Window(
                int(self.col_off[k]), int(self.row_off[k]), int(self.width[k]), int(self.height[k])
            )
        return Windows(self.col_off[k], self.row_off[k], self.width[k], self.height[k])

    def __iter__(self) -> Iterator[Window]:
        for k in range(len(self)):
            yield self[k]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Windows):
            return NotImplemented
        return all(np.array_equal(a, b) for a, b in zip(self.arrays(), other.arrays(), strict=True))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(col_off, row_off, width, height)``."""
        return (self.col_off, self.row_off, self.width, self.height)

    @property
    def col_end(self) -> np.ndarray:
        """Exclusive end column ``col_off + width``."""
        return self.col_off + self.width

    @property
    def row_end(self) -> np.ndarray:
        """Exclusive end row ``row_off + height``."""
        return self.row_off + self.height

    @property
    def empty(self) -> np.ndarray:
        """True where a window has no pixel."""
        return (self.width <= 0) | (self.height <= 0)

    def centers(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel position ``(col, row)`` of each window's centre (fractional)."""
        return (self.col_off + self.width / 2.0, self.row_off + self.height / 2.0)

    def shifted(self, dcol: Any = 0, drow: Any = 0) -> Windows:
        """Windows moved by ``(dcol, drow)`` pixels."""
        return Windows.of(self.col_off + dcol, self.row_off + drow, self.width, self.height)

    def grown(self, pixels: int) -> Windows:
        """Windows grown by ``pixels`` on every side (a halo; negative shrinks)."""
        p = int(pixels)
        return Windows.of(
            self.col_off - p,
            self.row_off - p,
            np.maximum(self.width + 2 * p, 0),
            np.maximum(self.height + 2 * p, 0),
        )

    def inside(self, width: int, height: int) -> np.ndarray:
        """True where a window lies wholly within a ``width`` x ``height`` raster."""
        return (
            (self.col_off >= 0)
            & (self.row_off >= 0)
            & (self.col_end <= width)
            & (self.row_end <= height)
        )

    def intersect(self, other: Windows) -> Windows:
        """Element-wise intersection (size 0 where two windows do not meet).

        ``other`` may have length 1 (one rectangle against every window).
        """
        c0 = np.maximum(self.col_off, other.col_off)
        r0 = np.maximum(self.row_off, other.row_off)
        c1 = np.minimum(self.col_end, other.col_end)
        r1 = np.minimum(self.row_end, other.row_end)
        empty = (c1 <= c0) | (r1 <= r0)
        c0, r0 = np.where(empty, 0, c0), np.where(empty, 0, r0)
        w, h = np.where(empty, 0, c1 - c0), np.where(empty, 0, r1 - r0)
        return Windows.of(c0, r0, w, h)

    def clipped(self, width: int, height: int) -> Windows:
        """The part of each window inside a ``width`` x ``height`` raster (size 0 if none)."""
        return self.intersect(Windows.of(0, 0, width, height))

    def relative_to(self, other: Windows) -> Windows:
        """These windows in the pixel frame of ``other`` (offsets minus ``other``'s)."""
        return Windows.of(
            self.col_off - other.col_off, self.row_off - other.row_off, self.width, self.height
        )


def window_transform(transform: Affine, col_off: float, row_off: float) -> Affine:
    """The affine transform of a window's pixels: ``transform`` moved to the window origin."""
    return transform @ Affine.translation(col_off, row_off)


def subgrid(grid: Grid, window: Window, *, shape: tuple[int, int] | None = None) -> Grid:
    """The grid of a window of ``grid`` (as odc-geo's ``GeoBox[roi]`` slicing does).

    Same CRS; the window's origin composed into the transform; the window's size. With
    ``shape`` = ``(height, width)`` the window is resampled to that many pixels (a
    decimated or zoomed view of the same ground rectangle).

    Examples
    --------
    >>> g = Grid.from_origin("EPSG:32616", x0=500000, y0=4000000, res=10, width=100, height=50)
    >>> s = subgrid(g, Window(10, 5, 20, 20))
    >>> s.transform.c, s.transform.f, s.width, s.height
    (500100.0, 3999950.0, 20, 20)
    """
    t = window_transform(grid.transform, window.col_off, window.row_off)
    if shape is None:
        return Grid(grid.crs, t, window.width, window.height)
    h, w = int(shape[0]), int(shape[1])
    t = t @ Affine.scale(window.width / w, window.height / h)
    return Grid(grid.crs, t, w, h)


def window_of(grid: Grid, sub: Grid) -> Window:
    """The window of ``grid`` that ``sub`` is (inverse of :func:`subgrid`).

    Raises
    ------
    ValueError
        ``sub`` is not a whole-pixel window of ``grid`` (other CRS, scale or rotation).
    """
    if sub.crs != grid.crs:
        raise ValueError("the grids have different CRSs")
    rel = ~grid.transform @ sub.transform
    c, r = rel.c, rel.f
    ok = np.allclose([rel.a, rel.b, rel.d, rel.e], [1, 0, 0, 1], atol=1e-9) and np.allclose(
        [c, r], [round(c), round(r)], atol=1e-6
    )
    if not ok:
        raise ValueError("the sub-grid is not a whole-pixel window of the grid")
    return Window(round(c), round(r), sub.width, sub.height)


def pixel_axes(grid: Grid) -> tuple[str, str]:
    """Which way columns and rows run on the ground: e.g. ``("east", "south")``.

    The nearest compass direction of the transform's column and row steps (in the grid's
    CRS axes, x east and y north). A north-up raster gives ``("east", "south")``: row 0
    of every patch cut from it is its northern edge.
    """
    a, b, _, d, e, _ = tuple(grid.transform)[:6]

    def name(dx: float, dy: float) -> str:
        ang = math.degrees(math.atan2(dy, dx)) % 360
        names = ("east", "northeast", "north", "northwest", "west", "southwest", "south")
        return (*names, "southeast")[round(ang / 45) % 8]

    return (name(a, d), name(b, e))


def block_cover(
    windows: Windows,
    *,
    raster_width: int,
    raster_height: int,
    block_width: int,
    block_height: int,
) -> Windows:
    """Windows rounded out to a raster's blocks: what to decode, each block once.

    Parameters
    ----------
    windows
        The windows (they may reach past the raster's edges).
    raster_width, raster_height
        Raster size in pixels.
    block_width, block_height
        The raster's block (tile or strip) size.

    Returns
    -------
    Windows
        Disjoint rectangles, clipped to the raster, whose union is exactly the set of
        blocks intersected by the in-raster part of some window. Runs of consecutive
        needed blocks along a block row are merged with identical runs of the following
        block rows, so a compact group of windows is usually one rectangle. Ordered by
        row, then column.

    Examples
    --------
    >>> ws = Windows.of([0, 300], [0, 0], 10, 10)
    >>> list(block_cover(ws, raster_width=1000, raster_height=1000,
    ...                  block_width=256, block_height=256))
    [Window(col_off=0, row_off=0, width=512, height=256)]
    """
    inner = windows.clipped(raster_width, raster_height)
    keep = ~inner.empty
    if not keep.any():
        return Windows.of(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    c0, r0 = inner.col_off[keep], inner.row_off[keep]
    c1, r1 = inner.col_end[keep], inner.row_end[keep]
    bc0, bc1 = c0 // block_width, (c1 - 1) // block_width
    br0, br1 = r0 // block_height, (r1 - 1) // block_height
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
    done.sort(key=lambda t: (t[2], t[0]))
    a_, b_, ra, rb = (np.array(v, dtype=np.int64) for v in zip(*done, strict=True))
    x0, y0 = a_ * block_width, ra * block_height
    x1 = np.minimum(b_ * block_width, raster_width)
    y1 = np.minimum(rb * block_height, raster_height)
    return Windows.of(x0, y0, x1 - x0, y1 - y0)


@dataclass(frozen=True, slots=True)
class WindowChoice:
    """Vectorised result of :func:`nearest_windows` for N centres.

    ``dcol``/``drow`` are the window centre minus the patch centre in pixels of that
    raster (each in ``(-0.5, 0.5]``); ``offset_m`` is the same residual on the ground.
    """

    col_off: np.ndarray
    row_off: np.ndarray
    width: int
    height: int
    dcol: np.ndarray
    drow: np.ndarray
    offset_m: np.ndarray

    @property
    def windows(self) -> Windows:
        """The chosen windows."""
        return Windows.of(self.col_off, self.row_off, self.width, self.height)


def nearest_offsets(frac: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer offsets whose window centre is nearest to fractional pixel positions.

    Parameters
    ----------
    frac
        Fractional pixel coordinates of the centres along one axis.
    size
        Window length in pixels along that axis.

    Returns
    -------
    offsets, residual
        ``offsets`` (int64) and ``offsets + size / 2 - frac`` (in ``(-0.5, 0.5]``).

    Examples
    --------
    >>> nearest_offsets(np.array([10.5, 10.2]), 3)
    (array([9, 9]), array([0. , 0.3]))
    """
    start = np.asarray(frac, dtype=float) - size / 2.0
    off = np.floor(start + 0.5)
    return off.astype(np.int64), off - start


def nearest_windows(
    grid: Grid, x: np.ndarray, y: np.ndarray, width: int, height: int
) -> WindowChoice:
    """Choose, for centres ``(x, y)`` in ``grid.crs``, the nearest-centred windows.

    Parameters
    ----------
    grid
        The raster's grid.
    x, y
        Patch centres, already transformed into ``grid.crs``.
    width, height
        Window size in pixels of this raster.
    """
    col, row = grid.to_colrow(x, y)
    col_off, dcol = nearest_offsets(col, width)
    row_off, drow = nearest_offsets(row, height)
    wx, wy = grid.to_xy(col_off + width / 2.0, row_off + height / 2.0)
    offset_m = ground_distance(grid, np.asarray(x, float), np.asarray(y, float), wx, wy)
    return WindowChoice(col_off, row_off, width, height, dcol, drow, offset_m)


def ground_distance(
    grid: Grid, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray
) -> np.ndarray:
    """Distance in metres between points in ``grid.crs`` (geodesic for geographic CRSs)."""
    if len(np.atleast_1d(x0)) == 0:
        return np.zeros(0)
    if grid.is_geographic:
        _, _, dist = _geod(grid.crs).inv(x0, y0, x1, y1)
        return np.asarray(dist, dtype=float)
    return np.hypot(x1 - x0, y1 - y0) * _unit_factor(grid.crs)
