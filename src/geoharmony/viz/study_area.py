"""Figure 1: the study area: boundary, buffered boundary and bounding box over the terrain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import shapely
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from pyproj import CRS

from geoharmony.geometry.footprint import window_polygons
from geoharmony.planning.study_area import Region, local_metric_crs
from geoharmony.viz import maps, style
from geoharmony.viz.background import background_modality, draw_background
from geoharmony.viz.source import WGS84, Source, VizInputError, load_source

CRS_CHOICES = ("lonlat", "metric", "raster")


def plot_crs(src: Source, regions: list[Region], which: str, raster: str) -> CRS:
    """The CRS of a map: EPSG:4326, a local metric CRS chosen from the data, or a raster's."""
    if which == "lonlat":
        return WGS84
    if which == "metric":
        geom = shapely.union_all(np.array([r.boundary for r in regions], dtype=object))
        return local_metric_crs(geom, regions[0].crs)
    if which == "raster":
        return src.inputs[regions[0].id][raster].grid.crs
    raise VizInputError(f"crs must be one of {', '.join(CRS_CHOICES)}, found {which!r}")


def plot_study_area(
    source: Any,
    *,
    region: str | None = None,
    crs: str = "lonlat",
    background: str | None = None,
    styles: Mapping[str, str] | None = None,
    dpi: float = 110,
) -> Figure:
    """The study area: boundary, buffered boundary and its bounding box over the terrain.

    The buffer and the box are the plan's (``[study_area]`` applied once, at planning;
    a dataset keeps them in its ``plan.json``), not read from files. Each input raster's
    extent is outlined, so partial coverage shows.

    Parameters
    ----------
    source
        A configuration (file or :class:`~geoharmony.planning.config.Config`) or a dataset (folder
        or :class:`~geoharmony.reading.dataset.Dataset`).
    region
        One region id (default: all regions).
    crs
        ``"lonlat"`` (EPSG:4326 axes), ``"metric"`` (a local azimuthal-equidistant CRS
        centred on the study area) or ``"raster"`` (the background raster's own CRS).
    background
        Modality drawn underneath (default: a DEM if there is one, else the reference).
    styles
        Overrides of :func:`~geoharmony.viz.style.data_kind` per modality.
    dpi
        Figure resolution.

    Returns
    -------
    matplotlib.figure.Figure
    """
    src = load_source(source)
    regions = src.select_regions(region)
    bg = background_modality(src, background, styles)
    pcrs = plot_crs(src, regions, crs, bg)
    sa = src.study_area
    boundary_p = [r.in_crs(pcrs, which="boundary") for r in regions]
    buffer_p = [r.in_crs(pcrs, which="buffered") for r in regions]
    bbox_p = [shapely.box(*shapely.bounds(g)) for g in buffer_p]  # one per region
    extents = {}
    for name in src.modalities:
        seen = set()
        polys = []
        for r in regions:
            inp = src.inputs[r.id][name]
            if str(inp.path) in seen:
                continue
            seen.add(str(inp.path))
            g = inp.grid
            poly = window_polygons(
                g, np.array([0]), np.array([0]), g.width, g.height, points_per_edge=16
            )
            polys.append(maps.geoms_to(poly, g.crs, pcrs)[0])
        extents[name] = shapely.union_all(np.array(polys, dtype=object))
    view = _view(maps.union_bounds([*buffer_p, *bbox_p]), list(extents.values()))
    xb = maps.padded(view, 0.04)
    n_legend = 5 + len(extents)
    fig, ax, cax = maps.map_figure(xb, pcrs, legend_rows=(n_legend + 1) // 2, dpi=dpi)
    maps.nodata_background(ax)
    note = draw_background(fig, ax, src, regions, bg, pcrs, xb, styles=styles, cax=cax)
    colors = style.modality_colors(src.modalities)
    handles: list[Any] = []
    for name, geom in extents.items():
        h = maps.draw_outline(
            ax,
            geom,
            halo=False,
            color=colors[name],
            lw=1.0,
            ls=(0, (4, 3)),
            zorder=3,
            label=f"{name} raster extent ({_short(src.inputs[regions[0].id][name].grid.crs)})",
        )
        handles.append(h)
    h_bbox = None
    for g in bbox_p:
        h_bbox = maps.draw_outline(
            ax, g, color=style.BBOX, lw=1.6, zorder=4, label="bounding box of the buffered area"
        )
    buf_label = (
        f"buffered boundary ({sa.buffer_m:g} m)"
        if sa.buffer_m
        else "buffered boundary (buffer_m = 0: same as boundary)"
    )
    h_buf = None
    for g in buffer_p:
        h_buf = maps.draw_outline(ax, g, color=style.BUFFER, lw=1.6, zorder=5, label=buf_label)
    h_bnd = None
    for g in boundary_p:
        h_bnd = maps.draw_outline(ax, g, color=style.BOUNDARY, lw=1.8, zorder=6, label="boundary")
    if len(regions) > 1 and len(regions) <= 40:
        for r, g in zip(regions, boundary_p, strict=True):
            c = shapely.point_on_surface(g)
            ax.annotate(
                r.id,
                (c.x, c.y),
                ha="center",
                fontsize=7,
                color="white",
                path_effects=maps.HALO,
                zorder=7,
            )
    maps.format_axes(
        ax, pcrs, origin=(0.0, 0.0) if crs == "metric" else None, what="study-area centre"
    )
    maps.add_scale_bar(ax, pcrs)
    maps.add_north_arrow(ax)
    legend = [h_bnd, h_buf, h_bbox, *handles]
    legend = [h for h in legend if h is not None]
    legend.append(maps.nodata_handle(f"no data in the {bg} raster"))
    legend.append(Line2D([], [], lw=0, label=f"background: {bg}{f', {note}' if note else ''}"))
    maps.bottom_legend(fig, legend, ncol=2)
    area = _area_km2(regions)
    names = "" if [r.id for r in regions] == ["all"] else " " + ", ".join(r.id for r in regions[:4])
    if len(regions) > 4:
        names += f" ... ({len(regions)} regions)"
    keep_in = "bounding box of the buffered area" if sa.extent == "bbox" else "buffered boundary"
    if sa.keep_in == "boundary":
        keep_in = "original boundary"
    maps.titles(
        ax,
        f"Study area{names}: {area:,.1f} km² ({sa.boundary.name})",
        style.wrap(
            f"buffer {sa.buffer_m:g} m; patches are kept inside the {keep_in}",
            f"axes: {maps.crs_label(pcrs)}",
        ),
    )
    return fig


def _area_km2(regions: list[Region]) -> float:
    total = 0.0
    for r in regions:
        local = local_metric_crs(r.boundary, r.crs)
        total += float(shapely.area(r.in_crs(local, which="boundary"))) / 1e6
    return total


def _view(
    study: tuple[float, float, float, float], extents: list[Any]
) -> tuple[float, float, float, float]:
    """The study area's bounds, grown to show raster edges up to half its size away."""
    x0, y0, x1, y1 = study
    mx, my = 0.5 * (x1 - x0), 0.5 * (y1 - y0)
    limit = shapely.box(x0 - mx, y0 - my, x1 + mx, y1 + my)
    parts = [shapely.intersection(shapely.boundary(e), limit) for e in extents]
    parts = [p for p in parts if not shapely.is_empty(p)]
    if not parts:
        return study
    b = maps.union_bounds([shapely.box(*study), *parts])
    return b


def _short(crs: CRS) -> str:
    """``"EPSG:32616"`` (or the CRS's name when it has no EPSG code)."""
    return maps.crs_label(crs).split(" (")[0]
