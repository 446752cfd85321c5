"""The scene's vectors: boundary, streams and lakes as EPSG:4326 GeoJSON, written atomically."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Polygon, box, mapping

from geoharmony.demo.layout import (
    BOUNDARY_NAME,
    DEM_RES,
    GEO_CRS,
    HUC12,
    STREAMS_NAME,
    UTM_CRS,
    WATERBODIES_NAME,
    WATERSHED_NAME,
    _Layout,
)
from geoharmony.demo.streams import _Stream
from geoharmony.io.atomic import write_text_atomic


def _write_json(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, separators=(",", ":")) + "\n")


def _feature_collection(
    geoms: Sequence[Any], props: Sequence[dict[str, Any]], to_geo: Transformer
) -> dict[str, Any]:
    feats = []
    for geom, prop in zip(geoms, props, strict=True):
        g = shapely.transform(
            geom, lambda xy: np.column_stack(to_geo.transform(xy[:, 0], xy[:, 1]))
        )
        g = shapely.set_precision(g, 1e-7)
        feats.append({"type": "Feature", "properties": prop, "geometry": mapping(g)})
    return {"type": "FeatureCollection", "features": feats}


def write_vectors(
    out: Path,
    lay: _Layout,
    boundary: Polygon,
    streams: Sequence[_Stream],
    lakes: Sequence[tuple[Polygon, float]],
) -> None:
    """The watershed, the streams inside the DEM (200 m or longer) and the lakes."""
    to_geo = Transformer.from_crs(UTM_CRS, GEO_CRS, always_xy=True)
    _write_json(
        out / BOUNDARY_NAME,
        _feature_collection([boundary], [{"huc12": HUC12, "name": WATERSHED_NAME}], to_geo),
    )
    clip = box(*lay.dem.bounds).buffer(-DEM_RES, join_style="mitre")
    lines: list[LineString] = []
    for s in streams:
        part = s.line.intersection(clip)
        for piece in getattr(part, "geoms", [part]):
            if isinstance(piece, LineString) and piece.length >= 200.0:
                lines.append(piece.simplify(2.0))
    _write_json(
        out / STREAMS_NAME,
        _feature_collection(lines, [{"kind": "stream"} for _ in lines], to_geo),
    )
    _write_json(
        out / WATERBODIES_NAME,
        _feature_collection([lake for lake, _ in lakes], [{"kind": "lake"} for _ in lakes], to_geo),
    )
