"""Resume: the states an output can be left in, and the one way forward from each.

Every step of a run that changes the disk is atomic (a file written through
:mod:`geoharmony.io.atomic`, a folder renamed with :func:`~geoharmony.io.durable.replace_dir`)
and durable (fsynced before it is renamed), so whatever instruction a run is killed at,
the disk is in one of these states. :func:`recover`, run under the output lock
(:mod:`.lock`) before anything else, moves each to a state a run continues from:

==============  ==========================================================  ===============
state           on disk (``F`` = plan fingerprint)                           recovery
==============  ==========================================================  ===============
CREATING        ``.<name>.partial-F.init-*`` (store skeleton being built)    removed
RUNNING         ``.<name>.partial-F/`` with ``_state.json`` and ``_tasks/``  resumed: tasks
                (one record per finished task, written after its shards)    with a record
                                                                            are skipped
FINISHED        ``.<name>.partial-F/manifest.json`` complete                cleaned
                (``_tasks``/``_state.json`` maybe still there)              (idempotent)
                                                                            then published
PUBLISHING      ``.<name>.old`` present (the replaced dataset), ``<name>``  publish again;
                absent                                                      or, without a
                                                                            finished
                                                                            partial, the
                                                                            old one is put
                                                                            back
PUBLISHED       ``<name>/manifest.json`` with fingerprint F                 ``.old`` removed
==============  ==========================================================  ===============

Temporary files of killed atomic writes (``.*.tmp-*``) are swept from a partial folder
before it is resumed and before it is published, so a finished dataset never holds one.

Partial folders are named by fingerprint: a run of another configuration never touches
(let alone deletes) this run's partial folder, so switching configurations back and forth
loses nothing; :func:`foreign_partials` lists them for a note in the log. Shards of one
sharded run (``--shard I/N``, planned) share the same ``partial-F`` folder: each records
its tasks there and the last to finish publishes (see the hook in :mod:`.lock`).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from geoharmony.execution import faults
from geoharmony.execution.region_labels import LABELS_DIR
from geoharmony.io.atomic import write_json_atomic
from geoharmony.io.durable import (
    fsync_dir,
    fsync_tree,
    remove_tree,
    replace_dir,
    sweep_temporaries,
)
from geoharmony.io.manifest import MANIFEST, now

log = logging.getLogger(__name__)

#: Folder (inside the partial output) of the finished tasks' records.
TASKS = "_tasks"
#: State file of a partial output (its fingerprint and start time).
STATE = "_state.json"


class State(Enum):
    """Where a run on one output stands (see the module docstring)."""

    ABSENT = "absent"
    RUNNING = "running"
    FINISHED = "finished"
    PUBLISHED = "published"


@dataclass(frozen=True)
class Layout:
    """The paths of one output and one plan fingerprint."""

    out: Path
    fingerprint: str

    @property
    def partial(self) -> Path:
        """The partial folder of this fingerprint."""
        return self.out.parent / f".{self.out.name}.partial-{self.fingerprint[:16]}"

    @property
    def old(self) -> Path:
        """Where the replaced dataset waits while a new one is published."""
        return self.out.parent / f".{self.out.name}.old"

    def init_glob(self) -> str:
        """Pattern of this fingerprint's folders being created (CREATING)."""
        return f"{self.partial.name}.init-*"


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file, None when missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_complete(folder: Path, fingerprint: str | None = None) -> bool:
    """True when ``folder`` holds a complete manifest (of ``fingerprint`` if given)."""
    m = read_json(folder / MANIFEST)
    if not m or not m.get("complete"):
        return False
    return fingerprint is None or m.get("fingerprint") == fingerprint


def recover(lay: Layout) -> State:
    """Bring the disk around ``lay.out`` to a state a run continues from (under the lock)."""
    parent = lay.out.parent
    for stale in parent.glob(lay.init_glob()):  # CREATING: never became a partial
        log.info("removing %s (an interrupted start)", stale)
        remove_tree(stale)
    partial_done = lay.partial.is_dir() and is_complete(lay.partial, lay.fingerprint)
    if lay.old.exists():
        if lay.out.exists():  # PUBLISHED but not cleaned
            remove_tree(lay.old)
        elif not partial_done:  # the publish cannot go on: put the old dataset back
            replace_dir(lay.old, lay.out)
    if is_complete(lay.out, lay.fingerprint):
        if lay.partial.exists():  # a leftover copy of what is already published
            remove_tree(lay.partial)
        return State.PUBLISHED
    if partial_done:
        return State.FINISHED
    if lay.partial.is_dir():
        st = read_json(lay.partial / STATE)
        if (
            st is None
            or st.get("fingerprint") != lay.fingerprint
            or not (lay.partial / TASKS).is_dir()
        ):
            # our name but not a resumable state (edited by hand): start again
            log.warning("%s is not a resumable partial output; starting again", lay.partial)
            remove_tree(lay.partial)
            return State.ABSENT
        sweep_temporaries(lay.partial)
        return State.RUNNING
    return State.ABSENT


def foreign_partials(lay: Layout) -> list[Path]:
    """Partial folders of other fingerprints beside the output (left untouched)."""
    return sorted(
        p
        for p in lay.out.parent.glob(f".{lay.out.name}.partial-*")
        if p.is_dir() and p.name != lay.partial.name and ".init-" not in p.name
    )


def create_partial(lay: Layout, build: Any = None) -> None:
    """ABSENT -> RUNNING: prepare the partial folder in a temporary one, then rename it.

    ``build(folder)``, if given, creates more in ``folder`` first. (``extract`` creates the
    store afterwards, once the region labels have decided which patches remain, and marks
    it ``store_created`` in the state file: an interrupted creation is simply redone.)
    """
    tmp = lay.out.parent / f"{lay.partial.name}.init-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        (tmp / TASKS).mkdir()
        if build is not None:
            build(tmp)
        write_json_atomic(tmp / STATE, {"fingerprint": lay.fingerprint, "started": now()})
        fsync_tree(tmp)
        faults.point("partial-init")
        replace_dir(tmp, lay.partial)
    except BaseException:
        remove_tree(tmp)
        raise


def done_tasks(lay: Layout) -> set[int]:
    """Tasks with a record in the partial folder."""
    d = lay.partial / TASKS
    if not d.is_dir():
        return set()
    return {int(p.stem) for p in d.glob("*.json") if p.stem.isdigit()}


def finish_cleanup(lay: Layout) -> None:
    """FINISHED: drop the task records and the state file (idempotent), sweep temporaries."""
    remove_tree(lay.partial / TASKS)
    for p in (lay.partial / LABELS_DIR).glob("*/*.json"):
        p.unlink()  # region label records: kept in the manifest
    faults.point("cleanup")
    (lay.partial / STATE).unlink(missing_ok=True)
    sweep_temporaries(lay.partial)
    fsync_dir(lay.partial)


def publish(lay: Layout) -> None:
    """FINISHED -> PUBLISHED: rename the partial folder into place (replacing ``out``)."""
    finish_cleanup(lay)
    lay.out.parent.mkdir(parents=True, exist_ok=True)
    if lay.out.exists():
        replace_dir(lay.out, lay.old)
        faults.point("publish")
        replace_dir(lay.partial, lay.out)
    else:
        replace_dir(lay.partial, lay.out)
    remove_tree(lay.old)  # also the one a run killed mid-publish left
    # the shards' set-up lock: no shard runs now (this run holds the output exclusively)
    (lay.out.parent / f".{lay.out.name}.setup.lock").unlink(missing_ok=True)
