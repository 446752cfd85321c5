"""What a run tells the user: a bar on a terminal, log lines in batch jobs, one summary.

On a terminal (or with ``progress=True``) one ``rich`` bar shows patches, rate and ETA.
Otherwise (a SLURM log, a pipe) a line is logged every ``$GEOHARMONY_PROGRESS_SECONDS``
(default 30) seconds, and every run ends with one summary line: tasks run now, resumed
from an earlier run, patches per second. Everything goes through :mod:`logging`
(``geoharmony.execution.progress``), so a batch log holds it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _interval() -> float:
    try:
        return max(0.1, float(os.environ.get("GEOHARMONY_PROGRESS_SECONDS", "30")))
    except ValueError:
        return 30.0


class Progress:
    """Progress of one run over ``plan``'s tasks (``resumed`` were done by an earlier run)."""

    def __init__(self, plan: Any, *, resumed: int, enabled: bool | None) -> None:
        self.n_tasks = plan.n_tasks
        self.n_patches = plan.n_patches
        self.task_size = max(plan.task_size, 1)
        self.resumed = resumed
        self.ran = 0
        self.patches = 0
        self.t0 = time.perf_counter()
        self._last = self.t0
        self._interval = _interval()
        show = sys.stderr.isatty() if enabled is None else enabled
        self._bar: Any = None
        if resumed:
            log.info("resuming: %d of %d tasks were done by an earlier run", resumed, self.n_tasks)
        if show:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TaskProgressColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import (
                Progress as RichProgress,
            )

            self._bar = RichProgress(
                TextColumn("extract"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("patches"),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                transient=True,
            )
            self._bar.start()
            done = min(self.n_patches, resumed * self.task_size)
            self._bar.add_task("patches", total=self.n_patches, completed=done, rate="")

    def advance(self, n_patches: int) -> None:
        """One task finished with ``n_patches`` patches."""
        self.ran += 1
        self.patches += n_patches
        now = time.perf_counter()
        rate = self.patches / max(now - self.t0, 1e-9)
        if self._bar is not None:
            self._bar.update(self._bar.task_ids[0], advance=n_patches, rate=f"{rate:.0f}/s")
        elif now - self._last >= self._interval:
            self._last = now
            log.info(
                "extract: %d of %d tasks done (%d resumed), %.0f patches/s",
                self.ran + self.resumed,
                self.n_tasks,
                self.resumed,
                rate,
            )

    def stop(self) -> None:
        """Remove the bar (idempotent)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def summary(self, out: Path) -> None:
        """The run's one summary line."""
        dt = time.perf_counter() - self.t0
        log.info(
            "extract: %d tasks run, %d resumed, %d patches in %.1f s (%.0f patches/s) -> %s",
            self.ran,
            self.resumed,
            self.patches,
            dt,
            self.patches / max(dt, 1e-9),
            out,
        )

    @staticmethod
    def skipped(out: Path, n_tasks: int) -> None:
        """Summary of a run that had nothing to do."""
        log.info("extract: %d tasks skipped: %s is complete and up to date", n_tasks, out)
