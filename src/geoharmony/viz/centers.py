"""Figure 2: every lattice centre considered vs the centres kept, over the reference raster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import shapely
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from geoharmony.geometry.footprint import transform_points
from geoharmony.geometry.lattice import Lattice
from geoharmony.viz import maps, style
from geoharmony.viz.background import draw_background
from geoharmony.viz.source import Source, fmt_m, load_source

KEEP_TEXT = {
    "center": "centre inside the area",
    "inside": "whole patch inside the area",
    "overlap": "patch overlaps the area enough",
}


def candidates(src: Source, rid: str) -> tuple[np.ndarray, np.ndarray]:
    """All lattice centres covering a region (reference CRS), as the plan considers them."""
    region = src.region(rid)
    grid = src.inputs[rid][src.reference].grid
    lat = Lattice(grid, src.patch_size, src.stride)
    geom = region.in_crs(grid.crs)
    ii, jj = lat.covering(tuple(shapely.bounds(geom)))
    x, y = lat.xy(ii, jj)
    return np.asarray(x), np.asarray(y)


def plot_centers(
    source: Any,
    *,
    region: str | None = None,
    styles: Mapping[str, str] | None = None,
    dpi: float = 110,
) -> Figure:
    """All lattice centres vs kept centres over the reference raster, in its own CRS.

    Works before extraction (a configuration: the plan) and after (a dataset: its index).

    Parameters
    ----------
    source
        A configuration or a dataset (see :func:`~geoharmony.viz.source.load_source`).
    region
        One region id (default: all).
    styles
        Overrides of :func:`~geoharmony.viz.style.data_kind` per modality.
    dpi
        Figure resolution.
    """
    src = load_source(source)
    regions = src.select_regions(region)
    ref_in = src.inputs[regions[0].id][src.reference]
    crs = ref_in.grid.crs
    all_x, all_y, kept_x, kept_y = [], [], [], []
    idx = src.index
    for r in regions:
        rcrs = src.inputs[r.id][src.reference].grid.crs
        x, y = candidates(src, r.id)
        sub = idx[idx["region"] == r.id]
        kx, ky = sub["center_x"].to_numpy(float), sub["center_y"].to_numpy(float)
        if rcrs != crs:
            x, y = transform_points(x, y, rcrs, crs)
            kx, ky = transform_points(kx, ky, rcrs, crs)
        all_x.append(x)
        all_y.append(y)
        kept_x.append(kx)
        kept_y.append(ky)
    ax_, ay_ = np.concatenate(all_x), np.concatenate(all_y)
    kx_, ky_ = np.concatenate(kept_x), np.concatenate(kept_y)
    area = [r.in_crs(crs) for r in regions]
    boundary = [r.in_crs(crs, which="boundary") for r in regions]
    view = maps.union_bounds(area)
    view = (
        min(view[0], float(ax_.min(initial=view[0]))),
        min(view[1], float(ay_.min(initial=view[1]))),
        max(view[2], float(ax_.max(initial=view[2]))),
        max(view[3], float(ay_.max(initial=view[3]))),
    )
    xb = maps.padded(view, 0.04)
    fig, ax, cax = maps.map_figure(xb, crs, legend_rows=3, subtitle_lines=4, dpi=dpi)
    maps.nodata_background(ax)
    note = draw_background(
        fig, ax, src, regions, src.reference, crs, xb, styles=styles, cax=cax, wash=0.35
    )
    n_all, n_kept = len(ax_), len(kx_)
    size = float(np.clip(6000.0 / max(n_all, 1), 2.0, 40.0))
    ax.scatter(ax_, ay_, s=size, c=style.CANDIDATE, alpha=0.55, linewidths=0, zorder=3)
    ax.scatter(kx_, ky_, s=size * 1.6, c=style.CENTER, edgecolors="white", linewidths=0.4, zorder=5)
    for g in area:
        maps.draw_outline(ax, g, color=style.BUFFER, lw=1.4, zorder=4)
    for g in boundary:
        maps.draw_outline(ax, g, color=style.BOUNDARY, lw=1.6, zorder=6)
    maps.format_axes(ax, crs)
    maps.add_scale_bar(ax, crs)
    maps.add_north_arrow(ax)
    res = src.resolution_m(src.reference, regions[0].id)
    handles = [
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            ms=5,
            color=style.CANDIDATE,
            alpha=0.7,
            label=f"all lattice centres (n = {n_all:,})",
        ),
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            ms=6,
            color=style.CENTER,
            mec="white",
            label=f"kept centres (n = {n_kept:,}): {KEEP_TEXT.get(src.keep, src.keep)}",
        ),
        Line2D([], [], color=style.BOUNDARY, lw=1.6, path_effects=maps.HALO, label="boundary"),
        Line2D(
            [],
            [],
            color=style.BUFFER,
            lw=1.4,
            path_effects=maps.HALO,
            label=(
                "area patches are kept in (original boundary)"
                if src.study_area.keep_in == "boundary"
                else f"area patches are kept in (buffer {src.study_area.buffer_m:g} m)"
            ),
        ),
        maps.nodata_handle(f"no data in the {src.reference} raster"),
    ]
    maps.bottom_legend(fig, handles, ncol=2)
    when = "plan (before extraction)" if src.kind == "config" else "dataset"
    maps.titles(
        ax,
        f"Patch centres: {n_kept:,} kept of {n_all:,} lattice points ({when})",
        style.wrap(
            f"lattice of the reference '{src.reference}' ({res[0]:.3g} m pixels): patch "
            f"{src.patch_size} px = {fmt_m(src.patch_size * res[0])}, stride {src.stride} px = "
            f"{fmt_m(src.stride * res[0])}, keep = '{src.keep}'",
            f"axes: {maps.crs_label(crs)} (the reference raster's own CRS)",
            f"background: {src.reference}{', ' + note if note else ''}",
        ),
    )
    return fig
