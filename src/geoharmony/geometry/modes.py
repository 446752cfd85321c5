"""How many pixels each modality's window has, per harmonisation mode.

* ``native``: every modality ``patch_size`` x ``patch_size`` pixels at its own resolution.
* ``footprint``: every modality covers the reference window's ground size; the pixel count
  must be whole (within :data:`WHOLE_TOL` pixel), else the user is told which sizes work.
* ``resample``: every modality is warped onto the reference window itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from geoharmony.errors import FootprintError
from geoharmony.geometry.grid import Grid

MODES = ("native", "footprint", "resample")
#: A footprint-mode pixel count within this many pixels of a whole number is rounded.
WHOLE_TOL = 0.01


def _exact_sizes(
    ref: Grid, patch_size: int, grids: Mapping[str, Grid]
) -> dict[str, tuple[float, float]]:
    rx, ry = ref.resolution_m
    out = {}
    for name, g in grids.items():
        mx, my = g.resolution_m
        out[name] = (patch_size * rx / mx, patch_size * ry / my)
    return out


def _is_whole(v: float) -> bool:
    return abs(v - round(v)) <= WHOLE_TOL and round(v) >= 1


def working_patch_sizes(
    ref: Grid, grids: Mapping[str, Grid], *, around: int, limit: int = 4096
) -> tuple[int | None, int | None]:
    """Nearest reference patch sizes below and above ``around`` that are whole everywhere."""

    def ok(p: int) -> bool:
        return all(_is_whole(w) and _is_whole(h) for w, h in _exact_sizes(ref, p, grids).values())

    below = next((p for p in range(around - 1, 0, -1) if ok(p)), None)
    above = next((p for p in range(around + 1, max(limit, around * 4)) if ok(p)), None)
    return below, above


def window_sizes(
    mode: str,
    ref_name: str,
    patch_size: int,
    grids: Mapping[str, Grid],
    *,
    where: str = "[grid].patch_size",
) -> dict[str, tuple[int, int]]:
    """Window ``(width, height)`` in pixels for each modality.

    For ``resample`` the size is the destination (reference) window for every modality.

    Raises
    ------
    FootprintError
        In ``footprint`` mode, when some modality would need a non-whole pixel count.
    """
    if mode == "native" or mode == "resample":
        return {name: (patch_size, patch_size) for name in grids}
    if mode != "footprint":
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    ref = grids[ref_name]
    sizes = _exact_sizes(ref, patch_size, grids)
    bad = {n: wh for n, wh in sizes.items() if not (_is_whole(wh[0]) and _is_whole(wh[1]))}
    if bad:
        name, (w, h) = next(iter(bad.items()))
        res = "x".join(f"{v:.4g}" for v in grids[name].resolution_m)
        below, above = working_patch_sizes(ref, grids, around=patch_size)
        works = [str(p) for p in (below, above) if p is not None]
        fix = (
            f"Nearest sizes that work: {', '.join(works)}"
            if works
            else "No patch size up to 4096 works for every modality; use mode = 'resample'"
        )
        raise FootprintError(
            f"{where} = {patch_size} gives {w:.2f} x {h:.2f} px for {name!r} ({res} m) in "
            f"footprint mode; it must be whole (within {WHOLE_TOL} px). {fix}"
        )
    return {n: (round(w), round(h)) for n, (w, h) in sizes.items()}


def finest(grids: Mapping[str, Grid]) -> str:
    """Name of the modality with the smallest ground pixel (the default reference)."""
    return min(grids, key=lambda n: math.prod(grids[n].resolution_m))
