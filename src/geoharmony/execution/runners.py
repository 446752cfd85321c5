"""Where tasks run: in this process, on local worker processes, or on a Dask cluster.

Every runner takes the list of tasks and yields their records as they finish; the
writers' capability ``supports_parallel_tasks`` decides whether local processes may be
used. Dask reuses the same task split (and the same per-process reader cache).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from geoharmony.execution.tasks import Task, close_readers, run_task
from geoharmony.writers import PatchWriter

Runner = Callable[[list[Task]], Iterable[dict[str, Any]]]


def serial(tasks: list[Task]) -> Iterable[dict[str, Any]]:
    """Run tasks one after another in this process (GDAL decodes on every core)."""
    try:
        for t in tasks:
            yield run_task(t, decode_threads="ALL_CPUS")
    finally:
        close_readers()


def _pool_context() -> Any:
    """The multiprocessing context of local workers.

    ``forkserver`` (``spawn`` on Windows): workers never inherit the parent's threads
    (zarr's event loop, a user's GDAL threads), and this module is preloaded into the
    fork server, so after the first pool of a process a worker starts in milliseconds
    with geoharmony, rasterio and zarr already imported.
    """
    import multiprocessing as mp

    if sys.platform == "win32":  # pragma: no cover - no fork server on Windows
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["geoharmony.execution.tasks", "geoharmony.writers.zarr_writer"])
    return ctx


def _init_worker() -> None:
    """Set up a pool worker: one core each, so no codec threads of its own."""
    try:
        import numcodecs.blosc

        numcodecs.blosc.use_threads = False
    except ImportError:  # pragma: no cover - numcodecs is a dependency
        pass


def pool(workers: int) -> Runner:
    """Run tasks on ``workers`` local processes, largest first, results as they finish.

    Each worker keeps its own reader cache (every raster opened once per worker) and
    writes its tasks' shards itself; only the small task records travel back.
    """

    def run(tasks: list[Task]) -> Iterable[dict[str, Any]]:
        from concurrent.futures import as_completed

        order = sorted(tasks, key=lambda t: -len(t.rows))
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=_pool_context(), initializer=_init_worker
        ) as ex:
            futures = [ex.submit(run_task, t) for t in order]
            try:
                for fut in as_completed(futures):
                    yield fut.result()
            finally:
                for fut in futures:
                    fut.cancel()

    return run


def dask(address: Any) -> Runner:
    """Run tasks on a Dask ``distributed`` cluster (a scheduler address or a ``Client``)."""

    def run(tasks: list[Task]) -> Iterable[dict[str, Any]]:
        from distributed import Client, as_completed

        client = address if isinstance(address, Client) else Client(address)
        try:
            futures = [
                client.submit(run_task, t, key=f"geoharmony-task-{t.index}-{t.root}", pure=False)
                for t in tasks
            ]
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            if not isinstance(address, Client):
                client.close()

    return run


def choose(
    *, workers: int | None, scheduler: Any, n_tasks: int, writer: type[PatchWriter]
) -> Runner:
    """The runner for a job.

    Dask when a scheduler is given; else a local pool when there is more than one worker,
    more than one task and a writer that allows parallel tasks; else this process.
    """
    if scheduler is not None:
        return dask(scheduler)
    n = workers or os.cpu_count() or 1
    if n > 1 and n_tasks > 1 and writer.supports_parallel_tasks:
        return pool(min(n, n_tasks))
    return serial
