"""The plan's patch layout for writers that lay files out by region (``needs_layout``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from geoharmony.planning.plan import Plan
from geoharmony.planning.windows import region_windows
from geoharmony.writers import PatchLayout


def output_windows(plan: Plan) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each output's window ``(n, 4)`` and window transform ``(n, 6)`` per patch.

    From :func:`geoharmony.planning.windows.region_windows` (the one answer): native mode,
    the window on the raster the output lies on (``grid_of``); resample mode, the patch's
    window on the reference raster.
    """
    n = len(plan.table)
    windows = {name: np.zeros((n, 4), np.int64) for name in plan.outputs}
    transforms = {name: np.zeros((n, 6), np.float64) for name in plan.outputs}
    if not n:
        return windows, transforms
    for name in plan.outputs:
        for part in region_windows(plan, name, by_grid=True):
            ws, at = part.windows, part.positions
            c0, r0 = np.asarray(ws.col_off), np.asarray(ws.row_off)
            windows[name][at] = np.column_stack(
                [c0, r0, np.broadcast_to(ws.width, c0.shape), np.broadcast_to(ws.height, c0.shape)]
            )
            a, b, c, d, e, f = tuple(part.grid.transform)[:6]
            # the window's transform = transform @ translation(c0, r0)
            transforms[name][at] = np.column_stack(
                [
                    np.full(len(at), a),
                    np.full(len(at), b),
                    a * c0 + b * r0 + c,
                    np.full(len(at), d),
                    np.full(len(at), e),
                    d * c0 + e * r0 + f,
                ]
            )
    return windows, transforms


def patch_layout(plan: Plan) -> PatchLayout:
    """Regions, patch ids, windows and the format's options, for :meth:`PatchWriter.describe`."""
    windows, transforms = output_windows(plan)
    out = plan.config.output
    opts: Any = getattr(out, out.format, None)
    options = opts.to_json() if hasattr(opts, "to_json") else (asdict(opts) if opts else {})
    t = plan.table
    return PatchLayout(
        patch_id=tuple(t["patch_id"].astype(str)) if len(t) else (),
        region=tuple(t["region"].astype(str)) if len(t) else (),
        windows=windows,
        transforms=transforms,
        options=options,
    )
