"""Writing a plan's centres (``geoharmony centers``) as GeoParquet or GeoJSON."""

from __future__ import annotations

import os
from pathlib import Path

import shapely

from geoharmony.errors import ConfigError, GeoharmonyError, InputError
from geoharmony.io.atomic import atomic_path
from geoharmony.planning.config import Config
from geoharmony.planning.frame import plan_frame
from geoharmony.planning.plan import Plan, compute_plan


def write_centers(cfg: Config, out: Path | None, *, plan: Plan | None = None) -> tuple[Path, int]:
    """Plan ``cfg`` and write its centres; the format follows the file extension.

    GeoJSON holds one geometry per feature, so there the footprints are WKT strings.
    """
    out = (
        Path(out)
        if out is not None
        else cfg.output.path.with_name(cfg.output.path.name + "_centers.parquet")
    )
    ext = out.suffix.lower()
    if ext not in (".parquet", ".geoparquet", ".geojson", ".json"):
        raise ConfigError(
            f"--out {out}: the extension must be .parquet or .geojson, found {ext or 'none'!r}"
        )
    plan = plan if plan is not None else compute_plan(cfg)
    target = os.path.realpath(out)
    for role, files in plan.input_files().items():
        if any(os.path.realpath(f) == target for f in files):
            where = plan.input_key(role)
            raise InputError(
                f"--out {out}: is an input of the configuration ({where}); writing the "
                "centres there would replace it: choose another path (nothing was written)"
            )
    gdf = plan_frame(plan)
    try:
        with atomic_path(out, mkdir=True) as tmp:
            if ext in (".parquet", ".geoparquet"):
                gdf.to_parquet(tmp, index=False)
            else:
                for col in [c for c in gdf.columns if c.endswith("_footprint")]:
                    gdf[col] = shapely.to_wkt(gdf[col].values, rounding_precision=9)
                gdf.to_file(tmp, driver="GeoJSON")
    except OSError as exc:  # a read-only, full or pseudo file system: the file is not kept
        if isinstance(exc, GeoharmonyError):
            raise
        why = exc.strerror or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(
            f"--out {out}: cannot write the centres file ({why}); "
            "choose a writable path (nothing was written)"
        ) from None
    return out, len(gdf)
