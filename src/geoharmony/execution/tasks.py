"""Tasks: the unit of execution (and of resume) and what one task does.

A task is a contiguous, shard-aligned range of store positions. ``run_task`` reads its
windows (through the process's thread-safe, bounded raster pool: io/pool.py),
warps or burns what the mode and labels ask for, writes the arrays through the
configured writer and leaves a small record (valid fractions, band moments) that makes
the task count as done for a resumed run.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geoharmony.execution import faults, malloc
from geoharmony.execution.failures import (
    READ_ERRORS,
    fail_fast_error,
    failure,
    task_record_name,
    with_retries,
)
from geoharmony.execution.region_labels import region_label_info
from geoharmony.execution.resume import TASKS
from geoharmony.execution.stats import task_moments
from geoharmony.geometry.grid import Grid, _unit_factor
from geoharmony.geometry.sampling import KERNELS, whole_pixel_shift
from geoharmony.geometry.window import Windows, subgrid
from geoharmony.io.atomic import write_json_atomic
from geoharmony.io.gdal_env import decode_thread_count, gdal_env
from geoharmony.io.pool import POOL
from geoharmony.io.raster_info import RasterInfo
from geoharmony.io.warp import warp_window
from geoharmony.planning.config import LabelConfig
from geoharmony.planning.plan import LabelWindow, OutputSpec, Plan
from geoharmony.planning.study_area import Region
from geoharmony.planning.windows import output_windows, source_windows
from geoharmony.writers import ArraySpec, Georef, get_writer


@dataclass(frozen=True)
class Task:
    """One unit of execution: a contiguous range of store positions (picklable)."""

    index: int
    start: int
    rows: pd.DataFrame
    sources: Mapping[str, Mapping[str, RasterInfo]]
    outputs: Mapping[str, OutputSpec]
    labels: Mapping[str, LabelConfig]
    mode: str
    reference: str
    patch_size: int
    stride: int
    root: str
    format: str
    fail_fast: bool = False  # a failed read stops the run instead of failing its region
    #: region -> vector label -> where its features are read from (grid CRS, buffered)
    label_extents: Mapping[str, Mapping[str, tuple[float, float, float, float]]] = field(
        default_factory=dict
    )
    label_windows: Mapping[str, Mapping[str, LabelWindow]] = field(default_factory=dict)
    regions: Mapping[str, Region] = field(default_factory=dict)
    #: regions all of whose patches are in this task (their statistics end here)
    whole_regions: frozenset[str] = frozenset()


# -- per-process caches: rasters through the thread-safe bounded pool ----------------------
#: Vector label layers (per region and bbox-filtered, or whole), least recently used out.
_VECTORS: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
_COVERAGE: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
VECTOR_CACHE_SIZE = 16


def _cached(cache: OrderedDict[Any, Any], key: Any, make: Any) -> Any:
    """``cache[key]``, made on a miss; at most :data:`VECTOR_CACHE_SIZE` entries kept."""
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = make()
        while len(cache) > VECTOR_CACHE_SIZE:
            cache.popitem(last=False)
    cache.move_to_end(key)
    return hit


def close_readers() -> None:
    """Close every idle raster handle and drop the vector caches of this process."""
    POOL.close()
    _VECTORS.clear()
    _COVERAGE.clear()


def array_specs(outputs: Mapping[str, OutputSpec]) -> dict[str, ArraySpec]:
    """The stored arrays of a plan's outputs: data ``(bands, h, w)`` and bool masks."""
    specs: dict[str, ArraySpec] = {}
    for o in outputs.values():
        specs[o.name] = ArraySpec(o.name, (o.bands, o.height, o.width), o.dtype, o.fill_value)
        specs[f"{o.name}_mask"] = ArraySpec(f"{o.name}_mask", (o.height, o.width), "bool", False)
    return specs


def read_task(
    task: Task,
    *,
    decode_threads: str | None = None,
    failures: list[dict[str, Any]] | None = None,
) -> dict[str, np.ndarray]:
    """Read (and warp/burn) one task's patches into memory, without writing them.

    Returns ``{name: (n, bands, h, w), f"{name}_mask": (n, h, w)}`` for every output.
    Rasters are read under :func:`geoharmony.io.gdal_env.gdal_env` (``decode_threads``:
    GDAL's ``GDAL_NUM_THREADS``, default 1), through this process's reader cache (each
    raster opened once per worker).

    With a ``failures`` list, a region whose raster cannot be read
    (:data:`~geoharmony.execution.failures.READ_ERRORS`) fails alone: its patches get
    fill values and false masks in every output and a record is appended to
    ``failures``; without one, the error propagates.
    """
    n = len(task.rows)
    arrays: dict[str, np.ndarray] = {}
    for o in task.outputs.values():
        arrays[o.name] = np.empty((n, o.bands, o.height, o.width), dtype=o.dtype)
        arrays[f"{o.name}_mask"] = np.zeros((n, o.height, o.width), dtype=bool)
    regions = task.rows["region"].to_numpy()
    groups = [
        (sub, np.flatnonzero(regions == rid), task.sources[str(rid)])
        for rid, sub in task.rows.groupby("region", sort=False)
    ]
    jobs = _read_jobs(task, groups)

    failed: dict[str, dict[str, Any]] = {}  # region -> its first failure

    def fill(job: _Job) -> None:
        name, info, infos, sub, pos = job
        with gdal_env(decode_threads):  # GDAL options are per thread
            try:
                with_retries(
                    info, lambda: _fill_modality(task, name, info, infos, sub, pos, arrays)
                )
            except READ_ERRORS as exc:
                for rid in dict.fromkeys(sub["region"].astype(str)):  # every region it serves
                    if failures is None:
                        raise fail_fast_error(failure(rid, name, info, exc)) from exc
                    failed.setdefault(rid, failure(rid, name, info, exc))

    threads = decode_thread_count(decode_threads)
    if threads > 1 and len(jobs) > 1 and task.mode != "resample":
        # The only worker: modalities are read concurrently too (GDAL and numpy copies
        # release the GIL; each raster's reader is used by one thread at a time).
        # GDAL_NUM_THREADS=1 in the environment means one thread for this too.
        with ThreadPoolExecutor(max_workers=min(len(jobs), threads)) as ex:
            list(ex.map(fill, jobs))
    else:
        for job in jobs:
            fill(job)
    with gdal_env(decode_threads):  # labels may need the modalities (D8 in resample mode)
        for sub, pos, infos in groups:
            rid = str(sub["region"].iloc[0])
            for name, lab in task.labels.items():
                if rid in failed:
                    break
                try:
                    _fill_label(task, name, lab, infos, sub, pos, arrays)
                except READ_ERRORS as exc:
                    dem = infos[lab.dem or task.outputs[name].grid_of]
                    if failures is None:
                        raise fail_fast_error(failure(rid, name, dem, exc)) from exc
                    failed[rid] = failure(rid, name, dem, exc)
            if rid in failed:  # nothing of a failed region is kept
                for o in task.outputs.values():
                    arrays[o.name][pos] = np.asarray(o.fill_value).astype(o.dtype)
                    arrays[f"{o.name}_mask"][pos] = False
    if failures is not None:
        failures.extend(failed[r] for r in sorted(failed))
    return arrays


_Job = tuple[str, RasterInfo, Mapping[str, RasterInfo], pd.DataFrame, np.ndarray]


def _read_jobs(
    task: Task, groups: list[tuple[pd.DataFrame, np.ndarray, Mapping[str, RasterInfo]]]
) -> list[_Job]:
    """One read per modality and *raster*: regions sharing a file are read together.

    Regions that share a raster (the usual case: one mosaic, many watersheds) would
    otherwise each decode the blocks their neighbours also need; per raster, the task's
    union of windows is decoded once however many regions it holds. Grouping is by the
    header object (the plan loads one per file), and in resample mode also by the
    reference's, whose grid the windows lie on.
    """
    jobs: list[_Job] = []
    for name in task.outputs:
        if not groups or name not in groups[0][2]:
            continue  # a label: filled after the modalities
        merged: dict[tuple[int, int], list[tuple[pd.DataFrame, np.ndarray, Any]]] = {}
        for sub, pos, infos in groups:
            key = (id(infos[name]), id(infos[task.reference]))
            merged.setdefault(key, []).append((sub, pos, infos))
        for members in merged.values():
            infos = members[0][2]
            if len(members) == 1:
                sub, pos = members[0][0], members[0][1]
            else:  # the members' rows in task order: one take, no concatenation of frames
                pos = np.sort(np.concatenate([m[1] for m in members]))
                sub = task.rows.iloc[pos]
            jobs.append((name, infos[name], infos, sub, pos))
    return jobs


def run_task(task: Task, *, decode_threads: str | None = None) -> dict[str, Any]:
    """Read, warp/burn and write one task's patches; return its record.

    The record (valid fractions, band moments, ``failures``) is written as
    ``_tasks/NNNNNN.json``, or ``NNNNNN.failed.json`` when a region failed (see
    :mod:`geoharmony.execution.failures`).
    """
    malloc.tune()  # big arrays reused across tasks (Dask workers start without that)
    failures: list[dict[str, Any]] | None = None if task.fail_fast else []
    arrays = read_task(task, decode_threads=decode_threads, failures=failures)
    writer = get_writer(task.format)(Path(task.root))
    writer.open()
    try:
        if writer.needs_georef:
            writer.write_georeferenced(task.start, arrays, _georef(task))
        else:
            writer.write(task.start, arrays)
        record = _record(task, arrays, failures)  # while shards are still being written
    except BaseException:
        writer.abort()
        raise
    writer.close()  # every shard durable: the record may now say the task is done
    faults.point("task-written")
    record["checksums"] = dict(writer.checksums)
    folder = Path(task.root) / TASKS
    # compact: records are read by geoharmony only (json's C encoder; indent is pure Python)
    write_json_atomic(folder / task_record_name(task.index, bool(failures)), record, indent=None)
    if not failures:  # a retried task that now succeeds: its failed record goes
        (folder / task_record_name(task.index, True)).unlink(missing_ok=True)
    return record


def _record(
    task: Task, arrays: Mapping[str, np.ndarray], failures: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """A task's record without checksums: valid fractions, positives, moments, failures."""
    n = len(task.rows)
    valid = {}
    for o in task.outputs:
        mask = arrays[f"{o}_mask"].reshape(n, -1)
        # count_nonzero: the exact count, as mean() gives it, 30x faster
        valid[o] = (np.count_nonzero(mask, axis=1) / mask.shape[1]).round(6).tolist()
    positive = {}
    for name, spec in task.outputs.items():
        if name in task.labels and spec.categorical and spec.d8_encoding is None:
            hit = (arrays[name] != 0).any(axis=1) & arrays[f"{name}_mask"]
            positive[name] = np.count_nonzero(hit.reshape(n, -1), axis=1).tolist()
    record = {
        "task": task.index,
        "start": task.start,
        "n": n,
        "valid_fraction": valid,
        "positive": positive,
        **task_moments(task, arrays),  # "stats" (per split) and "region_stats"
        "failures": failures or [],
    }
    return record


def _output_windows(
    task: Task, sub: pd.DataFrame, infos: Mapping[str, RasterInfo], spec: OutputSpec
) -> tuple[Grid, Windows]:
    """The grid an output lies on and each patch's window on it (the plan's one answer)."""
    return output_windows(
        spec, infos, sub, mode=task.mode, reference=task.reference, stride=task.stride
    )


def _georef(task: Task) -> dict[str, list[Georef]]:
    """Each output's per-patch CRS and window transform (for writers with ``needs_georef``)."""
    refs: dict[str, list[Georef | None]] = {name: [None] * len(task.rows) for name in task.outputs}
    regions = task.rows["region"].to_numpy()
    for rid, sub in task.rows.groupby("region", sort=False):
        infos = task.sources[str(rid)]
        pos = np.flatnonzero(regions == rid).tolist()
        for name, spec in task.outputs.items():
            grid, ws = _output_windows(task, sub, infos, spec)
            crs = grid.crs.to_wkt()
            for k, w in zip(pos, ws, strict=True):
                refs[name][k] = Georef(crs, subgrid(grid, w).transform)
    return refs  # type: ignore[return-value]


def _fill_modality(
    task: Task,
    name: str,
    info: RasterInfo,
    infos: Mapping[str, RasterInfo],
    sub: pd.DataFrame,
    pos: np.ndarray,
    arrays: dict[str, np.ndarray],
) -> None:
    spec = task.outputs[name]
    data, mask = arrays[name], arrays[f"{name}_mask"]
    if info.missing:  # on_missing = "masked": no file for this region
        data[pos], mask[pos] = spec.fill_value, False
        return
    src = source_windows(sub, name)
    c0, r0 = src.col_off, src.row_off
    if task.mode != "resample":
        _read_rows(info, c0, r0, data, mask, pos)
        return
    ref, dst_windows = _output_windows(task, sub, infos, spec)
    shift = whole_pixel_shift(info.grid, ref) if spec.resampling in KERNELS else None
    if shift is not None:  # the reference grid's own pixels: every kernel is a copy
        cols, rows = dst_windows.col_off + shift[0], dst_windows.row_off + shift[1]
        _read_rows(info, cols, rows, data, mask, pos, fill=spec.fill_value)
        return
    with POOL.lease(info) as reader:
        blocks = reader.read_windows(src)
    for k, b, w in zip(pos, blocks, dst_windows, strict=True):
        data[k], mask[k] = warp_window(
            b,
            info.grid,
            ref,
            w,
            resampling=spec.resampling,
            dtype=np.dtype(spec.dtype),
            fill=spec.fill_value,
        )


def _read_rows(
    info: RasterInfo,
    cols: np.ndarray,
    rows: np.ndarray,
    data: np.ndarray,
    mask: np.ndarray,
    pos: np.ndarray,
    *,
    fill: float | None = None,
) -> None:
    """Windows of one size at ``cols``/``rows`` read into rows ``pos`` of the task's arrays.

    A region's rows are contiguous in a task, so they are read straight into a view;
    with ``fill``, invalid pixels get it (as warped pixels do).
    """
    contiguous = len(pos) and pos[-1] - pos[0] + 1 == len(pos)
    at = slice(int(pos[0]), int(pos[-1]) + 1) if contiguous else pos
    d, m = data[at], mask[at]
    with POOL.lease(info) as reader:  # this thread's own handle
        reader.read_into(cols, rows, d, m)
    if fill is not None:
        d[~np.broadcast_to(m[:, None], d.shape)] = fill
    if not contiguous:  # a copy: written back
        data[pos], mask[pos] = d, m


def _fill_label(
    task: Task,
    name: str,
    lab: LabelConfig,
    infos: Mapping[str, RasterInfo],
    sub: pd.DataFrame,
    pos: np.ndarray,
    arrays: dict[str, np.ndarray],
) -> None:
    data, mask = arrays[name], arrays[f"{name}_mask"]
    base = task.outputs[name].grid_of
    if infos[base].missing or (lab.dem is not None and infos[lab.dem].missing):
        data[pos], mask[pos] = 0, False  # its grid or DEM has no file in this region
        return
    grid, ws = _output_windows(task, sub, infos, task.outputs[name])
    if lab.kind == "vector":
        _fill_vector(task, name, lab, infos, sub, pos, arrays, grid, ws)
        return
    if not lab.region_level:  # pragma: no cover - every other kind is region-level
        raise AssertionError(f"unknown label kind {lab.kind!r}")
    # windowed from the region's label raster, computed once before the tasks
    rid = str(sub["region"].iloc[0])
    win = task.label_windows[name][rid]
    cols = ws.col_off - win.col_off
    rows = ws.row_off - win.row_off
    _read_rows(region_label_info(Path(task.root), name, rid), cols, rows, data, mask, pos)


def _fill_vector(
    task: Task,
    name: str,
    lab: LabelConfig,
    infos: Mapping[str, RasterInfo],
    sub: pd.DataFrame,
    pos: np.ndarray,
    arrays: dict[str, np.ndarray],
    grid: Grid,
    ws: Windows,
) -> None:
    """Burn a vector label; mask false outside its coverage and where its grid has no data."""
    from geoharmony import labels

    data, mask = arrays[name], arrays[f"{name}_mask"]
    base = str(lab.grid)
    rid = str(sub["region"].iloc[0])
    path = str(infos[base].path)
    # "bbox" coverage is the extent of *all* features: read whole layers then; otherwise
    # only the features near this region (bbox filter, through the file's spatial index)
    bbox = None if lab.coverage == "bbox" else task.label_extents.get(rid, {}).get(name)
    key = (name, path, rid if bbox is not None else "")
    layers = _cached(
        _VECTORS,
        key,
        lambda: labels.load_vector_layers(lab.sources, grid, where=f"[labels.{name}]", bbox=bbox),
    )
    cover = _cached(
        _COVERAGE,
        (name, path, rid),
        lambda: labels.coverage_geometry(lab.coverage, layers, task.regions.get(rid), grid),
    )
    base_mask = arrays.get(f"{base}_mask")
    same_shape = base_mask is not None and base_mask.shape[1:] == mask.shape[1:]
    per_source = lab.channels == "per_source"
    for k, w in zip(pos, ws, strict=True):
        patch = subgrid(grid, w)
        if per_source:
            for b, layer in enumerate(layers):
                data[k, b] = labels.burn([layer], patch, all_touched=lab.all_touched)
        else:
            data[k, 0] = labels.burn(layers, patch, all_touched=lab.all_touched)
        m = labels.coverage_mask(cover, patch)
        if same_shape:
            m &= base_mask[k]  # type: ignore[index]
        mask[k] = m


def _label_extents(plan: Plan) -> dict[str, dict[str, tuple[float, float, float, float]]]:
    """Per region and vector label: the bbox of all its windows, grown by the buffer."""
    cfg = plan.config
    vec = {n: lab for n, lab in cfg.labels.items() if lab.kind == "vector"}
    if not vec or not len(plan.table):
        return {}
    out: dict[str, dict[str, tuple[float, float, float, float]]] = {}
    probe = Task(
        0,
        0,
        plan.table.iloc[:0],
        {},
        plan.outputs,
        cfg.labels,
        plan.mode,
        plan.reference,
        cfg.grid.patch_size,
        cfg.grid.stride,
        "",
        cfg.output.format,
    )
    for rid, sub in plan.table.groupby("region", sort=False):
        infos = plan.sources[str(rid)]
        for name, lab in vec.items():
            spec = plan.outputs[name]
            grid, ws = _output_windows(probe, sub, infos, spec)
            c0, r0 = ws.col_off, ws.row_off
            cols = np.array([c0.min(), c0.max() + spec.width], dtype=float)
            rows = np.array([r0.min(), r0.max() + spec.height], dtype=float)
            xs, ys = grid.to_xy(np.repeat(cols, 2), np.tile(rows, 2))
            buf = max((s.buffer_m for s in lab.sources), default=0.0)
            px = max(abs(grid.transform.a), abs(grid.transform.e))
            if grid.is_geographic:  # metres to degrees, generously (any latitude to 87)
                margin = buf / 111_320 / 0.05 + 2 * px
            else:
                margin = buf / _unit_factor(grid.crs) + 2 * px
            out.setdefault(str(rid), {})[name] = (
                float(xs.min() - margin),
                float(ys.min() - margin),
                float(xs.max() + margin),
                float(ys.max() + margin),
            )
    return out


def make_tasks(
    plan: Plan,
    root: Path,
    done: set[int],
    *,
    only: set[int] | None = None,
    fail_fast: bool = False,
) -> list[Task]:
    """The plan's tasks not in ``done`` (and in ``only``, when given), writing into ``root``."""
    cfg = plan.config
    extents = _label_extents(plan)
    regions = {r.id: r for r in plan.regions}
    totals = plan.table["region"].astype(str).value_counts().to_dict()
    out = []
    for t in range(plan.n_tasks):
        if t in done or (only is not None and t not in only):
            continue
        start, stop = plan.task_range(t)
        rows = plan.table.iloc[start:stop]
        # only this task's regions travel with it (sources, label windows, polygons)
        sources = {str(r): plan.sources[str(r)] for r in pd.unique(rows["region"])}
        here = rows["region"].astype(str).value_counts().to_dict()
        out.append(
            Task(
                index=t,
                start=start,
                rows=rows,
                sources=sources,
                outputs=plan.outputs,
                labels=cfg.labels,
                mode=plan.mode,
                reference=plan.reference,
                patch_size=cfg.grid.patch_size,
                stride=cfg.grid.stride,
                root=str(root),
                format=cfg.output.format,
                fail_fast=fail_fast,
                label_windows={
                    n: {r: w for r, w in wins.items() if r in sources}
                    for n, wins in plan.label_windows.items()
                },
                regions={r: regions[r] for r in sources if r in regions},
                label_extents={r: extents[r] for r in sources if r in extents},
                whole_regions=frozenset(str(r) for r, k in here.items() if totals[r] == k),
            )
        )
    return out
