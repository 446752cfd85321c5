"""Windows and the nearest-centre window choice.

The rule (contract, "Alignment"): for a patch centre and a raster, the window is the one
of the requested size whose geometric centre is nearest to the centre on the raster's own
pixel lattice. In pixel coordinates (integers on pixel edges) a window of ``width`` pixels
starting at ``col_off`` has its centre at ``col_off + width / 2``; the nearest integer
``col_off`` to ``col - width / 2`` therefore leaves a residual of at most half a pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    (array([9, 9]), array([ 0. ,  0.3]))
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
