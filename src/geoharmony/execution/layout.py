"""The plan's patch layout for writers that lay files out by region (``needs_layout``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from geoharmony.planning.plan import Plan
from geoharmony.writers import PatchLayout


def output_windows(plan: Plan) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each output's window ``(n, 4)`` and window transform ``(n, 6)`` per patch.

    Native mode: the window read from the raster the output lies on (``grid_of``);
    resample mode: the patch's window on the reference raster (every output lies there).
    """
    t = plan.table
    n = len(t)
    p = plan.config.grid.patch_size
    stride = plan.config.grid.stride
    windows = {name: np.zeros((n, 4), np.int64) for name in plan.outputs}
    transforms = {name: np.zeros((n, 6), np.float64) for name in plan.outputs}
    if not n:
        return windows, transforms
    regions = t["region"].to_numpy()
    for rid in dict.fromkeys(regions.tolist()):
        at = np.flatnonzero(regions == rid)
        sub = t.iloc[at]
        infos = plan.sources[str(rid)]
        for name, spec in plan.outputs.items():
            if plan.mode == "resample":
                grid = infos[plan.reference].grid
                c0 = sub["lattice_j"].to_numpy() * stride
                r0 = sub["lattice_i"].to_numpy() * stride
                w = h = p
            else:
                g = spec.grid_of
                grid = infos[g].grid
                c0, r0 = sub[f"{g}_col_off"].to_numpy(), sub[f"{g}_row_off"].to_numpy()
                w, h = spec.width, spec.height
            windows[name][at] = np.column_stack([c0, r0, np.full(len(at), w), np.full(len(at), h)])
            a, b, c, d, e, f = tuple(grid.transform)[:6]
            # transform of the window = transform @ translation(c0, r0)
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
