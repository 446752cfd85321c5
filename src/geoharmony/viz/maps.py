"""Map furniture shared by the figures: CRSs, backgrounds, outlines, scale bars, axes.

Every map is drawn in exactly one CRS (geographic axes in degrees, or projected axes in
metres); everything drawn on it is transformed into that CRS first, so degrees and
metres are never mixed. Background rasters are read decimated and warped onto a display
grid only for drawing, through :mod:`geoharmony.io` (the same reads, nodata and warps
as extraction).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import shapely
from affine import Affine
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.patches import Polygon as MplPolygon
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import offset_copy
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
from pyproj import CRS, Geod

from geoharmony.geometry.footprint import to_crs
from geoharmony.geometry.grid import Grid
from geoharmony.io.raster_info import RasterInfo
from geoharmony.io.warp import read_onto

NODATA_FACE = "#e4e4e4"
NODATA_EDGE = "#b0b0b0"
NODATA_HATCH = "////"
HALO = [patheffects.withStroke(linewidth=3.2, foreground="#1a1a1a")]
_GEOD = Geod(ellps="WGS84")


# -- CRSs and axes -------------------------------------------------------------------
def crs_label(crs: CRS) -> str:
    """``"EPSG:32616 (WGS 84 / UTM zone 16N)"``, or a description of a custom CRS."""
    code = crs.to_epsg()
    if code is not None:
        return f"EPSG:{code} ({crs.name})"
    op = crs.coordinate_operation
    if op is not None and "azimuthal equidistant" in op.method_name.lower():
        p = {q.name.lower(): float(q.value) for q in op.params}
        lat = p.get("latitude of natural origin", 0.0)
        lon = p.get("longitude of natural origin", 0.0)
        return f"local azimuthal equidistant centred on {_lat(lat)}, {_lon(lon)}"
    return crs.name or crs.to_string()


def _lat(v: float) -> str:
    return f"{abs(v):.4f}°{'N' if v >= 0 else 'S'}"


def _lon(v: float) -> str:
    return f"{abs(v):.4f}°{'E' if v >= 0 else 'W'}"


def metres_per_unit(crs: CRS, x: float, y: float) -> tuple[float, float]:
    """Ground metres per CRS unit along x and y at ``(x, y)`` (degrees via the geodesic)."""
    if crs.is_geographic:
        _, _, dx = _GEOD.inv(x - 0.005, y, x + 0.005, y)
        _, _, dy = _GEOD.inv(x, y - 0.005, x, y + 0.005)
        return (dx / 0.01, dy / 0.01)
    try:
        f = float(crs.axis_info[0].unit_conversion_factor or 1.0)
    except (IndexError, AttributeError):
        f = 1.0
    return (f, f)


def format_axes(
    ax: Axes, crs: CRS, *, origin: tuple[float, float] | None = None, what: str = "centre"
) -> None:
    """Axis labels, tick format and aspect for maps in ``crs``.

    Geographic CRSs get degree labels and an aspect of ``1 / cos(latitude)`` (so shapes
    are not stretched); projected CRSs get kilometre (or metre) ticks. With ``origin`` (a
    local CRS centred on ``what``) the axes read "east of the ``what``".
    """
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    if crs.is_geographic:
        lat = 0.5 * (y0 + y1)
        ax.set_aspect(1.0 / max(math.cos(math.radians(lat)), 0.05))
        ax.xaxis.set_major_formatter(
            FuncFormatter(lambda v, _: f"{abs(v):.3f}°{'E' if v >= 0 else 'W'}")
        )
        ax.yaxis.set_major_formatter(
            FuncFormatter(lambda v, _: f"{abs(v):.3f}°{'N' if v >= 0 else 'S'}")
        )
        ax.set_xlabel("longitude")
        ax.set_ylabel("latitude")
        ax.tick_params(axis="x", labelrotation=30)
        return
    ax.set_aspect("equal")
    f = metres_per_unit(crs, 0, 0)[0]
    span = max(abs(x1 - x0), abs(y1 - y0)) * f
    km = span > 4000
    unit = "km" if km else "m"

    def fmt(v: float, _: Any) -> str:
        m = v * f
        return f"{m / 1000:g}" if km else f"{m:g}"

    ax.xaxis.set_major_formatter(FuncFormatter(fmt))
    ax.yaxis.set_major_formatter(FuncFormatter(fmt))
    if origin is not None:
        ax.set_xlabel(f"east of the {what} ({unit})")
        ax.set_ylabel(f"north of the {what} ({unit})")
    else:
        ax.set_xlabel(f"easting ({unit})")
        ax.set_ylabel(f"northing ({unit})")


def map_figure(
    bounds: Sequence[float],
    crs: CRS,
    *,
    colorbar: bool = True,
    legend_rows: int = 3,
    subtitle_lines: int = 2,
    width: float = 9.5,
    dpi: float = 110,
) -> tuple[Figure, Axes, Axes | None]:
    """A figure sized so a map of ``bounds`` fills its axes exactly (no aspect shrink).

    Margins are fixed in inches: titles above, tick labels left and below, a colour bar
    on the right, the legend at the bottom. (Constrained layout and fixed-aspect maps do
    not mix reliably: titles end up clipped or overlapping.)

    Returns
    -------
    fig, ax, cax
        The figure, the map axes and the colour-bar axes (None without a colour bar).
    """
    x0, y0, x1, y1 = bounds
    ratio = (y1 - y0) / max(x1 - x0, 1e-12)
    if crs.is_geographic:
        ratio /= max(math.cos(math.radians(0.5 * (y0 + y1))), 0.05)
    left, right = 1.25, (1.35 if colorbar else 0.35)
    top = 0.45 + 0.19 * subtitle_lines
    bottom = (0.95 if crs.is_geographic else 0.7) + 0.22 * legend_rows + 0.1
    mw = width - left - right
    mh = mw * ratio
    if mh > 8.0 or mh < 3.0:
        mh = float(np.clip(mh, 3.0, 8.0))
        mw = mh / ratio if ratio > 0 else mw
    height = top + mh + bottom
    fig = Figure(figsize=(width, height), dpi=dpi)
    x_left = left + 0.5 * (width - left - right - mw)
    ax = fig.add_axes((x_left / width, bottom / height, mw / width, mh / height))
    cax = None
    if colorbar:
        cx = x_left + mw + 0.25
        cax = fig.add_axes(
            (cx / width, (bottom + 0.2 * mh) / height, 0.17 / width, 0.6 * mh / height)
        )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    return fig, ax, cax


def bottom_legend(fig: Figure, handles: Sequence[Any], *, ncol: int = 2) -> None:
    """The legend of a :func:`map_figure`, centred in its bottom margin."""
    fig.legend(
        handles=list(handles),
        loc="lower center",
        bbox_to_anchor=(0.5, 0.005),
        ncol=ncol,
        frameon=False,
        fontsize=9,
    )


def titles(ax: Axes, headline: str, subtitle: str = "") -> None:
    """A headline and a smaller subtitle, both attached to the axes.

    (A figure ``suptitle`` can collide with the axes title when constrained layout meets
    a fixed-aspect map; text attached to the axes moves with it.)
    """
    n = subtitle.count("\n") + 1 if subtitle else 0
    ax.set_title(headline, fontsize=12, pad=6 + 11.5 * n)
    if subtitle:
        ax.text(
            0.5,
            1.0,
            subtitle,
            ha="center",
            va="bottom",
            fontsize=9,
            linespacing=1.15,
            transform=offset_copy(ax.transAxes, fig=ax.get_figure(root=True), y=4, units="points"),
        )


def _nice(v: float) -> float:
    """The largest 1, 2 or 5 x 10^k not above ``v``."""
    if v <= 0:
        return 1.0
    e = math.floor(math.log10(v))
    for m in (5, 2, 1):
        if m * 10**e <= v:
            return float(m * 10**e)
    return float(10**e)


def add_scale_bar(ax: Axes, crs: CRS, *, loc: str = "lower right", fraction: float = 0.25) -> None:
    """A scale bar about ``fraction`` of the axes width, in true ground metres."""
    x0, x1 = sorted(ax.get_xlim())
    y0, y1 = sorted(ax.get_ylim())
    mx, _ = metres_per_unit(crs, 0.5 * (x0 + x1), 0.5 * (y0 + y1))
    metres = _nice((x1 - x0) * mx * fraction)
    label = f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"
    bar = AnchoredSizeBar(
        ax.transData,
        metres / mx,
        label,
        loc=loc,
        pad=0.4,
        borderpad=0.6,
        sep=4,
        frameon=True,
        size_vertical=(y1 - y0) * 0.008,
        color="#111111",
    )
    bar.patch.set_alpha(0.8)
    bar.patch.set_edgecolor("#999999")
    ax.add_artist(bar)


def add_north_arrow(ax: Axes) -> None:
    """A small "N" arrow in the upper left corner (grid north of the plotted CRS)."""
    ann = ax.annotate(
        "N",
        xy=(0.05, 0.95),
        xytext=(0.05, 0.84),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=10,
        fontweight="bold",
        arrowprops={"arrowstyle": "-|>", "color": "#111111", "lw": 1.5},
        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#999999", "alpha": 0.8},
    )
    if ann.arrow_patch is not None:
        ann.arrow_patch.set_path_effects(
            [patheffects.withStroke(linewidth=3.5, foreground="white")]
        )


def set_extent(ax: Axes, bounds: Sequence[float], *, pad: float = 0.04) -> None:
    """Axes limits on ``(xmin, ymin, xmax, ymax)`` plus a margin."""
    x0, y0, x1, y1 = bounds
    dx, dy = (x1 - x0) * pad, (y1 - y0) * pad
    if dx == 0 and dy == 0:
        dx = dy = 1.0
    ax.set_xlim(x0 - dx, x1 + dx)
    ax.set_ylim(y0 - dy, y1 + dy)


def padded(bounds: Sequence[float], pad: float) -> tuple[float, float, float, float]:
    """``bounds`` grown by ``pad`` times their size on every side."""
    x0, y0, x1, y1 = bounds
    dx, dy = (x1 - x0) * pad, (y1 - y0) * pad
    return (x0 - dx, y0 - dy, x1 + dx, y1 + dy)


def nodata_background(ax: Axes) -> None:
    """Hatch the axes background: wherever nothing is drawn, there is no data."""
    ax.set_facecolor(NODATA_FACE)
    ax.patch.set_hatch(NODATA_HATCH)
    ax.patch.set_edgecolor(NODATA_EDGE)


def nodata_handle(label: str = "no data") -> Patch:
    """Legend handle for the hatched no-data background."""
    return Patch(facecolor=NODATA_FACE, edgecolor=NODATA_EDGE, hatch=NODATA_HATCH, label=label)


def union_bounds(geoms: Iterable[Any]) -> tuple[float, float, float, float]:
    """Bounds of several geometries together."""
    b = np.array([shapely.bounds(g) for g in geoms if g is not None and not shapely.is_empty(g)])
    return (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))


# -- geometry drawing ------------------------------------------------------------------
def rings(geom: Any) -> list[np.ndarray]:
    """Every ring (exterior and holes) of a (multi)polygon as ``(n, 2)`` arrays."""
    out = []
    for part in shapely.get_parts(geom):
        if shapely.get_type_id(part) != 3:
            continue
        out.append(np.asarray(shapely.get_coordinates(shapely.get_exterior_ring(part))))
        for k in range(shapely.get_num_interior_rings(part)):
            out.append(np.asarray(shapely.get_coordinates(shapely.get_interior_ring(part, k))))
    return out


def draw_outline(ax: Axes, geom: Any, *, halo: bool = True, **kw: Any) -> Line2D:
    """Draw a polygon's rings as lines; return a legend handle (a Line2D proxy)."""
    label = kw.pop("label", None)
    effects = HALO if halo else None
    for ring in rings(geom):
        ax.plot(ring[:, 0], ring[:, 1], path_effects=effects, **kw)
    return Line2D([], [], label=label, path_effects=effects, **kw)


def draw_polygon(ax: Axes, geom: Any, **kw: Any) -> MplPolygon:
    """Draw a polygon's exterior(s) as filled patches; return the first as a handle."""
    first: MplPolygon | None = None
    for part in shapely.get_parts(geom):
        if shapely.get_type_id(part) != 3:
            continue
        xy = np.asarray(shapely.get_coordinates(shapely.get_exterior_ring(part)))
        p = MplPolygon(xy, closed=True, **kw)
        ax.add_patch(p)
        first = first or p
    if first is None:
        first = MplPolygon(np.zeros((3, 2)), closed=True, **kw)
    return first


def geoms_to(geoms: Any, src: CRS, dst: CRS) -> np.ndarray:
    """Transform geometries between CRSs (vertex-wise)."""
    return to_crs(np.asarray(list(geoms), dtype=object), src, dst)


# -- background rasters ---------------------------------------------------------------
def read_background(
    info: RasterInfo,
    dst_crs: CRS,
    dst_bounds: Sequence[float],
    *,
    bands: Sequence[int] = (1,),
    max_px: int = 900,
) -> tuple[np.ndarray, np.ndarray, Affine, tuple[float, float]]:
    """A raster read decimated and warped onto a display grid covering ``dst_bounds``.

    Reading, nodata and warping are :func:`geoharmony.io.warp.read_onto`'s; this only
    chooses the display grid (at most ``max_px`` pixels a side).

    Returns
    -------
    data, valid, transform, res_m
        ``data`` (bands, h, w) float64 with NaN outside/nodata, ``valid`` (h, w), the
        display grid's transform and its pixel size in ground metres (for hillshades).
    """
    x0, y0, x1, y1 = dst_bounds
    res = max(x1 - x0, y1 - y0) / max_px
    w = max(math.ceil((x1 - x0) / res), 2)
    h = max(math.ceil((y1 - y0) / res), 2)
    dst = Grid(dst_crs, Affine(res, 0, x0, 0, -res, y1), w, h)
    out, valid = read_onto(dataclasses.replace(info, bands=tuple(bands)), dst)
    mx, my = metres_per_unit(dst_crs, 0.5 * (x0 + x1), 0.5 * (y0 + y1))
    return out, valid, dst.transform, (res * mx, res * my)


def image_extent(transform: Affine, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """``imshow`` extent ``(left, right, bottom, top)`` of a north-up grid."""
    h, w = shape
    left, top = transform @ (0, 0)
    right, bottom = transform @ (w, h)
    return (left, right, bottom, top)
