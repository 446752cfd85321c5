"""Figure 5: one patch, every modality and label side by side, three ways.

1. ``extent``: each output in its own real-world extent (a local metric CRS centred on the
   patch; rasters in another CRS appear rotated, as they are on the ground);
2. ``pixels``: each output in pixel coordinates, the patch centre and centre pixel marked;
3. ``common``: all outputs on one common extent with every footprint outlined, so a
   10 m patch shows as the small square it is inside a 30 m one.

Images are drawn with an affine transform from pixel to map coordinates (no resampling);
masked pixels are transparent over a hatched "no data" background.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.transforms import Affine2D

from geoharmony.geometry.footprint import transform_points
from geoharmony.planning.windows import patch_centre_pixel
from geoharmony.viz import maps, style
from geoharmony.viz.footprints import describe, patch_crs
from geoharmony.viz.source import WGS84, Source, VizInputError, load_source, read_patch

VIEWS = ("extent", "pixels", "common")
VIEW_TEXT = {
    "extent": "own real-world extent",
    "pixels": "pixel grid",
    "common": "one common extent",
}


def pixel_to_map(src: Source, name: str, k: int, crs: Any) -> Affine2D:
    """Affine transform from window pixel ``(col, row)`` to map ``(x, y)`` in ``crs``.

    Exact at the window's corners' frame; over one patch a projection is affine to well
    under a pixel, so images are placed without resampling.
    """
    g = src.patch_grid(name, k)
    w, h = g.width, g.height
    x, y = g.to_xy(np.array([0, w, 0], float), np.array([0, 0, h], float))
    x, y = transform_points(x, y, g.crs, crs)
    a, d = (x[1] - x[0]) / w, (y[1] - y[0]) / w
    b, e = (x[2] - x[0]) / h, (y[2] - y[0]) / h
    return Affine2D.from_values(a, d, b, e, x[0], y[0])


def centre_pixel(src: Source, name: str, k: int) -> tuple[float, float]:
    """The patch centre in the output's window pixel coordinates ``(col, row)``."""
    return patch_centre_pixel(src.plan, name, k)


def plot_patch(
    source: Any,
    patch: int | str = 0,
    *,
    views: Sequence[str] = VIEWS,
    outputs: Sequence[str] | None = None,
    styles: Mapping[str, str] | None = None,
    dpi: float = 100,
) -> Figure:
    """One patch side by side for every modality and label, in up to three views.

    Parameters
    ----------
    source
        A dataset (pixels from the store) or a configuration (pixels read from the input
        rasters; labels only exist after extraction).
    patch
        Position in the index (``0``, ``-1``) or a ``patch_id``.
    views
        Any of ``"extent"``, ``"pixels"``, ``"common"`` (rows, in this order).
    outputs
        Outputs to show (default: every modality, then every label).
    styles
        Overrides of :func:`~geoharmony.viz.style.data_kind` per output, e.g.
        ``{"thickness": "continuous"}``.
    dpi
        Figure resolution.
    """
    src = load_source(source)
    bad = [v for v in views if v not in VIEWS]
    if bad or not views:
        raise VizInputError(f"views must be some of {', '.join(VIEWS)}, found {list(views)!r}")
    k = src.patch_position(patch)
    names = list(outputs) if outputs else list(src.outputs)
    for n in names:
        if n not in src.outputs:
            raise VizInputError(f"{src.label}: no output {n!r}; outputs: {', '.join(src.outputs)}")
    arrays = read_patch(src, k, names)
    names = [n for n in names if n in arrays]
    row = src.index.iloc[k]
    rid = str(row["region"])
    crs = patch_crs(src, k)
    colors = style.modality_colors(src.modalities)
    foot = {n: maps.geoms_to([src.footprint(n, k)], WGS84, crs)[0] for n in names}
    common = maps.union_bounds(foot.values())
    ncol, nrow = len(names), len(views)
    fig = style.new_figure(max(3.3 * ncol, 7.0) + 0.4, 3.25 * nrow + 2.4, dpi=dpi)
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for j, n in enumerate(names):
        o = src.outputs[n]
        inp = src.inputs[rid].get(n)
        kind = style.data_kind(n, dtype=o.dtype, bands=o.bands, output_kind=o.kind, override=styles)
        r = style.render(
            arrays[n],
            arrays[f"{n}_mask"],
            kind,
            res_m=src.resolution_m(n, rid),
            codes=o.codes,
            name=n,
            band_numbers=inp.bands if inp is not None else None,
        )
        aff = pixel_to_map(src, n, k, crs)
        cx, cy = centre_pixel(src, n, k)
        valid = float(np.mean(arrays[f"{n}_mask"]))
        for i, view in enumerate(views):
            ax = axes[i][j]
            if view == "pixels":
                maps.nodata_background(ax)
                ax.imshow(r.rgba, extent=(0, o.width, o.height, 0), interpolation="nearest")
                ax.plot(cx, cy, marker="+", ms=14, mew=2, color="red", zorder=5)
                ax.add_patch(
                    Rectangle(
                        (math.floor(cx), math.floor(cy)),
                        1,
                        1,
                        fill=False,
                        ec="red",
                        lw=1.2,
                        zorder=5,
                    )
                )
                ax.set_xlim(0, o.width)
                ax.set_ylim(o.height, 0)
                ax.set_xlabel("column")
                ax.set_ylabel(f"{VIEW_TEXT[view]}\nrow" if j == 0 else "row")
            else:
                ax.set_facecolor("white")
                maps.draw_polygon(
                    ax,
                    foot[n],
                    facecolor=maps.NODATA_FACE,
                    edgecolor=maps.NODATA_EDGE,
                    hatch=maps.NODATA_HATCH,
                    lw=0,
                    zorder=1,
                )
                ax.imshow(
                    r.rgba,
                    extent=(0, o.width, o.height, 0),
                    interpolation="nearest",
                    transform=aff + ax.transData,
                    zorder=2,
                )
                if view == "common":
                    for m in names:
                        if m in src.modalities:
                            maps.draw_outline(
                                ax, foot[m], halo=False, color=colors[m], lw=1.3, zorder=3
                            )
                    maps.set_extent(ax, common, pad=0.03)
                else:
                    maps.set_extent(ax, maps.union_bounds([foot[n]]), pad=0.03)
                ax.plot(0, 0, marker="+", ms=14, mew=2, color="red", zorder=5)
                maps.format_axes(ax, crs, origin=(0.0, 0.0), what="centre")
                if j == 0:
                    ax.set_ylabel(f"{VIEW_TEXT[view]}\n{ax.get_ylabel()}")
                else:
                    ax.set_ylabel("")
            ax.tick_params(labelsize=7)
            if i == 0:
                title = f"{n}\n{describe(src, n, k)}\nvalid {valid:.0%}" + (
                    f"; {r.note}" if r.note else ""
                )
                ax.set_title(style.wrap(*title.split("\n"), width=44), fontsize=8.5)
        col = [axes[i][j] for i in range(nrow)]
        r.colorbar(fig, col, location="bottom", shrink=0.9, pad=0.01, aspect=25)
    handles: list[Any] = [
        Line2D([], [], ls="", marker="+", ms=10, mew=2, color="red", label="patch centre"),
        Rectangle((0, 0), 1, 1, fill=False, ec="red", label="pixel holding the centre"),
        maps.nodata_handle("no data (masked pixels are transparent)"),
    ]
    if "common" in views:
        handles += [
            Line2D([], [], color=colors[m], lw=1.3, label=f"{m} footprint")
            for m in names
            if m in src.modalities
        ]
    fig_w = fig.get_figwidth()
    fig.legend(
        handles=handles,
        loc="outside lower center",
        frameon=False,
        fontsize=8,
        ncol=max(1, min(len(handles), int(fig_w / 2.4))),
    )
    fig.suptitle(
        style.wrap(
            f"Patch {row['patch_id']} (#{k}; region {rid}; split {row.get('split', '-')}; "
            f"{src.mode} mode) at {abs(float(row['lat'])):.5f}°{'N' if row['lat'] >= 0 else 'S'}, "
            f"{abs(float(row['lon'])):.5f}°{'E' if row['lon'] >= 0 else 'W'}",
            "rows: "
            + "; ".join(f"{i + 1}. {VIEW_TEXT[v]}" for i, v in enumerate(views))
            + (
                " (map axes: metres in a local CRS centred on the patch)"
                if set(views) - {"pixels"}
                else ""
            ),
            width=int(fig_w * 10),
        ),
        fontsize=11,
    )
    return fig
