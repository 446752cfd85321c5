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
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from geoharmony.errors import ConfigError, DatasetError, OutputExistsError
from geoharmony.execution import runners
from geoharmony.execution.failures import FAILURES, collect, summary
from geoharmony.execution.shards import (
    SHARDS,
    Shard,
    missing_message,
    parse_shard,
    write_shard_record,
)
from geoharmony.execution.stats import merge_moments
from geoharmony.execution.tasks import TASKS, array_specs, make_tasks
from geoharmony.io.atomic import atomic_path
from geoharmony.io.manifest import INDEX, MANIFEST, input_record, now, versions, write_json_atomic
from geoharmony.planning.config import Config
from geoharmony.planning.frame import plan_frame
from geoharmony.planning.persist import PLAN, save_plan
from geoharmony.planning.plan import Plan, compute_plan
from geoharmony.writers import get_writer

log = logging.getLogger(__name__)
STATE = "_state.json"


def _done_tasks(root: Path) -> set[int]:
    """Tasks recorded without failures (a ``.failed.json`` record is retried)."""
    d = root / TASKS
    if not d.is_dir():
        return set()
    return {int(p.stem) for p in d.glob("*.json") if p.stem.isdigit()}


def _task_records(root: Path) -> dict[int, dict[str, Any]]:
    """Every task record, successful ones winning over failed ones of the same task."""
    out: dict[int, dict[str, Any]] = {}
    for p in sorted((root / TASKS).glob("*.json"), key=lambda q: q.name.count(".")):
        t = p.name.split(".", 1)[0]
        if t.isdigit() and int(t) not in out:
            out[int(t)] = json.loads(p.read_text(encoding="utf-8"))
    return out


def _partial_path(out: Path) -> Path:
    return out.parent / f".{out.name}.partial"


def _check_existing(out: Path, fingerprint: str, overwrite: bool, config_file: Path) -> bool:
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
    if not m.get("complete", True) and m.get("config_file") == str(config_file):
        # published with failed regions: this run retries them (same plan: in place;
        # a new plan, e.g. a region's raster was fixed: rebuilt, then replaces it)
        return False
    if not overwrite:
        raise OutputExistsError(
            f"{out}: holds a dataset from a different configuration or inputs; "
            "pass --overwrite (overwrite=True) to replace it, or choose another [output].path"
        )
    return False


def _incomplete_of(out: Path, fingerprint: str) -> bool:
    """Whether ``out`` is this plan's dataset published with failed tasks to retry."""
    try:
        m = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return m.get("fingerprint") == fingerprint and (out / TASKS).is_dir()


def _create_partial(
    plan: Plan, partial: Path, writer_cls: Any, fingerprint: str, *, sharded: bool
) -> None:
    """Build the store skeleton aside and rename it into place (atomic for racing shards).

    When several shards start at once, one rename wins; the others drop their copy and
    use the winner's folder (checked to be of the same fingerprint by the caller's rerun
    of the state check).
    """
    cfg = plan.config
    tmp = partial.parent / f"{partial.name}.init-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        (tmp / TASKS).mkdir()
        writer = writer_cls(tmp)
        writer.create(
            array_specs(plan.outputs),
            plan.n_patches,
            patches_per_shard=cfg.output.patches_per_shard,
            compression=cfg.output.compression,
        )
        writer.close()
        write_json_atomic(
            tmp / STATE,
            {
                "fingerprint": fingerprint,
                "started": now(),
                "sharded": sharded,
                "n_tasks": plan.n_tasks,
            },
        )
        try:
            os.rename(tmp, partial)
        except OSError:
            if not partial.is_dir():
                raise
            state = json.loads((partial / STATE).read_text(encoding="utf-8"))
            if state.get("fingerprint") != fingerprint:
                raise OutputExistsError(
                    f"{partial}: another run of a different configuration started at the "
                    "same time on this output; run one configuration per output"
                ) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


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
    shard: Shard | str | None = None,
    finish: bool = False,
    fail_fast: bool = False,
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
    shard
        ``Shard`` or ``"I/N"``: run only this shard's tasks into the shared partial
        folder and return without assembling (see :mod:`geoharmony.execution.shards`).
    finish
        Run no task: assemble index, manifest and statistics once every task is
        recorded (by shards), else raise :class:`DatasetError` naming the missing ones.
    fail_fast
        Stop at the first region whose raster cannot be read. By default such a region
        fails alone, the others complete, and the dataset is published incomplete with
        ``failures.json`` (see :mod:`geoharmony.execution.failures`); a rerun retries
        only the failed tasks.

    Returns
    -------
    Path
        The dataset folder (for a shard: the partial folder it wrote into).
    """
    plan = plan or compute_plan(cfg)
    out = Path(out) if out is not None else cfg.output.path
    out = out.expanduser().absolute()
    fp = plan.fingerprint()
    if _check_existing(out, fp, overwrite, cfg.source):
        log.info("%s is complete and up to date; nothing to do", out)
        return out
    if isinstance(shard, str):
        shard = parse_shard(shard)
    if shard is not None and finish:
        raise ConfigError("--shard and --finish exclude each other: shards run, --finish assembles")
    partial = _partial_path(out)
    state_file = partial / STATE
    writer_cls = get_writer(cfg.output.format)
    if shard is not None and not writer_cls.supports_parallel_tasks:
        raise ConfigError(
            f"{cfg.source}: [output].format = {cfg.output.format!r} writes one file that "
            "concurrent jobs cannot share, so --shard cannot be used; choose zarr, "
            "webdataset, tfrecord or geotiff"
        )
    if _incomplete_of(out, fp) and not partial.exists():
        log.warning("%s has failed regions: retrying only them", out)
        try:
            os.replace(out, partial)  # published incomplete: resume it in place
        except FileNotFoundError:  # a concurrent shard moved it first
            if not partial.exists():
                raise
    if partial.exists():
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = {}
        if state.get("fingerprint") != fp:
            if shard is not None or finish or state.get("sharded"):
                raise OutputExistsError(
                    f"{partial}: holds a sharded run of another configuration or inputs "
                    f"(fingerprint {str(state.get('fingerprint'))[:12]}, this run "
                    f"{fp[:12]}); shards of one run must use the same configuration and "
                    "inputs: wait for that run, or remove the folder to abandon it"
                )
            shutil.rmtree(partial)
    if finish and not partial.exists():
        raise DatasetError(
            f"{out}: nothing to finish: no run of this configuration has started "
            f"({partial} is absent); run the shards (--shard I/N) first"
        )
    if not partial.exists():
        _create_partial(plan, partial, writer_cls, fp, sharded=shard is not None)
    done = _done_tasks(partial)
    if finish:
        missing = sorted(set(range(plan.n_tasks)) - set(_task_records(partial)))
        if missing:
            raise DatasetError(missing_message(partial, missing, plan.n_tasks))
        tasks = []
    else:
        only = shard.tasks(plan.n_tasks) if shard is not None else None
        tasks = make_tasks(plan, partial, done, only=only, fail_fast=fail_fast)
        if done and shard is None:
            log.warning(
                "resuming %s: %d of %d tasks already recorded", partial, len(done), plan.n_tasks
            )
    runner = runners.choose(
        workers=workers, scheduler=scheduler, n_tasks=len(tasks), writer=writer_cls
    )
    show = sys.stderr.isatty() if progress is None else progress
    bar = _progress(len(tasks), 0, show)
    if shard is not None:
        failed: list[int] = []
        try:
            for rec in runner(tasks):
                if rec.get("failures"):
                    failed.append(int(rec["task"]))
                if bar is not None:
                    bar.advance(bar.task_ids[0])
        finally:
            if bar is not None:
                bar.stop()
        write_shard_record(partial, shard, sorted(t.index for t in tasks), sorted(failed))
        recorded = len(_task_records(partial))
        log.warning(
            "shard %s: %d task(s) run, %d failed; %d of %d tasks of the run recorded%s",
            shard,
            len(tasks),
            len(failed),
            recorded,
            plan.n_tasks,
            "; assemble with `geoharmony extract CONFIG --finish`"
            if recorded == plan.n_tasks
            else "",
        )
        return partial
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
        failures = _finish(plan, partial, fp, inputs.result())
    if failures:
        log.warning("%s: %s", out, summary(failures))
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


def task_progress(partial: Path) -> tuple[int, int, int]:
    """``(recorded, total, failed)`` tasks of a run's partial folder."""
    state = json.loads((partial / STATE).read_text(encoding="utf-8"))
    records = _task_records(partial)
    failed = sum(1 for r in records.values() if r.get("failures"))
    return len(records), int(state.get("n_tasks", -1)), failed


def input_records(plan: Plan) -> dict[str, Any]:
    """Every input file with size, sha256 and (rasters) grid: boundary, rasters, labels."""
    cfg = plan.config
    seen: dict[str, dict[str, Any]] = {}

    def record(path: Path | str, info: dict[str, Any]) -> dict[str, Any]:
        key = f"{path}|{info.get('stac')}"  # one file may be the asset of several items
        if key not in seen:
            seen[key] = input_record(path, info)
        return seen[key]

    modalities: dict[str, dict[str, Any]] = {}
    for rid, infos in plan.sources.items():
        for name, info in infos.items():
            modalities.setdefault(name, {})[rid] = record(info.path, info.to_dict())
    labels = {
        name: [
            {**record(src.path, {}), "layer": src.layer, "value": src.value}
            for src in lab.sources
            if src.path.is_file()
        ]
        for name, lab in cfg.labels.items()
        if lab.kind == "vector"
    }
    boundary = cfg.study_area.boundary
    return {
        "boundary": record(boundary, {}) if boundary.is_file() else {"path": str(boundary)},
        "modalities": modalities,
        "labels": labels,
    }


def _finish(
    plan: Plan, root: Path, fingerprint: str, inputs: dict[str, Any]
) -> list[dict[str, Any]]:
    """Write the index and the manifest once every task is recorded; return the failures.

    With failed regions the manifest says ``complete: false``, ``failures.json`` lists
    them and the task records stay (a rerun retries the failed tasks only).
    """
    by_task = _task_records(root)
    if len(by_task) != plan.n_tasks:
        missing = sorted(set(range(plan.n_tasks)) - set(by_task))
        raise DatasetError(missing_message(root, missing, plan.n_tasks))
    records = [by_task[t] for t in sorted(by_task)]
    failures = [dict(f) for f in plan.failed] + collect(records)
    gdf = plan_frame(plan)
    for name in plan.outputs:
        vf = np.zeros(plan.n_patches)
        for rec in records:
            vf[rec["start"] : rec["start"] + rec["n"]] = rec["valid_fraction"][name]
        gdf[f"{name}_valid_fraction"] = vf
    gdf.insert(0, "patch_index", np.arange(plan.n_patches, dtype=np.int64))
    stats = merge_moments([rec["stats"] for rec in records])
    with atomic_path(root / INDEX) as tmp:
        gdf.to_parquet(tmp, index=False, geometry_encoding="WKB", write_covering_bbox=False)
    save_plan(plan, root)
    cfg = plan.config
    manifest = {
        "format_version": 1,
        "geoharmony": versions().get("geoharmony", "unknown"),
        "created": now(),
        "complete": not failures,
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
            }
            for name, o in plan.outputs.items()
        },
        "stats": stats,
        "completed": {"tasks": plan.n_tasks, "finished": now()},
        "failures": {
            "regions": sorted({f["region"] for f in failures}),
            "tasks": sorted({t for f in failures for t in f["tasks"]}),
            "file": FAILURES,
        }
        if failures
        else None,
    }
    if failures:
        write_json_atomic(
            root / FAILURES,
            {"fingerprint": fingerprint, "created": now(), "failures": failures},
        )
    else:
        (root / FAILURES).unlink(missing_ok=True)
    write_json_atomic(root / MANIFEST, manifest)
    if failures:
        return failures
    shutil.rmtree(root / TASKS)
    shutil.rmtree(root / SHARDS, ignore_errors=True)
    (root / STATE).unlink()
    return []
