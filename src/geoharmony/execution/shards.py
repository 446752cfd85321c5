"""Sharded runs: N independent jobs (a SLURM job array) build one dataset.

``geoharmony extract CONFIG --shard I/N`` runs the tasks ``t`` with ``t % N == I`` of the
plan (a deterministic, balanced 1/N: tasks are spatially ordered, so every shard gets
tiles from all over the study area) into the run's shared partial folder and exits
without assembling. Shards of one run cooperate: they plan the same tasks (the plan
depends on the configuration and inputs only), each task writes its own store shards and
its own record, and whichever shard creates the partial folder does it atomically (built
aside, then renamed), so concurrent starts are safe. A shard of a *different* run (other
configuration or inputs) finding the folder is refused.

Once every shard has finished, ``geoharmony extract CONFIG --finish`` assembles the index,
manifest and statistics, or says which tasks (and which shards) are missing; a plain
``geoharmony extract CONFIG`` does the same after running any missing task itself. The
``sbatch`` recipe is ``examples/slurm/extract_array.sbatch``.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from geoharmony.errors import ConfigError
from geoharmony.io.manifest import now, write_json_atomic

#: Folder (inside the partial output) of the shards' records.
SHARDS = "_shards"

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based, like ``SLURM_ARRAY_TASK_ID``)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, task: int) -> bool:
        """Whether ``task`` is this shard's."""
        return task % self.count == self.index

    def tasks(self, n_tasks: int) -> set[int]:
        """The tasks of this shard among ``range(n_tasks)``."""
        return set(range(self.index, n_tasks, self.count))


def parse_shard(text: str) -> Shard:
    """Parse ``"I/N"`` (``0 <= I < N``).

    Raises
    ------
    ConfigError
        Naming the option, the rule and the value, with the SLURM spelling as the fix.
    """
    m = _SHARD.match(str(text))
    fix = (
        "in a SLURM array job use --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT "
        "with --array=0-<N-1>"
    )
    if m is None:
        raise ConfigError(f"--shard must be I/N (two whole numbers), found {text!r}; {fix}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {text}: needs N >= 1 and 0 <= I < N, found I={i}, N={n}; {fix}")
    return Shard(i, n)


def write_shard_record(root: Path, shard: Shard, ran: list[int], failed: list[int]) -> None:
    """Note in the partial folder that ``shard`` finished (for ``--finish`` messages)."""
    folder = root / SHARDS
    folder.mkdir(exist_ok=True)
    job = {k: v for k, v in os.environ.items() if k.startswith("SLURM_") and "JOB" in k}
    write_json_atomic(
        folder / f"{shard.index:05d}-of-{shard.count:05d}.json",
        {
            "shard": str(shard),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "finished": now(),
            "tasks_run": ran,
            "tasks_failed": failed,
            "slurm": job,
        },
    )


def shard_counts(root: Path) -> set[int]:
    """The shard counts ``N`` of the shards that recorded themselves in ``root``."""
    out = set()
    for p in (root / SHARDS).glob("*-of-*.json"):
        try:
            out.add(int(p.stem.split("-of-")[1]))
        except (IndexError, ValueError):
            continue
    return out


def missing_message(root: Path, missing: list[int], n_tasks: int) -> str:
    """Which tasks are not recorded yet, and which shards own them."""
    shown = ", ".join(str(t) for t in missing[:20]) + (" ..." if len(missing) > 20 else "")
    msg = f"{root}: {len(missing)} of {n_tasks} tasks are not recorded yet (tasks {shown})"
    counts = shard_counts(root)
    if len(counts) == 1:
        n = counts.pop()
        owners = sorted({t % n for t in missing})
        done = {p.stem for p in (root / SHARDS).glob("*.json")}
        running = [i for i in owners if f"{i:05d}-of-{n:05d}" not in done]
        msg += (
            f"; they belong to shard(s) {', '.join(f'{i}/{n}' for i in owners)}"
            + (f" ({len(running)} of them never finished)" if running else "")
            + f"; rerun those with --shard I/{n}, or run extract without --shard/--finish "
            "to do the missing tasks here"
        )
    else:
        msg += "; run the missing shards, or extract without --shard/--finish to do them here"
    return msg
