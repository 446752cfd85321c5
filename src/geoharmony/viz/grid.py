"""Figure 4: all patch footprints of one modality over its raster, in the raster's own CRS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import shapely
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from geoharmony.viz import maps, style
from geoharmony.viz.background import draw_background
from geoharmony.viz.source import WGS84, fmt_m, load_source

SPLIT_ORDER = ("train", "val", "test", "guard", "unassigned")


def plot_grid(
    source: Any,
    modality: str | None = None,
    *,
    region: str | None = None,
    styles: Mapping[str, str] | None = None,
    dpi: float = 110,
) -> Figure:
    """Every patch footprint of one modality over that raster, in the raster's own CRS.

    Footprints are coloured by split, centres are dots, and the boundary is drawn on top.
    Nothing is mixed: the raster, the footprints and the boundary are all in the raster's
    CRS (degrees for a geographic raster, its own metres otherwise).

    Parameters
    ----------
    source
        A configuration or a dataset (see :func:`~geoharmony.viz.source.load_source`).
    modality
        The modality (default: the reference).
    region
        One region id (default: all regions).
    styles
        Overrides of :func:`~geoharmony.viz.style.data_kind` per modality.
    dpi
        Figure resolution.
    """
    src = load_source(source)
    name = src.check_modality(modality)
    regions = src.select_regions(region)
    inp = src.inputs[regions[0].id][name]
    crs = inp.grid.crs
    idx = src.index[src.index["region"].isin([r.id for r in regions])]
    polys = maps.geoms_to(list(idx[f"{name}_footprint"].to_numpy()), WGS84, crs)
    centers = maps.geoms_to(list(idx.geometry.to_numpy()), WGS84, crs)
    area = [r.in_crs(crs) for r in regions]
    boundary = [r.in_crs(crs, which="boundary") for r in regions]
    view = maps.union_bounds([*area, *polys]) if len(polys) else maps.union_bounds(area)
    xb = maps.padded(view, 0.04)
    fig, ax, cax = maps.map_figure(xb, crs, legend_rows=3, subtitle_lines=3, dpi=dpi)
    maps.nodata_background(ax)
    note = draw_background(fig, ax, src, regions, name, crs, xb, styles=styles, cax=cax)
    splits = idx["split"].astype(str).to_numpy() if "split" in idx else np.full(len(idx), "train")
    handles: list[Any] = []
    present = [s for s in SPLIT_ORDER if s in set(splits)] + sorted(set(splits) - set(SPLIT_ORDER))
    for s in present:
        sel = splits == s
        verts = [
            np.asarray(shapely.get_coordinates(shapely.get_exterior_ring(p))) for p in polys[sel]
        ]
        color = style.SPLIT_COLORS.get(s, "#ffe119")
        ax.add_collection(
            PolyCollection(verts, facecolors="none", edgecolors=color, linewidths=1.0, zorder=3)
        )
        handles.append(
            Line2D([], [], color=color, lw=1.5, label=f"{s}: {int(sel.sum()):,} patches")
        )
    if len(centers):
        cxy = shapely.get_coordinates(centers)
        ax.scatter(cxy[:, 0], cxy[:, 1], s=6, c="black", linewidths=0, zorder=4)
    for g in area:
        maps.draw_outline(ax, g, color=style.BUFFER, lw=1.2, zorder=5)
    for g in boundary:
        maps.draw_outline(ax, g, color=style.BOUNDARY, lw=1.8, zorder=6)
    handles += [
        Line2D([], [], ls="", marker="o", ms=3, color="black", label="patch centres"),
        Line2D([], [], color=style.BOUNDARY, lw=1.8, path_effects=maps.HALO, label="boundary"),
        Line2D(
            [],
            [],
            color=style.BUFFER,
            lw=1.2,
            path_effects=maps.HALO,
            label=(
                "area patches are kept in (original boundary)"
                if src.study_area.keep_in == "boundary"
                else f"area patches are kept in (buffer {src.study_area.buffer_m:g} m)"
            ),
        ),
        maps.nodata_handle(f"no data in the {name} raster"),
    ]
    maps.format_axes(ax, crs)
    maps.add_scale_bar(ax, crs)
    maps.add_north_arrow(ax)
    maps.bottom_legend(fig, handles, ncol=3)
    o = src.outputs[name]
    gw, gh = src.resolution_m(name, regions[0].id)
    headline = (
        f"{name}: {len(idx):,} patch footprints of {o.width}\u00d7{o.height} px "
        f"({fmt_m(o.width * gw)} \u00d7 {fmt_m(o.height * gh)}) on {inp.file_name}"
    )
    overlap = ""
    if src.stride < src.patch_size:
        overlap = f"; patches overlap (stride {src.stride} < patch size {src.patch_size} px)"
    maps.titles(
        ax,
        headline,
        style.wrap(
            f"axes: {maps.crs_label(crs)}, the {name} raster's own CRS; "
            f"pixels {gw:.3g} \u00d7 {gh:.3g} m; {src.mode} mode{overlap}",
            f"background: {name}{', ' + note if note else ''}",
        ),
    )
    return fig
