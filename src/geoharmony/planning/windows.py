"""Which grid and window each output of each patch uses: answered here, once.

Every consumer (task reads, label burns, georeferenced writers, footprints, figures, QA)
asks :func:`output_windows` or one of its wrappers; nobody re-derives it from table
columns.

* An output lies on the grid of the modality named by its ``OutputSpec.grid_of`` (a
  label shares its modality's grid), in that modality's window of the patch
  (``<m>_col_off``/``<m>_row_off`` in the plan's table), ``spec.width`` x ``spec.height``.
* In ``resample`` mode every output lies on the *reference* grid, in the reference
  lattice window of the patch (``(j * stride, i * stride)``, ``patch_size`` pixels).

The *source* window a modality's pixels are read from (:func:`source_windows`) is the
same window in ``native``/``footprint`` mode and, in ``resample`` mode, the rectangle of
its own raster covering the destination window plus the warp kernel's margin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geoharmony.geometry.footprint import transform_points
from geoharmony.geometry.grid import Grid
from geoharmony.geometry.window import Window, Windows, subgrid
from geoharmony.io.raster_info import RasterInfo
from geoharmony.planning.plan import OutputSpec, Plan
from geoharmony.planning.study_area import local_metric_crs

WGS84 = CRS.from_epsg(4326)


def output_windows(
    spec: OutputSpec,
    infos: Mapping[str, RasterInfo],
    rows: pd.DataFrame,
    *,
    mode: str,
    reference: str,
    stride: int,
) -> tuple[Grid, Windows]:
    """The grid output ``spec`` lies on and each row's window on it (rows of one region).

    Parameters
    ----------
    spec
        The output's :class:`~geoharmony.planning.plan.OutputSpec` (``grid_of``,
        ``width``, ``height``).
    infos
        The region's rasters (modality -> :class:`RasterInfo`).
    rows
        Rows of the plan's table, all of one region.
    mode, reference, stride
        The plan's mode, reference modality and lattice stride (pixels).
    """
    if mode == "resample":  # every output lies on the reference patch grid
        grid = infos[reference].grid
        c0 = rows["lattice_j"].to_numpy() * stride
        r0 = rows["lattice_i"].to_numpy() * stride
    else:
        grid = infos[spec.grid_of].grid
        c0 = rows[f"{spec.grid_of}_col_off"].to_numpy()
        r0 = rows[f"{spec.grid_of}_row_off"].to_numpy()
    return grid, Windows.of(c0, r0, spec.width, spec.height)


def source_windows(rows: pd.DataFrame, name: str) -> Windows:
    """The windows modality ``name``'s pixels are read from (its own raster's pixels)."""
    return Windows.of(
        rows[f"{name}_col_off"].to_numpy(),
        rows[f"{name}_row_off"].to_numpy(),
        rows[f"{name}_width"].to_numpy(),
        rows[f"{name}_height"].to_numpy(),
    )


@dataclass(frozen=True, slots=True)
class RegionWindows:
    """One region's share of a set of rows: positions in those rows, grid and windows."""

    region: str
    positions: np.ndarray
    grid: Grid
    windows: Windows


def region_windows(
    plan: Plan, name: str, rows: pd.DataFrame | None = None, *, by_grid: bool = False
) -> list[RegionWindows]:
    """:func:`output_windows` of output ``name`` for a plan's rows, region by region.

    ``rows`` defaults to the whole table; ``positions`` index into ``rows``. With
    ``by_grid``, regions that read the very same rasters are computed together (one call
    for a thousand regions sharing one set of rasters; ``region`` is then the group's
    first), for callers that need each patch's window, not its region.
    """
    t = plan.table if rows is None else rows
    spec = plan.outputs[name]
    regions = t["region"].astype(str).to_numpy()
    groups: dict[Any, list[str]] = {}
    for rid in pd.unique(regions):
        infos = plan.sources[str(rid)]
        key = tuple(id(i) for i in infos.values()) if by_grid else rid
        groups.setdefault(key, []).append(str(rid))
    positions = pd.Series(np.arange(len(t))).groupby(regions, sort=False).indices
    out = []
    for members in groups.values():
        at = np.sort(np.concatenate([positions[r] for r in members]))
        grid, ws = output_windows(
            spec,
            plan.sources[members[0]],
            t.iloc[at],
            mode=plan.mode,
            reference=plan.reference,
            stride=plan.config.grid.stride,
        )
        out.append(RegionWindows(members[0], at, grid, ws))
    return out


def patch_window(plan: Plan, name: str, k: int) -> tuple[Grid, Window]:
    """The grid output ``name`` of patch ``k`` lies on, and the patch's window on it."""
    row = plan.table.iloc[[k]]
    grid, ws = output_windows(
        plan.outputs[name],
        plan.sources[str(row["region"].iloc[0])],
        row,
        mode=plan.mode,
        reference=plan.reference,
        stride=plan.config.grid.stride,
    )
    return grid, ws[0]


def patch_grid(plan: Plan, name: str, k: int) -> Grid:
    """The grid of output ``name``'s pixels in patch ``k`` (its window as a sub-grid).

    Pixel ``(col, row)`` of the stored array ``arr[:, row, col]`` has its top-left
    corner at ``patch_grid(...).transform * (col, row)``.
    """
    grid, win = patch_window(plan, name, k)
    return subgrid(grid, win)


def patch_centre_pixel(plan: Plan, name: str, k: int) -> tuple[float, float]:
    """Where patch ``k``'s centre falls in output ``name``'s window, pixels ``(col, row)``.

    The window centre minus the residual ``(dcol, drow)`` the plan recorded for the
    modality whose grid the output lies on (0 in resample mode: windows are centred).
    """
    o = plan.outputs[name]
    if plan.mode == "resample":
        return (o.width / 2.0, o.height / 2.0)
    row = plan.table.iloc[k]
    return (
        o.width / 2.0 - float(row[f"{o.grid_of}_dcol"]),
        o.height / 2.0 - float(row[f"{o.grid_of}_drow"]),
    )


def output_grid(plan: Plan, name: str, region: str | None = None) -> Grid:
    """The (whole) grid output ``name`` lies on in a region (default: the first)."""
    rid = region or plan.regions[0].id
    infos = plan.sources[rid]
    if plan.mode == "resample":
        return infos[plan.reference].grid
    return infos[plan.outputs[name].grid_of].grid


def patch_corners(plan: Plan, name: str, k: int, crs: CRS) -> np.ndarray:
    """Corners of output ``name``'s window for patch ``k`` in ``crs``, ``(4, 2)``.

    Top-left, top-right, bottom-right, bottom-left (pixel order, whatever the ground
    orientation).
    """
    g = patch_grid(plan, name, k)
    x, y = g.to_xy(
        np.array([0, g.width, g.width, 0], float), np.array([0, 0, g.height, g.height], float)
    )
    return np.column_stack(transform_points(x, y, g.crs, crs))


def patch_crs(plan: Plan, k: int) -> CRS:
    """A local azimuthal-equidistant CRS centred on patch ``k`` (true metres around it)."""
    row = plan.table.iloc[k]
    return local_metric_crs(shapely.Point(float(row["lon"]), float(row["lat"])), WGS84)
