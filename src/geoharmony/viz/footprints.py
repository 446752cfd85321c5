"""Figure 3: one patch's true ground footprint in every modality, in a local metric CRS.

The polygons come from the index (so a raster in another CRS shows its real rotation).
They are drawn in an azimuthal-equidistant CRS centred on the patch (chosen from the
data, never a fixed UTM zone), labelled with resolution, size in pixels and in metres,
and area relative to the reference. A zoom beside it shows each modality's pixel edges
around the patch centre and where each window's centre fell (within half a pixel).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import shapely
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from pyproj import CRS

from geoharmony.geometry.footprint import rotation_deg, transform_points
from geoharmony.planning import windows
from geoharmony.viz import maps, style
from geoharmony.viz.source import WGS84, Source, fmt_m, load_source


def patch_crs(src: Source, k: int) -> CRS:
    """A local azimuthal-equidistant CRS centred on patch ``k`` (true metres around it)."""
    return windows.patch_crs(src.plan, k)


def corners(src: Source, name: str, k: int, crs: CRS) -> np.ndarray:
    """Window corners (top-left, top-right, bottom-right, bottom-left) of an output in ``crs``."""
    return windows.patch_corners(src.plan, name, k, crs)


def describe(src: Source, name: str, k: int) -> str:
    """``"10 m, 224 x 224 px = 2.24 x 2.24 km"`` for output ``name`` of patch ``k``."""
    rid = str(src.index["region"].iloc[k])
    o = src.outputs[name]
    rx, ry = src.resolution_m(name, rid)
    res = f"{rx:.3g} m" if abs(rx - ry) < 0.01 * rx else f"{rx:.3g} x {ry:.3g} m"
    return (
        f"{res}, {o.width}\u00d7{o.height} px = {fmt_m(o.width * rx)} \u00d7 {fmt_m(o.height * ry)}"
    )


def plot_footprints(
    source: Any,
    patch: int | str = 0,
    *,
    styles: Mapping[str, str] | None = None,
    dpi: float = 110,
) -> Figure:
    """Every modality's ground footprint for one patch, in a local metric CRS.

    Parameters
    ----------
    source
        A configuration or a dataset (see :func:`~geoharmony.viz.source.load_source`).
    patch
        Position in the index (``0``, ``-1``) or a ``patch_id``.
    styles
        Unused here (accepted so every figure takes the same options).
    dpi
        Figure resolution.
    """
    src = load_source(source)
    k = src.patch_position(patch)
    row = src.index.iloc[k]
    crs = patch_crs(src, k)
    mods = src.modalities
    colors = style.modality_colors(mods)
    polys = {m: maps.geoms_to([src.footprint(m, k)], WGS84, crs)[0] for m in mods}
    ref_area = float(shapely.area(polys[src.reference]))
    fig = style.new_figure(14.0, 9.0, dpi=dpi)
    ax, zoom = fig.subplots(1, 2, width_ratios=[1.45, 1.0])
    view = maps.union_bounds(polys.values())
    region = src.region(str(row["region"]))
    bnd = region.in_crs(crs, which="boundary")
    handles: list[Any] = []
    order = sorted(mods, key=lambda m: -float(shapely.area(polys[m])))
    rid = str(row["region"])
    ref_rot = rotation_deg(corners(src, src.reference, k, crs))
    drawn: list[str] = []
    for m in order:
        c = corners(src, m, k, crs)
        rot = rotation_deg(c) - ref_rot
        ratio = float(shapely.area(polys[m])) / ref_area if ref_area > 0 else float("nan")
        twin = next((d for d in drawn if _same(polys[d], polys[m])), None)
        extra = [maps.crs_label(src.inputs[rid][m].grid.crs).split(" (")[0]]
        if m != src.reference:
            extra.append(f"{ratio:.3g}\u00d7 the {src.reference} area")
            if abs(rot) > 0.01:
                extra.append(f"rotated {rot:+.2f}° from {src.reference}")
        if twin is not None:
            extra.append(f"same footprint as {twin}")
        label = f"{m}: {describe(src, m, k)} ({'; '.join(extra)})"
        if twin is None:
            maps.draw_polygon(
                ax, polys[m], facecolor=colors[m], alpha=0.13, edgecolor="none", zorder=2
            )
        ls = (0, (5, 5)) if twin is not None else "-"
        maps.draw_outline(ax, polys[m], halo=False, color=colors[m], lw=2.2, ls=ls, zorder=3)
        ax.plot(*c[0], marker="o", ms=4, color=colors[m], zorder=4)
        handles.append(Line2D([], [], color=colors[m], lw=2.2, ls=ls, label=label))
        drawn.append(m)
    maps.draw_outline(ax, bnd, color=style.BOUNDARY, lw=1.4, zorder=5)
    handles.append(
        Line2D(
            [],
            [],
            color=style.BOUNDARY,
            lw=1.4,
            path_effects=maps.HALO,
            label="study-area boundary",
        )
    )
    ax.plot(0, 0, marker="+", ms=16, mew=2.2, color="black", zorder=6)
    handles.append(
        Line2D([], [], ls="", marker="+", ms=12, mew=2, color="black", label="patch centre")
    )
    handles.append(
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            ms=4,
            color="#555555",
            label="window's first pixel corner (row 0, col 0)",
        )
    )
    maps.set_extent(ax, view, pad=0.06)
    maps.format_axes(ax, crs, origin=(0.0, 0.0), what="patch centre")
    maps.add_scale_bar(ax, crs)
    maps.add_north_arrow(ax)
    ax.grid(True, color="#dddddd", lw=0.6, zorder=0)
    ax.set_axisbelow(True)
    labs = [n for n in src.labels]
    sub = [f"axes: {maps.crs_label(crs)} (metres are true around the centre)"]
    if labs:
        sub.append(
            "labels "
            + ", ".join(f"{n} (on the {src.outputs[n].grid_of} grid)" for n in labs)
            + " share their grid's footprint"
        )
    ax.set_title(style.wrap(*sub, width=80), fontsize=9)
    _zoom(zoom, src, k, crs, colors)
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False, fontsize=9
    )
    fig.suptitle(
        f"Ground footprints of patch {row['patch_id']} (#{k}, {src.mode} mode): "
        f"{_lat(float(row['lat']))}, {_lon(float(row['lon']))}",
        fontsize=12,
    )
    return fig


def _same(a: Any, b: Any) -> bool:
    """True when two footprints coincide (within 0.1 % of their area)."""
    area = max(float(shapely.area(a)), 1e-12)
    return float(shapely.area(shapely.symmetric_difference(a, b))) < 1e-3 * area


def _lat(v: float) -> str:
    return f"{abs(v):.5f}°{'N' if v >= 0 else 'S'}"


def _lon(v: float) -> str:
    return f"{abs(v):.5f}°{'E' if v >= 0 else 'W'}"


def _zoom(ax: Any, src: Source, k: int, crs: CRS, colors: Mapping[str, str]) -> None:
    """Pixel edges of every modality around the patch centre, and each window's centre."""
    mods = src.modalities
    rid = str(src.index["region"].iloc[k])
    res = max(max(src.resolution_m(m, rid)) for m in mods)
    half = 1.6 * res
    row = src.index.iloc[k]
    handles = []
    for m in sorted(mods, key=lambda m: -max(src.resolution_m(m, rid))):
        g, win = src.window(m, k)
        cc = win.col_off + win.width / 2.0  # window centre (pixel coords)
        rc = win.row_off + win.height / 2.0
        n = math.ceil(half / min(src.resolution_m(m, rid))) + 2
        t = np.linspace(-n, n, 4 * n + 1)
        d = np.arange(-n, n + 1, dtype=float)[:, None]
        fc, fr = math.floor(cc), math.floor(rc)
        # constant-column lines, then constant-row lines: (2 * (2n + 1), len(t)) points
        cols = np.vstack(
            [np.broadcast_to(fc + d, (len(d), len(t))), np.broadcast_to(fc + t, (len(d), len(t)))]
        )
        rows = np.vstack(
            [np.broadcast_to(fr + t, (len(d), len(t))), np.broadcast_to(fr + d, (len(d), len(t)))]
        )
        x, y = g.to_xy(cols.ravel(), rows.ravel())
        x, y = transform_points(x, y, g.crs, crs)
        x, y = x.reshape(cols.shape), y.reshape(cols.shape)
        for line in range(cols.shape[0]):
            ax.plot(x[line], y[line], color=colors[m], lw=1.0, alpha=0.8, zorder=2)
        x, y = g.to_xy(np.array([cc]), np.array([rc]))
        x, y = transform_points(x, y, g.crs, crs)
        off = float(row.get(f"{m}_offset_m", 0.0)) if src.mode != "resample" else 0.0
        ax.plot(x, y, marker="o", ms=9, mfc=colors[m], mec="black", zorder=4)
        handles.append(
            Line2D(
                [],
                [],
                color=colors[m],
                marker="o",
                mfc=colors[m],
                mec="black",
                label=f"{m} pixel edges and window centre ({off:.2f} m from patch centre)",
            )
        )
    ax.plot(0, 0, marker="+", ms=22, mew=2.4, color="black", zorder=5)
    handles.append(
        Line2D([], [], ls="", marker="+", ms=12, mew=2, color="black", label="patch centre")
    )
    ax.set_xlim(-half, half)
    ax.set_ylim(-half, half)
    ax.set_aspect("equal")
    ax.set_xlabel("east of the patch centre (m)")
    ax.set_ylabel("north of the patch centre (m)")
    ax.set_title(
        style.wrap(
            "Zoom on the centre: every window is the one of its raster whose centre is "
            "nearest the patch centre (at most ½ pixel away per axis)",
            width=60,
        ),
        fontsize=9,
    )
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8, frameon=False
    )
