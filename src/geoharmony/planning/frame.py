"""A plan as a GeoDataFrame: centre points plus every modality's footprint (EPSG:4326)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import shapely

from geoharmony.geometry.footprint import to_crs, windows_polygons
from geoharmony.planning.config import Config
from geoharmony.planning.plan import WGS84, Plan, compute_plan
from geoharmony.planning.windows import region_windows


def footprints(plan: Plan, name: str, rows: pd.DataFrame | None = None) -> np.ndarray:
    """Footprint polygons (EPSG:4326) of output ``name``'s windows for the plan's rows."""
    t = plan.table if rows is None else rows
    out = np.empty(len(t), dtype=object)
    spec = plan.outputs[name]
    src = plan.reference if plan.mode == "resample" else spec.grid_of
    for part in region_windows(plan, name, t, by_grid=True):
        if plan.sources[part.region][src].missing:  # on_missing = "masked": no footprint
            out[part.positions] = None
            continue
        g = part.grid
        k = 1 if g.crs == WGS84 else 8
        polys = windows_polygons(g, part.windows, points_per_edge=k)
        out[part.positions] = to_crs(polys, g.crs, WGS84)
    return out


def plan_frame(plan: Plan) -> Any:
    """The plan as a GeoDataFrame (EPSG:4326): centre points plus per-modality footprints."""
    import geopandas as gpd

    t = plan.table.copy()
    geom = shapely.points(t["lon"].to_numpy(), t["lat"].to_numpy()) if len(t) else []
    gdf = gpd.GeoDataFrame(t, geometry=gpd.GeoSeries(geom, crs=WGS84), crs=WGS84)
    for name in plan.config.modalities:
        gdf[f"{name}_footprint"] = gpd.GeoSeries(
            footprints(plan, name) if len(t) else [], crs=WGS84
        )
    return gdf


def plan(cfg: Config) -> Any:
    """Plan the patches of a configuration: a GeoDataFrame of kept centres with footprints.

    Parameters
    ----------
    cfg
        A validated configuration (:func:`geoharmony.load_config`).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per patch, EPSG:4326 centre points, ``<modality>_footprint`` polygons and
        each modality's window and alignment offset.
    """
    return plan_frame(compute_plan(cfg))
