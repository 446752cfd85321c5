"""The lattice of candidate patch centres, anchored to the reference grid.

Lattice point ``(i, j)`` is the centre of the reference window whose top-left pixel is
``(col, row) = (j * stride, i * stride)``: its pixel position is
``(j * stride + patch_size / 2, i * stride + patch_size / 2)``. The lattice is unbounded
(indices may be negative): a region larger than the reference raster still gets every
lattice point inside it, and missing data shows in the masks. Patch ids derive from
``(i, j)``, so they do not depend on row order or on which other points were kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geoharmony.geometry.grid import Grid


@dataclass(frozen=True, slots=True)
class Lattice:
    """Candidate centres of one reference grid, ``patch_size`` and ``stride`` in pixels."""

    grid: Grid
    patch_size: int
    stride: int

    def __post_init__(self) -> None:
        if self.patch_size <= 0 or self.stride <= 0:
            raise ValueError(
                f"patch_size and stride must be positive, got {self.patch_size}, {self.stride}"
            )

    def colrow(self, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel position ``(col, row)`` of lattice points ``(i, j)`` on the reference grid."""
        half = self.patch_size / 2.0
        return (np.asarray(j) * self.stride + half, np.asarray(i) * self.stride + half)

    def xy(self, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reference-CRS coordinates of lattice points ``(i, j)``."""
        col, row = self.colrow(i, j)
        return self.grid.to_xy(col, row)

    def covering(self, bounds: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
        """All ``(i, j)`` whose reference window intersects ``bounds`` (reference CRS).

        Returns flat int64 arrays in row-major lattice order.
        """
        (i0, i1), (j0, j1) = self.covering_range(bounds)
        ii, jj = np.meshgrid(
            np.arange(i0, i1 + 1, dtype=np.int64),
            np.arange(j0, j1 + 1, dtype=np.int64),
            indexing="ij",
        )
        return ii.ravel(), jj.ravel()

    def covering_count(self, bounds: tuple[float, float, float, float]) -> int:
        """How many points :meth:`covering` returns, without making them."""
        (i0, i1), (j0, j1) = self.covering_range(bounds)
        return (i1 - i0 + 1) * (j1 - j0 + 1)

    def covering_range(
        self, bounds: tuple[float, float, float, float]
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """``((i0, i1), (j0, j1))``: the inclusive lattice rows and columns of :meth:`covering`."""
        xmin, ymin, xmax, ymax = bounds
        cols, rows = self.grid.to_colrow(
            np.array([xmin, xmax, xmax, xmin]), np.array([ymin, ymin, ymax, ymax])
        )
        p, s = self.patch_size, self.stride
        j0 = math.floor((cols.min() - p) / s)
        j1 = math.ceil(cols.max() / s)
        i0 = math.floor((rows.min() - p) / s)
        i1 = math.ceil(rows.max() / s)
        return (i0, i1), (j0, j1)
