"""The plan, stored beside the dataset made from it (``plan.json``), and read back.

``open_dataset(path).plan`` is the very :class:`~geoharmony.planning.plan.Plan` that
``compute_plan(cfg)`` returned before extraction (equal field by field): the resolved
configuration, the regions' polygons, every raster's grid, dtype and nodata per region,
every output's description, the reference, the mode, the task size and the table of
patches with each modality's window and residual. Nothing after extraction needs the
boundary file or the input rasters' headers again.

Layout (format version :data:`PLAN_FORMAT`)::

    plan.json       {"plan_format": 1,
                     "geoharmony": "<version that wrote it>",
                     "plan": <the Plan, every field by name (geoharmony.io.codec)>,
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

from geoharmony.errors import DatasetError
from geoharmony.geometry.window import pixel_axes
from geoharmony.io.codec import CodecError, decode, encode
from geoharmony.io.manifest import INDEX, versions
from geoharmony.planning.plan import Plan

PLAN = "plan.json"
#: Version of the ``plan.json`` layout (bumped when a reader must change).
PLAN_FORMAT = 1


def plan_document(plan: Plan, *, table_file: str = INDEX) -> dict[str, Any]:
    """The JSON document of ``plan.json`` (the table itself stays in ``table_file``)."""
    hooks = {pd.DataFrame: (lambda _t: {"$table": table_file}, None)}
    return {
        "plan_format": PLAN_FORMAT,
        "geoharmony": versions().get("geoharmony", "unknown"),
        "plan": encode(plan, hooks),  # type: ignore[arg-type]
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

    return json.dumps(plan_document(plan), indent=2, default=str).encode("utf-8")


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

    try:
        return decode(Plan, doc["plan"], {pd.DataFrame: (None, table)})  # type: ignore[dict-item]
    except (CodecError, KeyError, TypeError) as exc:
        raise DatasetError(f"{path}: not a plan this geoharmony reads ({exc})") from None
