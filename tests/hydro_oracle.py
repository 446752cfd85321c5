"""The users' PySheds recipe (dev extra, test oracle only) with metric cell sizes.

``fill_pits -> fill_depressions -> resolve_flats -> flowdir`` on a grid whose affine is in
metres (``dx``, ``dy``), so slopes are per ground metre as in geoharmony.
"""

from __future__ import annotations

import numpy as np
from affine import Affine

if not hasattr(np, "in1d"):  # pysheds 0.5 still calls numpy.in1d (removed in numpy 2.4)
    np.in1d = np.isin  # type: ignore[attr-defined]

from pysheds.grid import Grid
from pysheds.sview import Raster, ViewFinder

ESRI = (1, 2, 4, 8, 16, 32, 64, 128)


def pysheds_recipe(dem: np.ndarray, dx: float, dy: float) -> tuple[np.ndarray, np.ndarray]:
    """``(ESRI codes uint8 with 0 for pits/flats, accumulation in cells)``."""
    vf = ViewFinder(affine=Affine(dx, 0, 0, 0, -dy, 0), shape=dem.shape, nodata=np.float64(-3.4e38))
    grid = Grid(viewfinder=vf)
    r = Raster(dem.astype(np.float64), viewfinder=vf)
    inflated = grid.resolve_flats(grid.fill_depressions(grid.fill_pits(r)))
    fdir = grid.flowdir(inflated)
    acc = np.asarray(grid.accumulation(fdir), dtype=np.float64)
    fd = np.asarray(fdir)
    return np.where(np.isin(fd, ESRI), fd, 0).astype(np.uint8), acc


def pysheds_d8(dem: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """ESRI codes of the recipe (0 where pysheds leaves a pit or a flat)."""
    return pysheds_recipe(dem, dx, dy)[0]
