"""The plan, stored beside the dataset made from it (``plan.json``), and read back.

``open_dataset(path).plan`` is the very :class:`~geoharmony.planning.plan.Plan` that
``compute_plan(cfg)`` returned before extraction (equal field by field): the resolved
configuration, the regions' polygons, every raster's grid, dtype and nodata per region,
every output's description, the reference, the mode, the task size and the table of
patches with each modality's window and residual. Nothing after extraction needs the
boundary file or the input rasters' headers again.

Layout (format version :data:`PLAN_FORMAT`)::

    plan.json       {"plan_format": 2,
                     "geoharmony": "<version that wrote it>",
                     "crs": [<each distinct CRS once, WKT2>],
                     "rasters": [<each distinct raster header once>],
                     "plan": <the Plan, every field by name (geoharmony.io.codec);
                              a raster header is {"$raster": k}, k into "rasters",
                              a CRS {"$crs": k}, k into "crs">,
                     "table": {"file": "index.parquet", "columns": {name: dtype}},
                     "about": <derived, for people: counts, grids, pixel axes>}
    index.parquet   the patch index; the plan's table is its listed columns, in order

Region polygons are WKB (``{"$wkb": base64}``) in their region's CRS (WKT2); grids are
``{"crs": WKT2, "transform": [a, b, c, d, e, f], "width", "height"}`` (a pixel's
top-left corner is ``transform * (col, row)``: the transform also fixes the pixel axes'
orientation, spelled out under ``about``). Fields are written generically from the
dataclasses, so a field added to ``Plan`` or anything inside it is stored with no change
here; a reader given a file without a field uses the field's default. A newer
``plan_format`` than this code knows is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from pyproj import CRS

from geoharmony.errors import DatasetError
from geoharmony.geometry.window import pixel_axes
from geoharmony.io.codec import CodecError, decode, encode
from geoharmony.io.manifest import INDEX, versions
from geoharmony.io.raster_info import RasterInfo
from geoharmony.planning.plan import Plan

PLAN = "plan.json"
#: Version of the ``plan.json`` layout (bumped when a reader must change).
PLAN_FORMAT = 2


def plan_document(plan: Plan, *, table_file: str = INDEX) -> dict[str, Any]:
    """The JSON document of ``plan.json`` (the table itself stays in ``table_file``).

    Raster headers and CRSs are stored once each (``rasters``, ``crs``) and referenced as
    ``{"$raster": k}``/``{"$crs": k}``: a raster or CRS shared by a thousand regions is
    one entry, not a thousand copies.
    """
    rasters: list[Any] = []
    crss: list[str] = []
    by_id: dict[tuple[str, int], int] = {}
    by_wkt: dict[str, int] = {}

    def raster_ref(info: RasterInfo) -> dict[str, int]:
        k = by_id.get(("raster", id(info)))
        if k is None:
            k = by_id["raster", id(info)] = len(rasters)
            rasters.append(encode(info, crs_hooks))
        return {"$raster": k}

    def crs_ref(crs: CRS) -> dict[str, int]:
        k = by_id.get(("crs", id(crs)))
        if k is None:
            wkt = crs.to_wkt()
            k = by_wkt.setdefault(wkt, len(crss))
            if k == len(crss):
                crss.append(wkt)
            by_id["crs", id(crs)] = k
        return {"$crs": k}

    crs_hooks: dict[type, Any] = {CRS: (crs_ref, None)}
    hooks: dict[type, Any] = {
        pd.DataFrame: (lambda _t: {"$table": table_file}, None),
        RasterInfo: (raster_ref, None),
        **crs_hooks,
    }
    doc_plan = encode(plan, hooks)
    return {
        "plan_format": PLAN_FORMAT,
        "geoharmony": versions().get("geoharmony", "unknown"),
        "crs": crss,
        "rasters": rasters,
        "plan": doc_plan,
        "table": {
            "file": table_file,
            "columns": {str(c): str(t) for c, t in plan.table.dtypes.items()},
        },
        "about": _about(plan),
    }


def _about(plan: Plan) -> dict[str, Any]:
    """Derived facts for people reading the file (never read back)."""
    from geoharmony.planning.windows import output_grid

    grids: dict[str, dict[str, Any]] = {}
    for r in plan.regions:
        grids[r.id] = {}
        for name in plan.outputs:
            g = output_grid(plan, name, r.id)
            col, row = pixel_axes(g)
            grids[r.id][name] = {
                "grid": plan.reference if plan.mode == "resample" else plan.outputs[name].grid_of,
                "columns_run": col,
                "rows_run": row,
            }
    return {
        "n_patches": plan.n_patches,
        "n_tasks": plan.n_tasks,
        "regions": [r.id for r in plan.regions],
        "output_grids": grids,
    }


def plan_bytes(plan: Plan) -> bytes:
    """``plan.json``'s bytes (``extract`` writes them beside the index, atomically)."""
    import json

    # compact: json's C encoder (with an indent it is pure Python, 0.3 s at 1,000 regions)
    return json.dumps(plan_document(plan), separators=(",", ":"), default=str).encode("utf-8")


def load_plan(root: str | Path) -> Plan:
    """The plan a dataset was made from (see the module docstring).

    Raises
    ------
    DatasetError
        No ``plan.json`` (a dataset written by geoharmony before plans were stored), a
        newer format, or a file that does not decode.
    """
    import json

    root = Path(root)
    path = root / PLAN
    if not path.is_file():
        raise DatasetError(
            f"{root}: has no {PLAN} (written by an older geoharmony); extract it again to "
            "draw figures, report or validate it"
        )
    doc = json.loads(path.read_text(encoding="utf-8"))
    fmt = doc.get("plan_format")
    if not isinstance(fmt, int) or fmt > PLAN_FORMAT:
        raise DatasetError(
            f"{path}: plan_format {fmt!r} is newer than this geoharmony reads "
            f"({PLAN_FORMAT}); upgrade geoharmony"
        )
    spec = doc["table"]
    columns: dict[str, str] = spec["columns"]

    def table(_: Any) -> pd.DataFrame:
        t = pd.read_parquet(root / spec["file"], columns=list(columns))
        return t.astype({c: ("object" if d == "object" else d) for c, d in columns.items()})

    stored, wkts = doc.get("rasters", []), doc.get("crs", [])
    rasters: dict[int, RasterInfo] = {}
    crss: dict[int, CRS] = {}

    def crs(data: Any) -> CRS:
        if not isinstance(data, dict):  # plan_format 1: WKT inline
            return decode(CRS, data)
        k = data["$crs"]
        if k not in crss:  # one object per CRS again, as compute_plan shared them
            crss[k] = CRS.from_wkt(wkts[k])
        return crss[k]

    crs_hooks: dict[type, Any] = {CRS: (None, crs)}

    def raster(data: Any) -> RasterInfo:
        if not (isinstance(data, dict) and set(data) == {"$raster"}):  # plan_format 1
            return decode(RasterInfo, data, crs_hooks)
        k = data["$raster"]
        if k not in rasters:
            rasters[k] = decode(RasterInfo, stored[k], crs_hooks, where=f"rasters[{k}]")
        return rasters[k]

    hooks: dict[type, Any] = {pd.DataFrame: (None, table), RasterInfo: (None, raster), **crs_hooks}
    try:
        return decode(Plan, doc["plan"], hooks)
    except (CodecError, KeyError, TypeError, IndexError) as exc:
        raise DatasetError(f"{path}: not a plan this geoharmony reads ({exc})") from None
