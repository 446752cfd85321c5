"""Vector label layers: read, reprojected, buffered in metres and burned per patch window."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import CRS
from rasterio.features import rasterize

from geoharmony.errors import InputError
from geoharmony.geometry.footprint import to_crs
from geoharmony.geometry.grid import Grid, _unit_factor
from geoharmony.planning.config import VectorSource
from geoharmony.planning.study_area import local_metric_crs


@dataclass
class VectorLayer:
    """A vector source loaded in one grid's CRS, buffered, with a spatial index."""

    geoms: np.ndarray
    value: int
    tree: Any


def load_vector_layers(
    sources: Sequence[VectorSource], grid: Grid, *, where: str
) -> list[VectorLayer]:
    """Read, reproject and buffer (in metres) the vector sources of one label."""
    import geopandas as gpd

    layers = []
    for src in sources:
        if not src.path.exists():
            raise InputError(f"{src.path}: vector label source not found ({where}); check the path")
        try:
            gdf = gpd.read_file(src.path, layer=src.layer, where=src.where)
        except Exception as exc:
            raise InputError(
                f"{src.path}: cannot read vector label source ({where}): {exc}"
            ) from None
        if gdf.crs is None:
            raise InputError(f"{src.path}: vector label source ({where}) has no CRS")
        crs = CRS.from_user_input(gdf.crs)
        geoms = np.asarray(gdf.geometry.values, dtype=object)
        geoms = geoms[~(shapely.is_empty(geoms) | shapely.is_missing(geoms))]
        geoms = np.asarray(shapely.make_valid(geoms), dtype=object)
        if src.buffer_m and len(geoms):
            if grid.is_geographic or _unit_factor(grid.crs) != 1.0:
                local = local_metric_crs(shapely.union_all(geoms), crs)
                geoms = to_crs(
                    shapely.buffer(to_crs(geoms, crs, local), src.buffer_m), local, grid.crs
                )
            else:
                geoms = shapely.buffer(to_crs(geoms, crs, grid.crs), src.buffer_m)
        else:
            geoms = to_crs(geoms, crs, grid.crs)
        layers.append(
            VectorLayer(np.asarray(geoms, dtype=object), src.value, shapely.STRtree(geoms))
        )
    return layers


def burn(layers: Sequence[VectorLayer], patch: Grid, *, all_touched: bool) -> np.ndarray:
    """Burn the layers onto one patch grid (later sources overwrite earlier ones).

    ``patch`` is the window's own grid (:func:`geoharmony.geometry.window.subgrid`).
    """
    out = np.zeros((patch.height, patch.width), dtype=np.uint8)
    box = shapely.box(*patch.bounds)
    for layer in layers:
        hits = layer.tree.query(box, predicate="intersects")
        if len(hits):
            rasterize(
                ((g, layer.value) for g in layer.geoms[hits]),
                out=out,
                transform=patch.transform,
                all_touched=all_touched,
            )
    return out
