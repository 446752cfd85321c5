"""Checks shared by the figure tests: a figure renders, is not blank, shows what it must."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pyproj import CRS

from geoharmony.geometry.footprint import to_crs


def pixels(fig: Figure) -> np.ndarray:
    """Render with Agg (no pyplot) and return the RGB pixels."""
    assert isinstance(fig, Figure)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def assert_not_blank(fig: Figure) -> np.ndarray:
    """The rendered figure has real content: pixel variance and many distinct colours."""
    px = pixels(fig)
    assert px.std() > 5, "the figure is (nearly) uniform"
    colours = np.unique(px.reshape(-1, 3)[:: max(1, px.size // 3 // 200_000)], axis=0)
    assert len(colours) > 50, f"only {len(colours)} colours: the figure looks empty"
    non_white = (px < 245).any(axis=-1).mean()
    assert non_white > 0.05, f"only {non_white:.1%} of the figure is not white"
    return px


def assert_extent_contains(ax: Axes, bounds: Any, *, tol: float = 1e-9) -> None:
    """The axes' view covers ``bounds`` = (xmin, ymin, xmax, ymax)."""
    fig = ax.get_figure()
    if fig is not None:
        FigureCanvasAgg(fig).draw()  # apply aspect and layout first
    x0, x1 = sorted(ax.get_xlim())
    y0, y1 = sorted(ax.get_ylim())
    b0, b1, b2, b3 = bounds
    span = max(b2 - b0, b3 - b1)
    eps = tol + 1e-9 * abs(span)
    assert x0 <= b0 + eps and x1 >= b2 - eps, f"x view {x0, x1} misses {b0, b2}"
    assert y0 <= b1 + eps and y1 >= b3 - eps, f"y view {y0, y1} misses {b1, b3}"


def boundary_bounds(path: Any, crs: CRS) -> tuple[float, float, float, float]:
    """Bounds of a boundary file's features in ``crs``, read independently of geoharmony."""
    import geopandas as gpd

    gdf = gpd.read_file(path)
    geom = shapely.union_all(np.asarray(gdf.geometry.values, dtype=object))
    geom = shapely.segmentize(geom, max(np.ptp(shapely.bounds(geom)[[0, 2]]), 1e-9) / 200)
    out = to_crs(np.array([geom]), CRS.from_user_input(gdf.crs), crs)[0]
    return tuple(float(v) for v in shapely.bounds(out))  # type: ignore[return-value]


def legend_texts(fig: Figure) -> list[str]:
    """Every legend label of the figure and its axes."""
    out = []
    for leg in [*fig.legends, *(a.get_legend() for a in fig.axes)]:
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
    return out
