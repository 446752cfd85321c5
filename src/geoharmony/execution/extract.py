"""Execute a plan: tasks -> reads -> writer, resumably, serially, on local processes or Dask.

The output folder is built under a hidden ``.<name>.partial`` sibling and renamed into
place only when complete, so a crash never leaves a dataset that looks complete. A
finished task leaves a small record (its patches' valid fractions) that a rerun with the
same plan fingerprint trusts: an interrupted run resumes where it stopped and ends with
the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from geoharmony.errors import DatasetError, OutputExistsError
from geoharmony.execution import runners
from geoharmony.execution.layout import patch_layout
from geoharmony.execution.region_labels import (
    LABELS_DIR,
    apply_min_positive,
    build_region_labels,
)
from geoharmony.execution.stats import STATS_SCHEMA, merge_moments, merge_region_moments
from geoharmony.execution.tasks import TASKS, array_specs, make_tasks
from geoharmony.io.atomic import atomic_path
from geoharmony.io.manifest import INDEX, MANIFEST, input_record, now, versions, write_json_atomic
from geoharmony.labels.qa import label_qa_summary
from geoharmony.planning.config import Config
from geoharmony.planning.frame import plan_frame
from geoharmony.planning.persist import PLAN, save_plan
from geoharmony.planning.plan import Plan, compute_plan
from geoharmony.writers import get_writer

log = logging.getLogger(__name__)
STATE = "_state.json"


def _done_tasks(root: Path) -> set[int]:
    d = root / TASKS
    if not d.is_dir():
        return set()
    return {int(p.stem) for p in d.glob("*.json") if p.stem.isdigit()}


def _partial_path(out: Path) -> Path:
    return out.parent / f".{out.name}.partial"


def _check_existing(out: Path, fingerprint: str, overwrite: bool) -> bool:
    """True when ``out`` already holds this exact, complete dataset."""
    if not out.exists():
        return False
    man = out / MANIFEST
    if not man.is_file():
        if out.is_dir() and not any(out.iterdir()):
            return False
        raise OutputExistsError(
            f"{out}: the output path exists and is not a geoharmony dataset; "
            "choose another [output].path (nothing was written)"
        )
    m = json.loads(man.read_text(encoding="utf-8"))
    if m.get("fingerprint") == fingerprint and m.get("complete") and not overwrite:
        return True
    if not overwrite:
        raise OutputExistsError(
            f"{out}: holds a dataset from a different configuration or inputs; "
            "pass --overwrite (overwrite=True) to replace it, or choose another [output].path"
        )
    return False


def _progress(total: int, done: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    prog = Progress(
        TextColumn("extract"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    )
    prog.start()
    prog.add_task("tasks", total=total, completed=done)
    return prog


def extract(
    cfg: Config,
    *,
    out: str | Path | None = None,
    workers: int | None = 1,
    scheduler: Any = None,
    overwrite: bool = False,
    progress: bool | None = None,
    plan: Plan | None = None,
) -> Path:
    """Write the dataset of a configuration.

    Parameters
    ----------
    cfg
        A validated configuration.
    out
        Output folder (default ``[output].path``).
    workers
        Local processes (1: in this process; None: one per core).
    scheduler
        A Dask ``distributed`` scheduler address or ``Client``: run the tasks there.
    overwrite
        Replace an existing dataset of another configuration (only once the new one is
        complete: nothing is lost if this run fails).
    progress
        Show a progress bar (default: when stderr is a terminal).

    Returns
    -------
    Path
        The dataset folder.
    """
    plan = plan or compute_plan(cfg)
    out = Path(out) if out is not None else cfg.output.path
    out = out.expanduser().absolute()
    fp = plan.fingerprint()
    if _check_existing(out, fp, overwrite):
        log.info("%s is complete and up to date; nothing to do", out)
        return out
    partial = _partial_path(out)
    state_file = partial / STATE
    if partial.exists():
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = {}
        if state.get("fingerprint") != fp:
            shutil.rmtree(partial)
    writer_cls = get_writer(cfg.output.format)
    if not partial.exists():
        partial.mkdir(parents=True)
        (partial / TASKS).mkdir()
        write_json_atomic(state_file, {"fingerprint": fp, "started": now()})
    # Region-level labels first (once per region; resumable), then the patch filter.
    region_labels = build_region_labels(plan, partial)
    plan = apply_min_positive(plan, partial)
    state = json.loads(state_file.read_text(encoding="utf-8"))
    if not state.get("store_created"):
        writer = writer_cls(partial)
        writer.create(
            array_specs(plan.outputs),
            plan.n_patches,
            patches_per_shard=cfg.output.patches_per_shard,
            compression=cfg.output.compression,
        )
        if writer.needs_layout:
            writer.describe(patch_layout(plan))
        writer.close()
        write_json_atomic(state_file, {**state, "store_created": True})
    done = _done_tasks(partial)
    tasks = make_tasks(plan, partial, done)
    runner = runners.choose(
        workers=workers, scheduler=scheduler, n_tasks=len(tasks), writer=writer_cls
    )
    show = sys.stderr.isatty() if progress is None else progress
    bar = _progress(plan.n_tasks, len(done), show)
    # Input checksums are computed while the tasks run (hashlib releases the GIL).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="geoharmony-sha256") as hasher:
        inputs = hasher.submit(input_records, plan)
        try:
            for _ in runner(tasks):
                if bar is not None:
                    bar.advance(bar.task_ids[0])
        except BaseException:
            inputs.cancel()
            raise
        finally:
            if bar is not None:
                bar.stop()
        _finish(plan, partial, fp, inputs.result(), region_labels)
    if out.exists():
        old = out.parent / f".{out.name}.old"
        if old.exists():
            shutil.rmtree(old)
        os.replace(out, old)
        os.replace(partial, out)
        shutil.rmtree(old)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, out)
    return out


def input_records(plan: Plan) -> dict[str, Any]:
    """Every input file with size, sha256 and (rasters) grid: boundary, rasters, labels."""
    cfg = plan.config
    seen: dict[str, dict[str, Any]] = {}

    def record(path: Path, info: dict[str, Any]) -> dict[str, Any]:
        key = str(path)
        if key not in seen:
            seen[key] = input_record(path, info)
        return seen[key]

    modalities: dict[str, dict[str, Any]] = {}
    for rid, infos in plan.sources.items():
        for name, info in infos.items():
            if info.missing:
                modalities.setdefault(name, {})[rid] = {"path": str(info.path), "missing": True}
                continue
            rec = record(info.path, info.to_dict())
            members = cfg.modalities[name].stack_for(rid) if name in cfg.modalities else []
            if members:  # a generated VRT: record the files it stacks
                rec = {**rec, "stack": [record(p, {}) for p in members]}
            modalities.setdefault(name, {})[rid] = rec
    labels = {
        name: [
            {**record(src.path, {}), "layer": src.layer, "value": src.value}
            for src in lab.sources
            if src.path.is_file()
        ]
        for name, lab in cfg.labels.items()
        if lab.kind == "vector"
    }
    for name, per in plan.label_sources.items():  # kind = "raster" label sources
        labels[name] = [{**record(i.path, i.to_dict()), "region": rid} for rid, i in per.items()]
    boundary = cfg.study_area.boundary
    return {
        "boundary": record(boundary, {}) if boundary.is_file() else {"path": str(boundary)},
        "modalities": modalities,
        "labels": labels,
    }


def _finish(
    plan: Plan,
    root: Path,
    fingerprint: str,
    inputs: dict[str, Any],
    region_labels: dict[str, dict[str, dict[str, Any]]] | None = None,
) -> None:
    """Write the index and the manifest once every task is recorded."""
    records = []
    for p in sorted((root / TASKS).glob("*.json")):
        records.append(json.loads(p.read_text(encoding="utf-8")))
    if len(records) != plan.n_tasks:
        raise DatasetError(
            f"{root}: {len(records)} of {plan.n_tasks} tasks are recorded; rerun to resume"
        )
    gdf = plan_frame(plan)
    for name in plan.outputs:
        vf = np.zeros(plan.n_patches)
        for rec in records:
            vf[rec["start"] : rec["start"] + rec["n"]] = rec["valid_fraction"][name]
        gdf[f"{name}_valid_fraction"] = vf
        if any(name in rec.get("positive", {}) for rec in records):
            pc = np.zeros(plan.n_patches, dtype=np.int64)
            for rec in records:
                pc[rec["start"] : rec["start"] + rec["n"]] = rec["positive"][name]
            gdf[f"{name}_positive"] = pc
    gdf.insert(0, "patch_index", np.arange(plan.n_patches, dtype=np.int64))
    stats = merge_moments([rec["stats"] for rec in records])
    stats_by_region = merge_region_moments([rec.get("region_stats", {}) for rec in records])
    with atomic_path(root / INDEX) as tmp:
        gdf.to_parquet(tmp, index=False, geometry_encoding="WKB", write_covering_bbox=False)
    save_plan(plan, root)
    cfg = plan.config
    manifest = {
        "format_version": 1,
        "geoharmony": versions().get("geoharmony", "unknown"),
        "created": now(),
        "complete": True,
        "fingerprint": fingerprint,
        "config_file": str(cfg.source),
        "config": cfg.to_dict(),
        "inputs": inputs,
        "versions": versions(),
        "plan_file": PLAN,
        "plan": {
            "reference": plan.reference,
            "mode": plan.mode,
            "patch_size": cfg.grid.patch_size,
            "stride": cfg.grid.stride,
            "keep": cfg.grid.keep,
            "n_patches": plan.n_patches,
            "n_candidates": plan.candidates,
            "regions": [r.id for r in plan.regions],
            "task_size": plan.task_size,
        },
        "store": {
            "format": cfg.output.format,
            "path": get_writer(cfg.output.format).store_name,
            "compression": cfg.output.compression,
            "patches_per_shard": cfg.output.patches_per_shard,
        },
        "outputs": {
            name: {
                "kind": o.kind,
                "dtype": o.dtype,
                "shape": [o.bands, o.height, o.width],
                "fill_value": o.fill_value if np.isfinite(o.fill_value) else str(o.fill_value),
                "grid_of": o.grid_of,
                "resampling": o.resampling if plan.mode == "resample" else None,
                "codes": dict(o.codes) if o.codes else None,
                # physical value = scale * stored + offset ([modalities.x] scale, offset)
                "scale": getattr(cfg.modalities.get(name), "scale", None),
                "offset": getattr(cfg.modalities.get(name), "offset", None),
                "d8_encoding": o.d8_encoding,
                "params": dict(o.params) if o.params else None,
                "regions": (region_labels or {}).get(name),
            }
            for name, o in plan.outputs.items()
        },
        "on_missing": {
            "policies": {n: m.on_missing for n, m in cfg.modalities.items()},
            "skipped_regions": {r: list(ms) for r, ms in plan.skipped.items()},
            "masked": {
                n: sorted(r for r, infos in plan.sources.items() if infos[n].missing)
                for n in cfg.modalities
                if any(infos[n].missing for infos in plan.sources.values())
            },
        },
        "stats": stats,
        "stats_by_region": stats_by_region,
        "stats_schema": STATS_SCHEMA,
        "completed": {"tasks": plan.n_tasks, "finished": now()},
    }
    manifest["label_qa"] = label_qa_summary(manifest, gdf)
    writer = get_writer(cfg.output.format)(root)
    writer.finalize(manifest)
    writer.close()
    write_json_atomic(root / MANIFEST, manifest)
    shutil.rmtree(root / TASKS)
    for p in (root / LABELS_DIR).glob("*/*.json"):
        p.unlink()  # the records live on in the manifest
    (root / STATE).unlink()
