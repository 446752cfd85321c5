"""The raster drawn under a map: which modality, read, warped for display and styled."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from pyproj import CRS

from geoharmony.planning.study_area import Region
from geoharmony.viz import maps, style
from geoharmony.viz.source import Source

#: At most this many raster files (per-region inputs) are read for one background.
MAX_FILES = 24


def background_modality(
    src: Source, background: str | None, styles: Mapping[str, str] | None
) -> str:
    """The modality drawn under maps: ``background``, else a DEM, else the reference."""
    if background is not None:
        return src.check_modality(background)
    for name in src.modalities:
        inp = src.inputs[src.regions[0].id][name]
        if style.data_kind(name, dtype=inp.dtype, bands=len(inp.bands), override=styles) == "dem":
            return name
    return src.reference


def draw_background(
    fig: Figure,
    ax: Any,
    src: Source,
    regions: list[Region],
    name: str,
    crs: CRS,
    bounds: tuple[float, float, float, float],
    *,
    styles: Mapping[str, str] | None = None,
    cax: Any = None,
    wash: float = 0.0,
) -> str:
    """Draw modality ``name``'s raster(s) for ``regions`` on ``ax`` (warped to ``crs``).

    At most :data:`MAX_FILES` distinct files are drawn (per-region inputs of many
    regions). The colour bar goes into ``cax`` (hidden when the data have none, e.g. RGB). ``wash``
    blends the colours towards white (0: none, 1: white) so that points and
    outlines drawn on top stand out. Returns the rendering note (e.g. "hillshade").
    """
    paths: dict[str, Any] = {}
    for r in regions:
        inp = src.inputs[r.id][name]
        paths.setdefault(str(inp.path), inp)
    skipped = max(len(paths) - MAX_FILES, 0)
    paths = dict(list(paths.items())[:MAX_FILES])
    inp0 = next(iter(paths.values()))
    kind = style.data_kind(name, dtype=inp0.dtype, bands=len(inp0.bands), override=styles)
    if kind == "rgb":
        pos = style.rgb_bands(len(inp0.bands))
        bands = tuple(inp0.bands[p] for p in pos)
    else:
        bands = (inp0.bands[0],)
    data: np.ndarray | None = None
    valid: np.ndarray | None = None
    for inp in paths.values():
        if not inp.path.exists():
            continue
        d, v, t, res_m = maps.read_background(inp, crs, bounds, bands=bands)
        if data is None or valid is None:
            data, valid = d, v
        else:
            data = np.where(v[None], d, data)
            valid = valid | v
    if data is None or valid is None or not valid.any():
        if cax is not None:
            cax.set_axis_off()
        return "raster not available"
    rgb = (0, 1, 2) if kind == "rgb" else None
    shown = style.render(data, valid, kind, res_m=res_m, rgb=rgb, name=name, band_numbers=bands)
    rgba = shown.rgba.copy()
    rgba[..., :3] = wash + (1.0 - wash) * rgba[..., :3]
    ax.imshow(rgba, extent=maps.image_extent(t, valid.shape), interpolation="bilinear", zorder=0)
    if cax is not None:
        if shown.mappable is None:
            cax.set_axis_off()
        else:
            unit = " (m)" if kind == "dem" else ""
            fig.colorbar(shown.mappable, cax=cax, label=f"{shown.cbar_label}{unit}")
    if skipped:
        return f"{shown.note}; {skipped} more per-region files not drawn".lstrip("; ")
    return shown.note
