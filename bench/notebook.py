"""The origin notebook's per-patch method, reproduced faithfully as the baseline.

For every patch and every raster the notebook opens the file, converts the centre with
``ds.index`` (floor of the fractional pixel) and reads a ``boundless`` window filled with
0 (``extract_patch_data`` in the notebook's step 5). It stores nothing and computes no
masks. The one liberty taken here is in its favour: the centres are handed over already
transformed into each raster's CRS (the notebook assumed one CRS for all rasters).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window


def extract_patch_data(
    raster_path: str, center_point: Any, patch_size: int, pad_value: float = 0
) -> np.ndarray:
    """Extract patch data around a geographic center point (the notebook's function)."""
    with rasterio.open(raster_path) as ds:
        # Convert center point to pixel coordinates
        target_r, target_c = ds.index(center_point.x, center_point.y)

        # Calculate window
        window_r = target_r - patch_size // 2
        window_c = target_c - patch_size // 2
        window = Window(window_c, window_r, patch_size, patch_size)

        # Read data using boundless=True to handle edges
        patch_data = ds.read(window=window, boundless=True, fill_value=pad_value)

        return patch_data


def run_notebook(
    rasters: dict[str, str], centers: dict[str, Sequence[Any]], patch_size: int
) -> list[dict[str, np.ndarray]]:
    """Every patch of every raster, the notebook's way (files opened per patch).

    ``centers[name]`` holds shapely points in the CRS of raster ``name``.
    """
    n = len(next(iter(centers.values())))
    out = []
    for k in range(n):
        out.append(
            {
                label: extract_patch_data(path, centers[label][k], patch_size)
                for label, path in rasters.items()
            }
        )
    return out


def run_notebook_open_once(
    rasters: dict[str, str], centers: dict[str, Sequence[Any]], patch_size: int
) -> list[dict[str, np.ndarray]]:
    """The same reads with every file opened once (the issue's second row)."""
    dss = {label: rasterio.open(path) for label, path in rasters.items()}
    try:
        n = len(next(iter(centers.values())))
        out = []
        for k in range(n):
            sample = {}
            for label, ds in dss.items():
                p = centers[label][k]
                r, c = ds.index(p.x, p.y)
                win = Window(c - patch_size // 2, r - patch_size // 2, patch_size, patch_size)
                sample[label] = ds.read(window=win, boundless=True, fill_value=0)
            out.append(sample)
        return out
    finally:
        for ds in dss.values():
            ds.close()
