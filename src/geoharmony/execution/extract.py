"""Execute a plan: tasks -> reads -> writer, resumably, serially, on local processes or Dask.

One run on an output, in order (each step atomic and durable, see :mod:`.resume`):

1. take the output's lock (:mod:`.lock`; a second run is refused, exit 2);
2. plan, and :func:`~geoharmony.execution.resume.recover` whatever a killed run left;
3. build the store skeleton in ``.<name>.partial-<fingerprint>`` (or resume the tasks
   already recorded there), run the remaining tasks (each writes its own shards, then a
   record with its valid fractions, band moments and shard checksums);
4. write the index and the manifest (with every store file's sha256) into the partial
   folder, then rename it into place (replacing the old dataset only now).

Sharded runs (``shard="I/N"``, :mod:`.shards`) take the lock *shared*: the shards of one
run (same fingerprint) write their tasks into the same partial folder at once and return
without step 4; ``finish=True`` (or a plain run) does step 4 under the exclusive lock.
A region whose raster cannot be read fails alone (:mod:`.failures`): the dataset is then
published with ``complete: false`` and its task records, and a rerun retries only them.

A crash at any point leaves either a resumable partial folder or the previous dataset,
never something that looks complete; rerunning the same command continues and ends with
the same content as an uninterrupted run. Input checksums are computed in a background
thread (cached by file identity) while tasks run.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from geoharmony.errors import (
    ConfigError,
    DatasetError,
    ExtractInterrupted,
    GeoharmonyError,
    InputError,
    OutputExistsError,
)
from geoharmony.execution import faults, preflight, resume, runners
from geoharmony.execution.checksums import store_checksums
from geoharmony.execution.failures import FAILURES, collect, fail_fast_error, summary
from geoharmony.execution.layout import patch_layout
from geoharmony.execution.lock import OutputLock
from geoharmony.execution.progress import Progress
from geoharmony.execution.region_labels import (
    LABELS_DIR,
    apply_min_positive,
    build_region_labels,
)
from geoharmony.execution.resume import TASKS, Layout, State
from geoharmony.execution.shards import (
    SHARDS,
    Shard,
    missing_message,
    parse_shard,
    write_shard_record,
)
from geoharmony.execution.stats import STATS_SCHEMA, merge_moments, merge_region_moments
from geoharmony.execution.tasks import array_specs, make_tasks
from geoharmony.io.atomic import AtomicBatch, write_json_atomic
from geoharmony.io.durable import fsync_tree, remove_tree, replace_dir
from geoharmony.io.hashes import BackgroundHasher, CachedHasher
from geoharmony.io.manifest import (
    INDEX,
    MANIFEST,
    MANIFEST_FORMAT,
    input_record,
    now,
    seal,
    versions,
)
from geoharmony.labels.qa import label_qa_summary
from geoharmony.planning.config import Config
from geoharmony.planning.frame import plan_frame
from geoharmony.planning.ownership import cross_region_duplicates
from geoharmony.planning.persist import PLAN, plan_bytes
from geoharmony.planning.plan import Plan, compute_plan
from geoharmony.writers import get_writer

log = logging.getLogger(__name__)
STATE = resume.STATE


def _check_existing(
    out: Path, fingerprint: str, overwrite: bool, config_file: Path | None = None
) -> bool:
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
    ours = isinstance(m.get("fingerprint"), str) and isinstance(m.get("store"), dict)
    if not ours and not (out / PLAN).is_file():  # a damaged dataset of ours still has its plan
        raise OutputExistsError(
            f"{out}: the output path exists and is not a geoharmony dataset (its {MANIFEST} "
            "is not one of ours); --overwrite replaces only geoharmony datasets: choose "
            "another [output].path (nothing was written)"
        )
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


#: The longest output folder name (bytes): its partial, lock and init names add ~50.
MAX_OUTPUT_NAME_BYTES = 200


def _prepare_parent(out: Path) -> None:
    """Create the output's parent folder, or say clearly why it cannot be written."""
    if out.exists() and not out.is_dir():
        raise OutputExistsError(
            f"{out}: the output path is a file, not a folder; "
            "choose another [output].path (nothing was written)"
        )
    if len(out.name.encode()) > MAX_OUTPUT_NAME_BYTES:
        raise InputError(
            f"{out.name[:24]}...: the output folder's name is {len(out.name.encode())} bytes "
            f"long; at most {MAX_OUTPUT_NAME_BYTES} (its partial and lock files add a suffix "
            "to it): choose a shorter [output].path (nothing was written)"
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
    try:  # permissions do not tell everything (root; /proc; some network file systems)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{out.name[:32]}.probe-"):
            pass
    except OSError as exc:
        raise InputError(
            f"{parent}: cannot create files in the output's folder "
            f"({exc.strerror or type(exc).__name__}); "
            "choose a writable [output].path (nothing was written)"
        ) from None


def checked_plan(cfg: Config, plan: Plan | None = None) -> Plan:
    """The plan of ``cfg`` after the pre-flight checks (overlap, memory).

    The plan's warnings are held back until the checks pass, so a refused run prints its
    one error line and nothing else.

    Raises
    ------
    InputError, ConfigError
        The study area is out of every raster's reach, or a task would not fit in memory.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = plan or compute_plan(cfg)
    preflight.check_overlap(plan)
    preflight.check_memory(plan)
    preflight.check_label_sources(plan)
    for w in caught:  # the plan's warnings, once the run is going ahead
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return plan


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
    announce: Callable[[Plan], None] | None = None,
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
    shard
        ``Shard`` or ``"I/N"``: run only this shard's tasks into the shared partial
        folder (lock taken shared) and return without assembling (see
        :mod:`geoharmony.execution.shards`).
    finish
        Run no task: assemble index, manifest and statistics once every task is
        recorded (by shards), else raise :class:`DatasetError` naming the missing ones.
    fail_fast
        Stop at the first region whose raster cannot be read. By default such a region
        fails alone, the others complete, and the dataset is published incomplete with
        ``failures.json`` (see :mod:`geoharmony.execution.failures`); a rerun retries
        only the failed tasks.
    announce
        Called with the plan once the run goes ahead (lock taken, output accepted): the
        CLI prints the plan's notes there, so a refused run prints only its refusal.

    Returns
    -------
    Path
        The dataset folder (for a shard: the partial folder it wrote into).

    Raises
    ------
    OutputLockedError
        Another run holds this output (the message names it).
    ExtractInterrupted
        Ctrl-C or SIGTERM: the message says what was kept and how to resume.
    """
    target = (Path(out) if out is not None else cfg.output.path).expanduser().absolute()
    created = _first_missing(target.parent)  # removed again if this run is refused
    client = runners.connect(scheduler) if isinstance(scheduler, str) else None
    try:
        return _extract(
            cfg,
            out=out,
            workers=workers,
            scheduler=client if client is not None else scheduler,
            overwrite=overwrite,
            progress=progress,
            plan=plan,
            shard=shard,
            finish=finish,
            fail_fast=fail_fast,
            announce=announce,
        )
    except GeoharmonyError:
        if created is not None:
            _remove_empty(target.parent, created)
        raise
    finally:
        if client is not None:
            client.close()


def _first_missing(folder: Path) -> Path | None:
    """The outermost missing folder of ``folder``'s path (None: it exists)."""
    missing = None
    for p in (folder, *folder.parents):
        if p.exists():
            break
        missing = p
    return missing


def _remove_empty(folder: Path, top: Path) -> None:
    """Remove ``folder`` and its parents up to ``top`` while they are empty."""
    for p in (folder, *folder.parents):
        try:
            p.rmdir()
        except OSError:  # not empty (or not ours to remove): stop there
            return
        if p == top:
            return


def _extract(
    cfg: Config,
    *,
    out: str | Path | None,
    workers: int | None,
    scheduler: Any,
    overwrite: bool,
    progress: bool | None,
    plan: Plan | None,
    shard: Shard | str | None,
    finish: bool,
    fail_fast: bool,
    announce: Callable[[Plan], None] | None,
) -> Path:
    """:func:`extract` with the scheduler, if any, already connected."""
    out = Path(out) if out is not None else cfg.output.path
    out = out.expanduser().absolute()
    if out.exists() and not out.is_dir():
        _prepare_parent(out)  # refuses
    # Plan and check first: a bad input is refused before anything is written.
    plan = checked_plan(cfg, plan)
    if fail_fast and plan.failed:  # a region's own raster is missing or unreadable
        raise fail_fast_error(plan.failed[0])
    faults.point("planned")
    _refuse_inputs_inside(plan, out)
    fp = plan.fingerprint()
    if isinstance(shard, str):
        shard = parse_shard(shard)
    if shard is not None and finish:
        raise ConfigError("--shard and --finish exclude each other: shards run, --finish assembles")
    writer_cls = get_writer(cfg.output.format)
    if shard is not None and not writer_cls.supports_parallel_tasks:
        raise ConfigError(
            f"{cfg.source}: [output].format = {cfg.output.format!r} writes one file that "
            "concurrent jobs cannot share, so --shard cannot be used; choose zarr, "
            "webdataset, tfrecord or geotiff"
        )
    try:
        _check_existing(out, fp, overwrite, cfg.source)
    except OutputExistsError:
        OutputLock(out, fp).raise_if_held()  # being written now: that is the first thing to say
        raise
    _prepare_parent(out)
    with OutputLock(out, fp, exclusive=shard is None):
        faults.point("locked")
        lay = Layout(out, fp)
        if _incomplete_of(out, fp) and not lay.partial.exists():
            log.warning("%s has failed regions: retrying only them", out)
            with suppress(FileNotFoundError):  # a concurrent shard may move it first
                os.replace(out, lay.partial)  # published incomplete: resume it in place
        state = resume.recover(lay) if shard is None else _peek(lay)
        if state is State.PUBLISHED or _check_existing(out, fp, overwrite, cfg.source):
            log.info("%s is complete and up to date; nothing to do", out)
            Progress.skipped(out, plan.n_tasks)
            return out
        if announce is not None:
            announce(plan)
        for other in resume.foreign_partials(lay):
            st = {
                **(resume.read_json(other / STATE) or {}),
                **(resume.read_json(other / RUN_INFO) or {}),
            }
            if shard is not None and st.get("sharded"):
                raise OutputExistsError(
                    f"{other}: holds a sharded run of another configuration or inputs "
                    f"(fingerprint {str(st.get('fingerprint'))[:12]}, this run {fp[:12]}) on "
                    f"{out}; shards of one run must use the same configuration and inputs: "
                    "wait for that run, or remove the folder to abandon it"
                )
            log.info("%s: a partial run of another configuration is kept there", other)
        if state is State.FINISHED:
            if shard is None:
                resume.publish(lay)
            return out
        if finish and state is State.ABSENT:
            raise DatasetError(
                f"{out}: nothing to finish: no run of this configuration has started "
                f"({lay.partial} is absent); run the shards (--shard I/N) first"
            )
        with _setup_lock(out, shard is not None):
            if state is State.ABSENT:
                _disk_errors(
                    lay, 0, plan.n_tasks, lambda: _create_partial(lay, shared=shard is not None)
                )
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
                    # sharded runs are marked (foreign shards are refused); n_tasks for messages
                    write_json_atomic(
                        lay.partial / RUN_INFO,
                        {"sharded": shard is not None, "n_tasks": plan.n_tasks},
                    )
                    write_json_atomic(lay.partial / STATE, {**st, "store_created": True})

                _disk_errors(lay, 0, plan.n_tasks, build)
        done = resume.done_tasks(lay)
        if finish:
            missing = sorted(set(range(plan.n_tasks)) - set(_task_records(lay.partial)))
            if missing:
                raise DatasetError(missing_message(lay.partial, missing, plan.n_tasks))
            tasks: list[Any] = []
        else:
            only = shard.tasks(plan.n_tasks) if shard is not None else None
            tasks = make_tasks(plan, lay.partial, done, only=only, fail_fast=fail_fast)
        runner = runners.choose(
            workers=workers, scheduler=scheduler, n_tasks=len(tasks), writer=writer_cls
        )
        bar = Progress(plan, resumed=len(done), enabled=progress)
        if shard is not None:
            failed: list[int] = []
            try:
                _disk_errors(lay, len(done), plan.n_tasks, lambda: _run(runner, tasks, bar, failed))
            finally:
                bar.stop()
            write_shard_record(lay.partial, shard, sorted(t.index for t in tasks), sorted(failed))
            recorded = len(_task_records(lay.partial))
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
            return lay.partial
        # while tasks run: input checksums, the index's geometry and the plan's file
        hasher = BackgroundHasher(lambda h: _prepared(plan, h))
        try:
            _disk_errors(lay, len(done), plan.n_tasks, lambda: _run(runner, tasks, bar))
            prepared = hasher.result()
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
        _refuse_if_nothing_completed(plan, lay)
        failures = _disk_errors(
            lay,
            plan.n_tasks,
            plan.n_tasks,
            lambda: _finish(plan, lay, prepared, region_labels),
        )
        if failures:
            _publish_incomplete(lay)
            log.warning("%s: %s", out, summary(failures))
            return out
        resume.publish(lay)
        bar.summary(out)
    return out


def _refuse_inputs_inside(plan: Plan, out: Path) -> None:
    """Refuse an input stored inside the output folder (or its partial folder).

    A run replaces that folder when it publishes (``--overwrite``, a retry of failed
    regions): the input would be deleted, or read while it is being replaced.
    """
    root = Path(os.path.realpath(out))
    ours = f".{root.name}."  # the partial, old and lock names beside it
    for role, files in plan.input_files().items():
        for f in files:
            p = Path(os.path.realpath(f))
            chain = (p, *p.parents)
            if root in chain or any(
                q.parent == root.parent and q.name.startswith(ours) for q in chain
            ):
                where = plan.input_key(role)
                raise InputError(
                    f"{f}: an input ({where}) lies inside the output folder {out}, which a "
                    "run writes and replaces; move the input out of it, or choose another "
                    "[output].path (nothing was written)"
                )


def _refuse_if_nothing_completed(plan: Plan, lay: Layout) -> None:
    """Every region failed: an error (exit 2), not a dataset.

    Failure isolation is for the other regions: with none left there is nothing to
    publish, and the first failure's reason is the message. The partial folder stays
    when it holds work a rerun would reuse (a task that worked, a region label);
    otherwise it is removed, so a refused run leaves nothing behind.
    """
    records = _task_records(lay.partial)
    fails = collect(records.values())
    failed = {str(f["region"]) for f in fails} | {str(f["region"]) for f in plan.failed}
    regions = {r.id for r in plan.regions} | {str(f["region"]) for f in plan.failed}
    if not fails or not regions or not regions <= failed:
        return
    first = fails[0]
    worked = any(not r.get("failures") for r in records.values())
    if worked or any((lay.partial / LABELS_DIR).rglob("*.tif")):
        kept = f"the work done is kept in {lay.partial}"
    else:
        remove_tree(lay.partial)
        kept = "nothing was written"
    raise InputError(
        f"{first['reason']}; region {first['region']!r}"
        + (f" and {len(regions) - 1} other(s)" if len(regions) > 1 else "")
        + f" failed, nothing was published: fix the input and rerun ({kept})"
    )


#: File of a partial folder: whether shards write it, and its number of tasks.
RUN_INFO = "_run.json"


def _peek(lay: Layout) -> State:
    """The state of the output without changing anything (shards share the lock)."""
    if resume.is_complete(lay.out, lay.fingerprint):
        return State.PUBLISHED
    if lay.partial.is_dir() and resume.is_complete(lay.partial, lay.fingerprint):
        return State.FINISHED
    if lay.partial.is_dir() and (lay.partial / TASKS).is_dir():
        return State.RUNNING
    return State.ABSENT


def _create_partial(lay: Layout, *, shared: bool) -> None:
    """:func:`resume.create_partial`; under a shared lock, another shard may win the race."""
    try:
        resume.create_partial(lay)
    except OSError:
        if not (shared and lay.partial.is_dir()):
            raise


@contextmanager
def _setup_lock(out: Path, shared: bool) -> Iterator[None]:
    """Shards of one run set the partial folder up (region labels, store) one at a time."""
    if not shared:
        yield
        return
    import fcntl

    with open(out.parent / f".{out.name}.setup.lock", "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _incomplete_of(out: Path, fingerprint: str) -> bool:
    """Whether ``out`` is this plan's dataset published with failed tasks to retry."""
    m = resume.read_json(out / MANIFEST) or {}
    return m.get("fingerprint") == fingerprint and (out / TASKS).is_dir()


def _publish_incomplete(lay: Layout) -> None:
    """Publish a dataset with failed regions, keeping its task records for the retry."""
    lay.out.parent.mkdir(parents=True, exist_ok=True)
    if lay.out.exists():
        replace_dir(lay.out, lay.old)
        replace_dir(lay.partial, lay.out)
    else:
        replace_dir(lay.partial, lay.out)
    remove_tree(lay.old)


def _task_records(root: Path) -> dict[int, dict[str, Any]]:
    """Every task record, successful ones winning over failed ones of the same task."""
    out: dict[int, dict[str, Any]] = {}
    for p in sorted((root / TASKS).glob("*.json"), key=lambda q: q.name.count(".")):
        t = p.name.split(".", 1)[0]
        if t.isdigit() and int(t) not in out:
            out[int(t)] = json.loads(p.read_text(encoding="utf-8"))
    return out


def task_progress(partial: Path) -> tuple[int, int, int]:
    """``(recorded, total, failed)`` tasks of a run's partial folder."""
    state = resume.read_json(partial / RUN_INFO) or {}
    records = _task_records(partial)
    failed = sum(1 for r in records.values() if r.get("failures"))
    return len(records), int(state.get("n_tasks", -1)), failed


def _run(
    runner: runners.Runner, tasks: list[Any], bar: Progress, failed: list[int] | None = None
) -> None:
    for rec in runner(tasks):
        bar.advance(rec["n"])
        if failed is not None and rec.get("failures"):
            failed.append(int(rec["task"]))


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
    same list the fingerprint covers. ``modalities[name]`` is a list with one record per
    distinct raster and the ``regions`` that read it
    (:func:`geoharmony.io.manifest.raster_record` finds a region's).
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

    def record(path: Path | str, info: dict[str, Any], role: str) -> dict[str, Any]:
        if isinstance(path, str):  # remote: never downloaded to hash it (size/ETag)
            return input_record(path, info)
        main = one(path) if path.is_file() else {"path": str(path)}
        return {**info, **main, "files": [one(f) for f in files.get(role, [])]}

    # one record per distinct raster, listing the regions that read it: a raster shared by
    # every region is one record, not one copy per region
    modalities: dict[str, dict[Any, dict[str, Any]]] = {}
    for rid, infos in plan.sources.items():
        for name, info in infos.items():
            members = cfg.modalities[name].stack_for(rid) if name in cfg.modalities else []
            key = (id(info), tuple(members))
            seen = modalities.setdefault(name, {})
            if key in seen:
                seen[key]["regions"].append(rid)
                continue
            if info.missing:  # on_missing = "masked": nothing to hash
                rec: dict[str, Any] = {"path": str(info.path), "missing": True}
            else:
                rec = record(info.path, info.to_dict(), f"modalities.{name}.{rid}")
                if members:  # a generated VRT: record the files it stacks
                    rec = {**rec, "stack": [one(Path(p)) for p in members]}
            seen[key] = {**rec, "regions": [rid]}
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
        "modalities": {name: list(recs.values()) for name, recs in modalities.items()},
        "labels": labels,
    }


def _prepared(plan: Plan, sha: CachedHasher) -> dict[str, Any]:
    """What :func:`_finish` needs from the plan alone, made while the tasks run."""
    return {"inputs": input_records(plan, sha), "frame": plan_frame(plan), "plan": plan_bytes(plan)}


def _finish(
    plan: Plan,
    lay: Layout,
    prepared: dict[str, Any],
    region_labels: dict[str, dict[str, dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """RUNNING -> FINISHED: write the index, then the manifest, once every task is recorded.

    ``prepared`` (:func:`_prepared`, made during the run) holds the input records, the
    index's geometry and the plan's bytes. Returns the failures: with failed regions the
    manifest says ``complete: false``, ``failures.json`` lists them and the task records
    stay (a rerun retries those tasks).
    """
    root = lay.partial
    by_task = _task_records(root)
    if len(by_task) != plan.n_tasks:
        missing = sorted(set(range(plan.n_tasks)) - set(by_task))
        raise DatasetError(missing_message(root, missing, plan.n_tasks))
    records = [by_task[t] for t in sorted(by_task)]
    failures = [dict(f) for f in plan.failed] + collect(records)
    gdf = prepared["frame"].copy()
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
    stats_by_region = merge_region_moments(records)
    index = io.BytesIO()
    gdf.to_parquet(index, index=False, geometry_encoding="WKB", write_covering_bbox=False)
    with AtomicBatch() as batch:  # index and plan: one fsync wait for both
        batch.submit(root / INDEX, index.getvalue())
        batch.submit(root / PLAN, prepared["plan"])
        faults.point("index-written")
    cfg = plan.config
    writer = get_writer(cfg.output.format)
    known: dict[str, str] = {}
    for rec in records:
        known.update(rec.get("checksums", {}))
    manifest = {
        "format_version": MANIFEST_FORMAT,  # 2: sealed (io.manifest.seal)
        "geoharmony": versions().get("geoharmony", "unknown"),
        "created": now(),
        "complete": not failures,
        "fingerprint": lay.fingerprint,
        "config_file": str(cfg.source),
        "config": cfg.to_dict(),
        "inputs": prepared["inputs"],
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
        "failures": {
            "regions": sorted({f["region"] for f in failures}),
            "tasks": sorted({t for f in failures for t in f["tasks"]}),
            "file": FAILURES,
        }
        if failures
        else None,
    }
    if failures:  # before the manifest, which is the commit point
        write_json_atomic(
            root / FAILURES,
            {"fingerprint": lay.fingerprint, "created": now(), "failures": failures},
        )
    else:
        (root / FAILURES).unlink(missing_ok=True)
        remove_tree(root / SHARDS)
        (root / RUN_INFO).unlink(missing_ok=True)
    manifest["label_qa"] = label_qa_summary(manifest, gdf)
    w = writer(root)
    w.finalize(manifest)  # may add files to the store (npz: per-region statistics)
    w.close()
    manifest["checksums"] = {
        **store_checksums(root, writer.store_name, known),
        INDEX: batch.digests[root / INDEX],
        PLAN: batch.digests[root / PLAN],
    }
    faults.point("before-manifest")
    # sealed last: the seal covers every other key, the checksums included
    write_json_atomic(root / MANIFEST, seal(manifest), depth=3)  # a line per region entry
    faults.point("manifest-written")
    if not failures:  # the records live on in the manifest (a retry still needs them)
        for p in (root / LABELS_DIR).glob("*/*.json"):
            p.unlink()
    return failures
