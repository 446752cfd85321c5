"""Pure geometry core: grids, windows, lattices and footprints. No file I/O here."""

from geoharmony.geometry.grid import Grid
from geoharmony.geometry.window import Window, nearest_windows

__all__ = ["Grid", "Window", "nearest_windows"]
