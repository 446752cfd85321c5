"""One cached pyproj ``Transformer`` per CRS pair, and what it does.

Building a transformer means a search of PROJ's database (tens of milliseconds); a plan
transforms between the same few CRSs thousands of times, so each pair is built once per
process. :func:`describe` says which operation was chosen and how accurate PROJ says it
is (``None`` when unknown, e.g. a ballpark fallback because a datum grid is missing).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pyproj import CRS, Transformer

from geoharmony.geometry.identity import IdentityCache


@lru_cache(maxsize=256)
def _cached(src_wkt: str, dst_wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_wkt(src_wkt), CRS.from_wkt(dst_wkt), always_xy=True)


_BY_ID: IdentityCache[Transformer] = IdentityCache(1024)


def transformer(src: CRS, dst: CRS) -> Transformer:
    """The (``always_xy``) transformer from ``src`` to ``dst``, built once per pair.

    Looked up by the CRS objects' identity first (:mod:`.identity`), then by their WKT.
    """
    return _BY_ID.get((src, dst), lambda: _cached(src.to_wkt(), dst.to_wkt()))


def describe(src: CRS, dst: CRS, x: float, y: float) -> dict[str, Any]:
    """``{"src", "dst", "operation", "accuracy_m"}`` of the pair's transformer at ``(x, y)``.

    Where PROJ has several candidate operations it picks one per point, so the point
    (in ``src``) is transformed first and the operation actually used is reported.
    """
    tr = transformer(src, dst)
    tr.transform(x, y)
    op: Any = tr
    try:
        op = tr.get_last_used_operation()
    except Exception:  # a single operation: the transformer itself describes it
        op = tr
    acc = float(op.accuracy) if op.accuracy is not None else -1.0
    return {
        "src": crs_name(src),
        "dst": crs_name(dst),
        "operation": op.description,
        "accuracy_m": None if acc < 0 else acc,
    }


def crs_name(crs: CRS) -> str:
    """``EPSG:XXXX`` when the CRS has a code, else its name (never the whole WKT)."""
    auth = crs.to_authority(min_confidence=90)
    if auth:
        return f"{auth[0]}:{auth[1]}"
    return crs.name or crs.to_proj4() or "unnamed CRS"
