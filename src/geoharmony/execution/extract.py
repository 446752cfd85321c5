"""Execute a plan: tasks -> reads -> writer, resumably, serially, on local processes or Dask.

One run on an output, in order (each step atomic and durable, see :mod:`.resume`):

1. take the output's lock (:mod:`.lock`; a second run is refused, exit 2);
2. plan, and :func:`~geoharmony.execution.resume.recover` whatever a killed run left;
3. build the store skeleton in ``.<name>.partial-<fingerprint>`` (or resume the tasks
   already recorded there), run the remaining tasks (each writes its own shards, then a
   record with its valid fractions, band moments and shard checksums);
4. write the index and the manifest (with every store file's sha256) into the partial
   folder, then rename it into place (replacing the old dataset only now).

A crash at any point leaves either a resumable partial folder or the previous dataset,
never something that looks complete; rerunning the same command continues and ends with
the same content as an uninterrupted run. Input checksums are computed in a background
thread (cached by file identity) while tasks run.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np

from geoharmony.errors import DatasetError, ExtractInterrupted, InputError, OutputExistsError
from geoharmony.execution import faults, preflight, resume, runners
from geoharmony.execution.checksums import store_checksums
from geoharmony.execution.layout import patch_layout
from geoharmony.execution.lock import OutputLock
from geoharmony.execution.progress import Progress
from geoharmony.execution.region_labels import apply_min_positive, build_region_labels
from geoharmony.execution.resume import TASKS, Layout, State
from geoharmony.execution.stats import STATS_SCHEMA, merge_moments, merge_region_moments
from geoharmony.execution.tasks import array_specs, make_tasks
from geoharmony.io.atomic import atomic_path, write_json_atomic
from geoharmony.io.durable import fsync_tree
from geoharmony.io.hashes import BackgroundHasher, CachedHasher, sha256_file
from geoharmony.io.manifest import INDEX, MANIFEST, now, versions
from geoharmony.labels.qa import label_qa_summary
from geoharmony.planning.config import Config
from geoharmony.planning.frame import plan_frame
from geoharmony.planning.ownership import cross_region_duplicates
from geoharmony.planning.persist import PLAN, save_plan
from geoharmony.planning.plan import Plan, compute_plan
from geoharmony.writers import get_writer

log = logging.getLogger(__name__)
STATE = resume.STATE


def _check_existing(out: Path, fingerprint: str, overwrite: bool) -> bool:
    """True when ``out`` already holds this exact, complete dataset."""
    if not out.exists():
        return False
    if not out.is_dir():
        raise OutputExistsError(
            f"{out}: the output path is a file, not a folder; "
            "choose another [output].path (nothing was written)"
        )
    man = out / MANIFEST
    if not man.is_file():
        if not any(out.iterdir()):
            return False
        raise OutputExistsError(
            f"{out}: the output path exists and is not a geoharmony dataset; "
            "choose another [output].path (nothing was written)"
        )
    m = resume.read_json(man) or {}
    if m.get("fingerprint") == fingerprint and m.get("complete") and not overwrite:
        return True
    if not overwrite:
        raise OutputExistsError(
            f"{out}: holds a dataset from a different configuration or inputs; "
            "pass --overwrite (overwrite=True) to replace it, or choose another [output].path"
        )
    return False


def _prepare_parent(out: Path) -> None:
    """Create the output's parent folder, or say clearly why it cannot be written."""
    if out.exists() and not out.is_dir():
        raise OutputExistsError(
            f"{out}: the output path is a file, not a folder; "
            "choose another [output].path (nothing was written)"
        )
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(
            f"{out}: cannot create the output folder: a parent path is a file; "
            "choose another [output].path (nothing was written)"
        ) from None
    except PermissionError:
        raise InputError(
            f"{out}: cannot create the output folder (permission denied); "
            "choose a writable [output].path (nothing was written)"
        ) from None
    if not os.access(parent, os.W_OK | os.X_OK):
        why = "permission denied"
        with suppress(OSError, AttributeError):
            if os.statvfs(parent).f_flag & os.ST_RDONLY:
                why = "read-only file system"
        raise InputError(
            f"{parent}: the output's folder is not writable ({why}); "
            "choose a writable [output].path (nothing was written)"
        )


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
        A progress bar (default: when stderr is a terminal); otherwise a log line every
        ``$GEOHARMONY_PROGRESS_SECONDS`` (30) seconds and a final summary.

    Returns
    -------
    Path
        The dataset folder.

    Raises
    ------
    OutputLockedError
        Another run holds this output (the message names it).
    ExtractInterrupted
        Ctrl-C or SIGTERM: the message says what was kept and how to resume.
    """
    out = Path(out) if out is not None else cfg.output.path
    out = out.expanduser().absolute()
    if out.exists() and not out.is_dir():
        _prepare_parent(out)  # refuses
    # Plan and check first: a bad input is refused before anything is written.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = plan or compute_plan(cfg)
    preflight.check_overlap(plan)
    preflight.check_memory(plan)
    for w in caught:  # the plan's warnings, once the run is going ahead
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    faults.point("planned")
    fp = plan.fingerprint()
    _check_existing(out, fp, overwrite)
    _prepare_parent(out)
    with OutputLock(out, fp):
        faults.point("locked")
        lay = Layout(out, fp)
        state = resume.recover(lay)
        if state is State.PUBLISHED or _check_existing(out, fp, overwrite):
            log.info("%s is complete and up to date; nothing to do", out)
            Progress.skipped(out, plan.n_tasks)
            return out
        for other in resume.foreign_partials(lay):
            log.info("%s: a partial run of another configuration is kept there", other)
        if state is State.FINISHED:
            resume.publish(lay)
            return out
        writer_cls = get_writer(cfg.output.format)
        if state is State.ABSENT:
            _disk_errors(lay, 0, plan.n_tasks, lambda: resume.create_partial(lay))
        # Region-level labels first (once per region, kept in the partial folder across
        # resumes), then the patch filter they allow; the store is created for what is left.
        region_labels = _disk_errors(
            lay, 0, plan.n_tasks, lambda: build_region_labels(plan, lay.partial)
        )
        plan = apply_min_positive(plan, lay.partial)
        st = resume.read_json(lay.partial / STATE) or {}
        if not st.get("store_created"):

            def build() -> None:
                w = writer_cls(lay.partial)
                w.create(
                    array_specs(plan.outputs),
                    plan.n_patches,
                    patches_per_shard=cfg.output.patches_per_shard,
                    compression=cfg.output.compression,
                )
                if w.needs_layout:
                    w.describe(patch_layout(plan))
                w.close()
                if w.path.is_dir():
                    fsync_tree(w.path)
                write_json_atomic(lay.partial / STATE, {**st, "store_created": True})

            _disk_errors(lay, 0, plan.n_tasks, build)
        done = resume.done_tasks(lay)
        tasks = make_tasks(plan, lay.partial, done)
        runner = runners.choose(
            workers=workers, scheduler=scheduler, n_tasks=len(tasks), writer=writer_cls
        )
        bar = Progress(plan, resumed=len(done), enabled=progress)
        hasher = BackgroundHasher(lambda h: input_records(plan, h))
        try:
            _disk_errors(lay, len(done), plan.n_tasks, lambda: _run(runner, tasks, bar))
            records = hasher.result()
        except KeyboardInterrupt:
            hasher.cancel()
            bar.stop()
            kept = len(resume.done_tasks(lay))
            raise ExtractInterrupted(
                f"interrupted: {kept} of {plan.n_tasks} tasks are kept in {lay.partial}; "
                "rerun the same command to resume"
            ) from None
        except BaseException:
            hasher.cancel()
            bar.stop()
            raise
        bar.stop()
        _disk_errors(
            lay, plan.n_tasks, plan.n_tasks, lambda: _finish(plan, lay, records, region_labels)
        )
        resume.publish(lay)
        bar.summary(out)
    return out


def _run(runner: runners.Runner, tasks: list[Any], bar: Progress) -> None:
    for rec in runner(tasks):
        bar.advance(rec["n"])


def _disk_errors(lay: Layout, kept: int, total: int, fn: Any) -> Any:
    """Run ``fn``; a full disk becomes one clear message (what was kept, how to go on)."""
    import errno

    try:
        return fn()
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        from geoharmony.errors import DiskFullError

        n = len(resume.done_tasks(lay)) if lay.partial.exists() else kept
        where = exc.filename or lay.partial
        raise DiskFullError(
            f"{where}: no space left on the device while writing the dataset; "
            f"{n} of {total} tasks are kept in {lay.partial}: free space and rerun the "
            "same command to resume"
        ) from None


def input_records(plan: Plan, sha: CachedHasher | None = None) -> dict[str, Any]:
    """Every input with size, sha256 and (rasters) grid: boundary, rasters, labels.

    Each record is that of the file the config names, plus ``files``: every file the
    source consists of (sidecars, folder contents), from :meth:`Plan.input_files`, the
    same list the fingerprint covers.
    """
    cfg = plan.config
    sha = sha or CachedHasher()
    files = plan.input_files()
    sums: dict[str, dict[str, Any]] = {}

    def one(path: Path) -> dict[str, Any]:
        key = str(path)
        if key not in sums:
            st = path.stat()
            sums[key] = {"path": key, "size": st.st_size, "sha256": sha(path)}
        return sums[key]

    def record(path: Path, info: dict[str, Any], role: str) -> dict[str, Any]:
        main = one(path) if path.is_file() else {"path": str(path)}
        return {**info, **main, "files": [one(f) for f in files.get(role, [])]}

    modalities: dict[str, dict[str, Any]] = {}
    for rid, infos in plan.sources.items():
        for name, info in infos.items():
            role = f"modalities.{name}.{rid}"
            if info.missing:  # on_missing = "masked": nothing to hash
                modalities.setdefault(name, {})[rid] = {"path": str(info.path), "missing": True}
                continue
            rec = record(info.path, info.to_dict(), role)
            members = cfg.modalities[name].stack_for(rid) if name in cfg.modalities else []
            if members:  # a generated VRT: record the files it stacks
                rec = {**rec, "stack": [one(Path(p)) for p in members]}
            modalities.setdefault(name, {})[rid] = rec
    labels = {
        name: [
            {
                **record(src.path, {}, f"labels.{name}.{k}"),
                "layer": src.layer,
                "value": src.value,
            }
            for k, src in enumerate(lab.sources)
        ]
        for name, lab in cfg.labels.items()
        if lab.kind == "vector"
    }
    for name, per in plan.label_sources.items():  # kind = "raster" label sources
        labels[name] = [
            {**record(i.path, i.to_dict(), f"labels.{name}.{rid}"), "region": rid}
            for rid, i in per.items()
        ]
    return {
        "boundary": record(cfg.study_area.boundary, {}, "boundary"),
        "modalities": modalities,
        "labels": labels,
    }


def _finish(
    plan: Plan,
    lay: Layout,
    inputs: dict[str, Any],
    region_labels: dict[str, dict[str, dict[str, Any]]] | None = None,
) -> None:
    """RUNNING -> FINISHED: write the index, then the manifest, once every task is recorded."""
    root = lay.partial
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
        faults.point("index-written")
    save_plan(plan, root)
    cfg = plan.config
    writer = get_writer(cfg.output.format)
    known: dict[str, str] = {}
    for rec in records:
        known.update(rec.get("checksums", {}))
    manifest = {
        "format_version": 1,
        "geoharmony": versions().get("geoharmony", "unknown"),
        "created": now(),
        "complete": True,
        "fingerprint": lay.fingerprint,
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
            "regions_without_patches": plan.regions_without_patches,
            "cross_region_duplicates": len(cross_region_duplicates(plan.table)),
            "notes": list(plan.notes),
            "transforms": list(plan.transforms),
            "ground_resolution_m": {
                rid: {m: list(v) for m, v in per.items()} for rid, per in plan.ground.items()
            },
            "task_size": plan.task_size,
        },
        "store": {
            "format": cfg.output.format,
            "path": writer.store_name,
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
        "checksums": {},  # below, once the writer has finalised the store
        "completed": {"tasks": plan.n_tasks, "finished": now()},
    }
    manifest["label_qa"] = label_qa_summary(manifest, gdf)
    w = writer(root)
    w.finalize(manifest)  # may add files to the store (npz: per-region statistics)
    w.close()
    manifest["checksums"] = {
        **store_checksums(root, writer.store_name, known),
        INDEX: sha256_file(root / INDEX),
        PLAN: sha256_file(root / PLAN),
    }
    faults.point("before-manifest")
    write_json_atomic(root / MANIFEST, manifest)
    faults.point("manifest-written")
