"""How many pixels each modality's window has, per harmonisation mode.

* ``native``: every modality ``patch_size`` x ``patch_size`` pixels at its own resolution.
* ``footprint``: every modality covers the reference window's ground size, in true ground
  metres; each axis gets the whole pixel count nearest to footprint / ground pixel (a
  mismatch larger than ``[grid].footprint_tolerance_px`` is refused with the sizes that
  nest).
* ``resample``: every modality is warped onto the reference window itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from geoharmony.errors import FootprintError
from geoharmony.geometry.grid import Grid

MODES = ("native", "footprint", "resample")
#: Default ``[grid].footprint_tolerance_px``: always the nearest whole count, never refused.
DEFAULT_TOLERANCE_PX = 0.5
WHOLE_TOL = DEFAULT_TOLERANCE_PX  # the name older code imports

Ground = Mapping[str, tuple[float, float]]


def _ground(grids: Mapping[str, Grid], ground: Ground | None) -> dict[str, tuple[float, float]]:
    return {n: (ground[n] if ground and n in ground else g.resolution_m) for n, g in grids.items()}


def _exact_sizes(
    ref: str, patch_size: int, ground: Mapping[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """Pixels per axis of every modality for the reference window's ground size."""
    rx, ry = ground[ref]
    return {n: (patch_size * rx / mx, patch_size * ry / my) for n, (mx, my) in ground.items()}


def _is_whole(v: float, tol: float) -> bool:
    return abs(v - round(v)) <= tol + 1e-12 and round(v) >= 1


def working_patch_sizes(
    ref: str,
    ground: Mapping[str, tuple[float, float]],
    *,
    around: int,
    tolerance: float,
    limit: int = 4096,
) -> tuple[int | None, int | None]:
    """Nearest reference patch sizes below and above ``around`` that nest for every modality."""

    def ok(p: int) -> bool:
        return all(
            _is_whole(w, tolerance) and _is_whole(h, tolerance)
            for w, h in _exact_sizes(ref, p, ground).values()
        )

    below = next((p for p in range(around - 1, 0, -1) if ok(p)), None)
    above = next((p for p in range(around + 1, max(limit, around * 4)) if ok(p)), None)
    return below, above


def window_sizes(
    mode: str,
    ref_name: str,
    patch_size: int,
    grids: Mapping[str, Grid],
    *,
    ground: Ground | None = None,
    tolerance: float = DEFAULT_TOLERANCE_PX,
    where: str = "[grid].patch_size",
) -> dict[str, tuple[int, int]]:
    """Window ``(width, height)`` in pixels for each modality.

    Parameters
    ----------
    mode
        ``native``, ``footprint`` or ``resample`` (then every modality gets the
        destination, i.e. reference, window size).
    ground
        Ground pixel size in metres of each modality where the patches are (default:
        each grid's :attr:`Grid.resolution_m`, at its centre).
    tolerance
        ``footprint`` mode: the largest distance in pixels, per axis, between the exact
        count (reference footprint / ground pixel) and the whole count used. At 0.5 the
        nearest whole count is always used; windows may be non-square in pixels.

    Raises
    ------
    FootprintError
        In ``footprint`` mode, when some modality's count is further than ``tolerance``
        from a whole number; the message lists the patch sizes that nest.
    """
    if mode == "native" or mode == "resample":
        return {name: (patch_size, patch_size) for name in grids}
    if mode != "footprint":
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    gr = _ground(grids, ground)
    sizes = _exact_sizes(ref_name, patch_size, gr)
    bad = {
        n: wh
        for n, wh in sizes.items()
        if not (_is_whole(wh[0], tolerance) and _is_whole(wh[1], tolerance))
    }
    if bad:
        name, (w, h) = next(iter(bad.items()))
        res = " x ".join(f"{v:.4g}" for v in gr[name])
        below, above = working_patch_sizes(ref_name, gr, around=patch_size, tolerance=tolerance)
        works = [str(p) for p in (below, above) if p is not None]
        fix = (
            f"Patch sizes that nest for every modality: {', '.join(works)}"
            if works
            else "No patch size up to 4096 nests for every modality at this tolerance; "
            "use the default footprint_tolerance_px = 0.5 or mode = 'resample'"
        )
        raise FootprintError(
            f"{where} = {patch_size} gives {w:.2f} x {h:.2f} px for {name!r} ({res} m on the "
            f"ground) in footprint mode, more than [grid].footprint_tolerance_px = "
            f"{tolerance:g} px from a whole count. {fix}"
        )
    return {n: (max(1, round(w)), max(1, round(h))) for n, (w, h) in sizes.items()}


def finest(grids: Mapping[str, Grid]) -> str:
    """Name of the modality with the smallest ground pixel (the default reference)."""
    return min(grids, key=lambda n: math.prod(grids[n].resolution_m))
