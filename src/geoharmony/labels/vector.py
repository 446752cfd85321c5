"""Vector label layers: read, reprojected, buffered in metres and burned per patch window."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS
from rasterio.features import rasterize

from geoharmony.errors import InputError
from geoharmony.geometry.footprint import to_crs
from geoharmony.geometry.grid import Grid, _unit_factor
from geoharmony.io.inputs import refuse_special
from geoharmony.planning.config import VectorSource
from geoharmony.planning.study_area import local_metric_crs


@dataclass
class VectorLayer:
    """A vector source loaded in one grid's CRS, buffered, with a spatial index."""

    geoms: np.ndarray
    value: int
    tree: Any
    values: np.ndarray | None = None  # per-feature burn values (``value_field``)


def check_vector_sources(sources: Sequence[VectorSource], *, where: str) -> None:
    """What :func:`load_vector_layers` would refuse, from the files' headers alone.

    Checked before a run writes anything: the file exists and is a file, the layer
    opens, ``where`` is valid SQL for it, it has a CRS and the ``value_field``.

    Raises
    ------
    InputError
        With the message :func:`load_vector_layers` gives for the same problem.
    """
    import pyogrio

    for src in sources:
        if not src.path.exists():
            raise InputError(f"{src.path}: vector label source not found ({where}); check the path")
        refuse_special(src.path, "vector label source", where)
        try:
            info = pyogrio.read_info(src.path, layer=src.layer)
            if src.where:
                pyogrio.read_dataframe(
                    src.path, layer=src.layer, where=src.where, max_features=1, read_geometry=False
                )
        except Exception as exc:  # pyogrio raises several types; all mean the same here
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InputError(
                f"{src.path}: cannot read vector label source ({where}): {first}"
            ) from None
        if info.get("crs") is None and info.get("geometry_type") is not None:
            raise InputError(f"{src.path}: vector label source ({where}) has no CRS")
        fields = [str(f) for f in info.get("fields", [])]
        if src.value_field is not None and src.value_field not in fields:
            raise InputError(
                f"{src.path}: value_field {src.value_field!r} is not an attribute of the "
                f"vector label source ({where}); attributes: {', '.join(fields) or 'none'}"
            )


def load_vector_layers(
    sources: Sequence[VectorSource],
    grid: Grid,
    *,
    where: str,
    bbox: tuple[float, float, float, float] | None = None,
) -> list[VectorLayer]:
    """Read, reproject and buffer (in metres) the vector sources of one label.

    ``bbox`` (in ``grid``'s CRS) reads only the features that intersect it (through the
    file's spatial index where it has one); it must already include the buffer distance.
    """
    import geopandas as gpd

    mask = None if bbox is None else gpd.GeoSeries([shapely.box(*bbox)], crs=grid.crs)

    layers = []
    for src in sources:
        if not src.path.exists():
            raise InputError(f"{src.path}: vector label source not found ({where}); check the path")
        refuse_special(src.path, "vector label source", where)
        try:
            gdf = gpd.read_file(src.path, layer=src.layer, where=src.where, bbox=mask)
        except Exception as exc:
            raise InputError(
                f"{src.path}: cannot read vector label source ({where}): {exc}"
            ) from None
        if gdf.crs is None:
            raise InputError(f"{src.path}: vector label source ({where}) has no CRS")
        crs = CRS.from_user_input(gdf.crs)
        geoms = np.asarray(gdf.geometry.values, dtype=object)
        values = None
        if src.value_field is not None:
            if src.value_field not in gdf.columns:
                raise InputError(
                    f"{src.path}: value_field {src.value_field!r} is not an attribute of the "
                    f"vector label source ({where}); attributes: {', '.join(map(str, gdf.columns))}"
                )
            raw = gdf[src.value_field].to_numpy()
            try:
                values = np.asarray(raw, dtype=float)
            except (TypeError, ValueError):
                values = np.full(len(raw), np.nan)
            bad = ~np.isfinite(values) | (values < 1) | (values > 255) | (values % 1 != 0)
            if bad.any():
                raise InputError(
                    f"{src.path}: value_field {src.value_field!r} ({where}) must hold integers in "
                    f"1..255; found {raw[bad][0]!r} in {int(bad.sum())} features"
                )
        keep = ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
        geoms = geoms[keep]
        if values is not None:
            values = values[keep].astype(np.uint8)
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
            VectorLayer(np.asarray(geoms, dtype=object), src.value, shapely.STRtree(geoms), values)
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
            vals = (
                layer.values[hits] if layer.values is not None else np.full(len(hits), layer.value)
            )
            rasterize(
                ((g, int(v)) for g, v in zip(layer.geoms[hits], vals, strict=True)),
                out=out,
                transform=patch.transform,
                all_touched=all_touched,
            )
    return out


def coverage_geometry(coverage: str, layers: Sequence[VectorLayer], region: Any, grid: Grid) -> Any:
    """Where a vector label's sources say something, in ``grid``'s CRS.

    ``"bbox"``: the bounding box of every source feature (after buffering);
    ``"boundary"``: the region's (unbuffered) boundary; a path: the union of that file's
    polygons. Outside it, the label's mask is false ("no data", not "no stream").
    """
    if coverage == "bbox":
        geoms = np.concatenate([layer.geoms for layer in layers]) if layers else np.array([])
        if not len(geoms):
            return shapely.Polygon()
        return shapely.box(*shapely.total_bounds(geoms))
    if coverage == "boundary":
        return region.in_crs(grid.crs, which="boundary")
    import geopandas as gpd

    gdf = gpd.read_file(Path(coverage))
    if gdf.crs is None:
        raise InputError(f"{coverage}: the coverage file has no CRS")
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    geoms = to_crs(np.asarray(shapely.make_valid(geoms), dtype=object), CRS(gdf.crs), grid.crs)
    return shapely.union_all(geoms)


def coverage_mask(geom: Any, patch: Grid) -> np.ndarray:
    """Pixels of a patch grid whose centre lies inside the coverage geometry."""
    if shapely.is_empty(geom):
        return np.zeros((patch.height, patch.width), dtype=bool)
    out = rasterize(
        [(geom, 1)], out_shape=(patch.height, patch.width), transform=patch.transform, dtype="uint8"
    )
    return np.asarray(out > 0)
