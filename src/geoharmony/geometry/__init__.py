"""Pure geometry core: grids, windows, lattices and footprints. No file I/O here."""

from geoharmony.geometry.grid import Grid
from geoharmony.geometry.window import (
    Window,
    Windows,
    block_cover,
    nearest_windows,
    pixel_axes,
    subgrid,
)

__all__ = ["Grid", "Window", "Windows", "block_cover", "nearest_windows", "pixel_axes", "subgrid"]
