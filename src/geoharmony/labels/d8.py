"""D8 flow direction from a DEM window (steepest descent in ground metres)."""

from __future__ import annotations

import numpy as np

from geoharmony.geometry.d8codes import D8_NEIGHBOURS


def d8_flow_direction(
    dem: np.ndarray, valid: np.ndarray, res_m: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """D8 flow direction of the interior of ``dem`` (a 1-pixel halo is consumed).

    Parameters
    ----------
    dem
        Elevations ``(h + 2, w + 2)`` including a one-pixel halo.
    valid
        Validity of ``dem``.
    res_m
        Pixel size in metres ``(x, y)``; diagonal distances follow from it.

    Returns
    -------
    codes, defined
        ``uint8`` ESRI codes ``(h, w)`` and where they are defined.
    """
    z = dem.astype(np.float64)
    h, w = z.shape[0] - 2, z.shape[1] - 2
    centre = z[1:-1, 1:-1]
    best = np.zeros((h, w))
    code = np.zeros((h, w), dtype=np.uint8)
    all_valid = valid[1:-1, 1:-1].copy()
    dx, dy = res_m
    for dr, dc, c in D8_NEIGHBOURS:
        nb = z[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
        all_valid &= valid[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
        dist = float(np.hypot(dx * dc, dy * dr))
        drop = (centre - nb) / dist
        better = drop > best  # strict: ties keep the first direction in ESRI order
        best = np.where(better, drop, best)
        code = np.where(better, np.uint8(c), code)
    code[~all_valid] = 0
    return code, all_valid
