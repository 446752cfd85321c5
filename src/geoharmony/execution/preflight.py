"""Checks a run makes on its plan before it writes anything (each refusal: exit 2).

* the patch arrays of one task must fit in memory (the number is in the message);
* the reference raster must overlap the study area somewhere: a boundary far from every
  raster would otherwise give a complete-looking dataset of all-invalid patches (the
  message says how far apart they are, and in which CRS that was measured).
"""

from __future__ import annotations

import os
from contextlib import suppress

import numpy as np
import shapely

from geoharmony.errors import ConfigError, InputError
from geoharmony.planning.plan import Plan

#: Memory one task may take for its patch arrays (also at most half the RAM).
MAX_TASK_BYTES = 8 * 2**30


def check_memory(plan: Plan) -> None:
    """Refuse a task whose arrays cannot fit in memory."""
    per_patch = sum(
        o.bands * o.height * o.width * np.dtype(o.dtype).itemsize + o.height * o.width
        for o in plan.outputs.values()
    )
    n = max(1, min(plan.task_size, plan.n_patches))
    need = per_patch * n
    limit = MAX_TASK_BYTES
    with suppress(ValueError, OSError, AttributeError):  # not POSIX: the fixed cap only
        limit = min(limit, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2)
    if need > limit:
        raise ConfigError(
            f"{plan.config.source}: [grid].patch_size = {plan.config.grid.patch_size} needs "
            f"{need / 2**30:.1f} GiB of patch arrays per task ({per_patch / 2**20:.1f} MiB "
            f"per patch x {n} patches), more than the "
            f"{limit / 2**30:.1f} GiB allowed; use a smaller patch_size or "
            "[output].patches_per_shard (nothing was written)"
        )


def check_label_sources(plan: Plan) -> None:
    """Refuse a vector label whose source cannot be read, before any task runs."""
    from geoharmony.labels.vector import check_vector_sources

    for name, lab in plan.config.labels.items():
        if lab.sources:
            check_vector_sources(lab.sources, where=f"[labels.{name}]")


def _units(crs: object) -> str:
    try:
        return str(crs.axis_info[0].unit_name)  # type: ignore[attr-defined]
    except (AttributeError, IndexError):  # pragma: no cover
        return "units"


def check_overlap(plan: Plan) -> None:
    """Refuse a study area that no reference raster reaches at all."""
    ref = plan.reference
    best: tuple[float, str, object, str] | None = None
    for region in plan.regions:
        info = plan.sources[region.id][ref]
        try:
            geom = region.in_crs(info.grid.crs)
        except Exception:  # pragma: no cover - reported by the plan itself
            return
        box = shapely.box(*info.grid.bounds)
        if shapely.intersects(geom, box):
            return
        d = float(shapely.distance(geom, box))
        if best is None or d < best[0]:
            best = (d, region.id, info.grid.crs, str(info.path))
    if best is None:
        return
    d, rid, crs, path = best
    units = _units(crs)
    name = getattr(crs, "to_string", lambda: str(crs))()
    if units in ("metre", "meter"):
        dist = f"{d / 1000:.1f} km" if d >= 1000 else f"{d:.0f} m"
    else:
        dist = f"{d:.4g} {units}"
    raise InputError(
        f"{path}: the study area does not overlap [modalities.{ref}] at all: the nearest "
        f"region ({rid!r}) is {dist} from the raster's extent (measured in {name}); "
        "check [study_area].boundary and the raster (nothing was written)"
    )
