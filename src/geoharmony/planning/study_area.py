"""Study area: a vector boundary in any format and CRS, turned into regions.

One region for all features, or one per feature with ``id_field``; an optional OGR SQL
``where`` filter; invalid geometries repaired (with a warning that says why they were
invalid); ``buffer_m`` applied in a local azimuthal-equidistant CRS centred on each region,
so distances are true metres wherever the region is (no hard-coded UTM zone).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import CRS

from geoharmony.errors import ConfigError, GeometryRepairedWarning, InputError
from geoharmony.geometry.footprint import to_crs
from geoharmony.io.inputs import refuse_special
from geoharmony.planning.config import StudyAreaConfig


@dataclass(frozen=True, slots=True)
class Region:
    """One study area (e.g. a HUC12): its id and polygon(s) in ``crs``.

    ``geometry`` is the area patches are kept in (buffered, or its bounding box when
    ``extent = "bbox"``); ``boundary`` is the original, unbuffered polygon; ``buffered``
    the buffered boundary before ``extent = "bbox"`` took its box (None: same as
    ``geometry``).
    """

    id: str
    geometry: Any
    boundary: Any
    crs: CRS
    buffered: Any = None

    def in_crs(self, crs: CRS, *, which: str = "geometry") -> Any:
        """A polygon of the region transformed to ``crs`` (densified first, so edges bend).

        ``which``: ``"geometry"`` (where patches are kept), ``"boundary"`` or ``"buffered"``.
        """
        if which == "buffered":
            geom = self.geometry if self.buffered is None else self.buffered
        else:
            geom = self.geometry if which == "geometry" else self.boundary
        if crs == self.crs:
            return geom
        dense = _densify(geom, self.crs)
        return to_crs(np.array([dense]), self.crs, crs)[0]


def local_metric_crs(geom: Any, crs: CRS) -> CRS:
    """An azimuthal equidistant CRS centred on ``geom`` (true distances from its centre)."""
    c = shapely.centroid(geom)
    lon, lat = to_crs(np.array([c]), crs, CRS.from_epsg(4326))[0].coords[0]
    return CRS.from_proj4(
        f"+proj=aeqd +lat_0={lat:.8f} +lon_0={lon:.8f} +datum=WGS84 +units=m +no_defs"
    )


def _densify(geom: Any, crs: CRS) -> Any:
    xmin, ymin, xmax, ymax = shapely.bounds(geom)
    span = max(xmax - xmin, ymax - ymin)
    if span <= 0:
        return geom
    return shapely.segmentize(geom, span / 64)


def load_regions(cfg: StudyAreaConfig, *, where_key: str = "[study_area]") -> list[Region]:
    """Read the boundary file and build the regions.

    Raises
    ------
    InputError
        The file is missing or unreadable, has no CRS, or nothing is left after ``where``.
    ConfigError
        ``id_field`` is not an attribute, or ``where`` is not valid SQL for the file.
    """
    import geopandas as gpd

    path = cfg.boundary
    if not path.exists():
        raise InputError(f"{path}: boundary file not found ({where_key}.boundary); check the path")
    refuse_special(path, "boundary file", f"{where_key}.boundary")
    try:
        gdf = gpd.read_file(path, layer=cfg.layer, where=cfg.where)
    except Exception as exc:  # pyogrio raises several types; all mean the same to a user
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if cfg.where and (
            "where" in msg.lower() or "sql" in msg.lower() or "attribute" in msg.lower()
        ):
            raise ConfigError(
                f"{path}: {where_key}.where = {cfg.where!r} is not a valid filter: {msg}"
            ) from None
        raise InputError(f"{path}: cannot read the boundary file ({msg})") from None
    if gdf.crs is None:
        raise InputError(
            f"{path}: the boundary has no CRS; geoharmony never assumes one. "
            "Fix: write it with a CRS (e.g. ogr2ogr -a_srs EPSG:4326) or add a .prj file"
        )
    if len(gdf) == 0:
        what = f" after {where_key}.where = {cfg.where!r}" if cfg.where else ""
        raise InputError(f"{path}: the boundary has no features{what}")
    crs = CRS.from_user_input(gdf.crs)
    if cfg.id_field is not None and cfg.id_field not in gdf.columns:
        cols = ", ".join(c for c in gdf.columns if c != "geometry")
        raise ConfigError(
            f"{path}: {where_key}.id_field = {cfg.id_field!r} is not an attribute of the boundary; "
            f"available: {cols}"
        )
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    empty = shapely.is_empty(geoms) | shapely.is_missing(geoms)
    if empty.all():
        raise InputError(f"{path}: every boundary feature has an empty geometry")
    keep = ~empty
    gdf = gdf.loc[keep]
    _check_coordinates(path, gdf, crs)
    geoms = _repair(np.asarray(gdf.geometry.values, dtype=object), path, gdf, cfg.id_field)
    try:
        polys = np.array([_polygonal(g) for g in geoms], dtype=object)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None

    if cfg.id_field is not None:
        missing = np.flatnonzero(gdf[cfg.id_field].isna().to_numpy())
        if len(missing):
            raise InputError(
                f"{path}: {len(missing)} feature(s) have no value for {where_key}.id_field = "
                f"{cfg.id_field!r} (the first: feature {gdf.index[missing[0]]}); give every "
                f"feature an id, or drop them with {where_key}.where = "
                f'"{cfg.id_field} IS NOT NULL"'
            )
    if cfg.id_field is None:
        groups: dict[str, list[Any]] = {"all": list(polys)}
    else:
        groups = {}
        for rid, g in zip(gdf[cfg.id_field].astype(str), polys, strict=True):
            groups.setdefault(rid, []).append(g)
    _check_ids(path, groups, cfg.id_field, where_key)
    regions = []
    for rid, parts in groups.items():
        boundary = shapely.union_all(np.array(parts, dtype=object))
        geom = boundary
        if cfg.buffer_m:
            local = local_metric_crs(boundary, crs)
            g_local = to_crs(np.array([_densify(boundary, crs)]), crs, local)[0]
            g_local = shapely.buffer(g_local, cfg.buffer_m, quad_segs=16)
            geom = to_crs(
                np.array([shapely.segmentize(g_local, max(abs(cfg.buffer_m) / 4, 1.0))]), local, crs
            )[0]
            geom = shapely.make_valid(geom) if not shapely.is_valid(geom) else geom
        buffered = None
        if cfg.extent == "bbox":
            buffered, geom = geom, shapely.box(*shapely.bounds(geom))
        if shapely.is_empty(geom):
            raise ConfigError(
                f"{path}: region {rid!r} is empty after {where_key}.buffer_m = {cfg.buffer_m}; "
                "use a smaller negative buffer"
            )
        if cfg.keep_in == "boundary":  # the buffer is context only (drawn, not kept in)
            buffered = geom if buffered is None else buffered
            geom = boundary
        regions.append(
            Region(id=_safe_id(rid), geometry=geom, boundary=boundary, crs=crs, buffered=buffered)
        )
    return regions


#: The longest region id (bytes): ids name files, with room for a prefix and suffix.
MAX_ID_BYTES = 128


def _check_coordinates(path: Any, gdf: Any, crs: CRS) -> None:
    """Refuse a geographic boundary whose coordinates are not longitudes and latitudes."""
    if not crs.is_geographic:
        return
    x0, y0, x1, y1 = (float(v) for v in gdf.total_bounds)
    # vector files are read as (x, y) = (longitude, latitude), whatever the CRS's axis order
    if not np.isfinite((x0, y0, x1, y1)).all() or y0 < -90.0 or y1 > 90.0:
        raise InputError(
            f"{path}: the boundary's CRS ({crs.name}) is geographic but its coordinates "
            f"span ({x0:g}, {y0:g}) to ({x1:g}, {y1:g}): latitudes must lie in -90..90; "
            "the file's CRS is probably wrong (projected coordinates labelled as degrees?)"
        )


def _check_ids(path: Any, groups: dict[str, Any], id_field: str | None, where_key: str) -> None:
    """Region ids name files (``{id}`` paths) and patch ids: refuse unsafe or colliding ones."""
    seen: dict[str, str] = {}
    for rid in groups:
        safe = _safe_id(rid)
        if safe in (".", "..") or safe.startswith("..") or "\x00" in safe:
            raise InputError(
                f"{path}: region id {rid!r} ({where_key}.id_field = {id_field!r}) is not "
                "usable as a file name ({id} in paths would leave the folder); "
                "fix the attribute values"
            )
        if len(safe.encode()) > MAX_ID_BYTES:
            raise InputError(
                f"{path}: region id {rid[:24]!r}... ({where_key}.id_field = {id_field!r}) is "
                f"{len(safe.encode())} bytes long; ids name files, so at most {MAX_ID_BYTES}: "
                "use a shorter attribute"
            )
        if safe in seen:
            raise InputError(
                f"{path}: region ids {seen[safe]!r} and {rid!r} ({where_key}.id_field = "
                f"{id_field!r}) both become {safe!r} once '/' and '\\' are replaced; "
                "make the attribute values distinct"
            )
        seen[safe] = rid


def _safe_id(rid: str) -> str:
    """Region ids are used in file and group names: keep them printable and slash-free."""
    return str(rid).strip().replace("/", "_").replace("\\", "_") or "region"


def _repair(geoms: np.ndarray, path: Any, gdf: Any, id_field: str | None) -> np.ndarray:
    valid = shapely.is_valid(geoms)
    if valid.all():
        return geoms
    fixed = geoms.copy()
    for k in np.flatnonzero(~valid):
        label = gdf[id_field].iloc[k] if id_field else gdf.index[k]
        reason = shapely.is_valid_reason(geoms[k])
        warnings.warn(
            f"{path}: feature {label!r} has an invalid geometry ({reason}); "
            "repaired with make_valid",
            GeometryRepairedWarning,
            stacklevel=3,
        )
        fixed[k] = shapely.make_valid(geoms[k])
    return fixed


def _polygonal(geom: Any) -> Any:
    """Keep only the polygonal parts (make_valid can return collections with lines)."""
    if shapely.get_type_id(geom) in (3, 6):  # Polygon, MultiPolygon
        return geom
    if shapely.get_type_id(geom) == 7:  # GeometryCollection
        parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
        if parts:
            return shapely.union_all(np.array(parts, dtype=object))
    raise InputError(
        f"boundary features must be polygons, found a {geom.geom_type}; use a polygon layer"
    )
