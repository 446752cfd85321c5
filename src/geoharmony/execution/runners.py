"""Where tasks run: in this process, on local worker processes, or on a Dask cluster.

Every runner takes the list of tasks and yields their records as they finish; the
writers' capability ``supports_parallel_tasks`` decides whether local processes may be
used. Dask reuses the same task split (and the same per-process reader cache).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from geoharmony.errors import InputError
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


_QUIET_TRACKER = "ignore::UserWarning:multiprocessing.resource_tracker"


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
    # Workers killed on purpose (Ctrl-C, SIGTERM, a dead sibling) leave the pool's queue
    # semaphores to the resource tracker, which unlinks them and warns in a traceback-like
    # block at exit; its -W options come from sys.warnoptions when it starts.
    if _QUIET_TRACKER not in sys.warnoptions:
        sys.warnoptions.append(_QUIET_TRACKER)
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["geoharmony.execution.tasks", "geoharmony.writers.zarr_writer"])
    return ctx


def _die_with_parent(driver: int) -> None:
    """Make this worker exit when the driver goes, however it goes (even SIGKILL).

    A watchdog thread waits on the worker's start pipe from the driver (it reads EOF the
    moment the driver dies) and exits the worker; the fork server, whose liveness pipe
    the workers hold, exits once they have. Linux: ``PR_SET_PDEATHSIG`` also kills the
    worker when its parent (the fork server) dies.
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):  # pragma: no cover
            pass

    import multiprocessing as mp
    from multiprocessing.connection import wait

    # The driver's end of this worker's start pipe closes when the driver dies (even as
    # an unreaped zombie, whose pid still answers os.kill): wait on it.
    parent = mp.parent_process()
    sentinel = getattr(parent, "sentinel", None)

    def watch() -> None:
        if sentinel is not None:
            with suppress(OSError, ValueError):
                wait([sentinel])
            os._exit(1)
        while True:  # pragma: no cover - no sentinel: poll the pid
            time.sleep(1.0)
            try:
                os.kill(driver, 0)
            except OSError:
                os._exit(1)

    threading.Thread(target=watch, name="geoharmony-watchdog", daemon=True).start()


def _init_worker(driver: int) -> None:
    """Set up a pool worker: one core each, tied to the driver's life, deaf to Ctrl-C.

    Ctrl-C on a terminal reaches the whole foreground process group: the driver handles
    it (and stops the workers); workers ignore it, so they print no traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(driver)
    try:
        import numcodecs.blosc

        numcodecs.blosc.use_threads = False
    except ImportError:  # pragma: no cover - numcodecs is a dependency
        pass


def _unguarded_main() -> Any:
    """The ``__main__`` module when it is a script without ``if __name__ == "__main__":``.

    Worker processes (forkserver/spawn) re-import the main script to unpickle what it
    defines; a script that calls ``extract`` at its top level would then start a run in
    every worker. geoharmony's tasks need nothing from ``__main__``, so for such a script
    the workers are started without importing it (see :func:`_main_hidden`).
    """
    import ast

    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path or not str(path).endswith(".py"):
        return None
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return None
    for node in tree.body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            return None
    return main


@contextmanager
def _main_hidden() -> Iterator[None]:
    """Start workers without re-importing an unguarded main script (restored after)."""
    main = _unguarded_main()
    if main is None:
        yield
        return
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _kill_workers(ex: ProcessPoolExecutor) -> None:
    """Stop every worker now (the driver is leaving: Ctrl-C, SIGTERM, an error)."""
    procs = list(getattr(ex, "_processes", {}).values())  # no public handle on them
    for p in procs:
        with suppress(Exception):
            p.kill()
    for p in procs:
        with suppress(Exception):
            p.join(timeout=5)
    # the workers are gone: the pool's manager thread exits at once and releases the
    # queues' semaphores (no "leaked semaphore" warning at exit)
    ex.shutdown(wait=True, cancel_futures=True)


def pool(workers: int) -> Runner:
    """Run tasks on ``workers`` local processes, largest first, results as they finish.

    Each worker keeps its own reader cache (every raster opened once per worker) and
    writes its tasks' shards itself; only the small task records travel back.
    """

    def run(tasks: list[Task]) -> Iterable[dict[str, Any]]:
        from concurrent.futures import as_completed

        order = sorted(tasks, key=lambda t: -len(t.rows))
        ex = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=_pool_context(),
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )
        clean = False
        try:
            with _main_hidden():  # workers start while tasks are submitted
                futures = [ex.submit(run_task, t) for t in order]
            for fut in as_completed(futures):
                try:
                    rec = fut.result()
                except BrokenProcessPool:
                    raise RuntimeError(
                        "a worker process died (killed, or out of memory); the finished "
                        "tasks are kept: rerun the same command to resume"
                    ) from None
                yield rec
            clean = True
        finally:
            if clean:
                ex.shutdown(wait=True)
            else:
                _kill_workers(ex)

    return run


def connect(address: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``, before anything is written.

    Raises
    ------
    InputError
        The address is malformed, nothing answers there within Dask's connect timeout
        (``distributed.comm.timeouts.connect``), or what answers is not a Dask scheduler.
    """
    from distributed import Client

    try:
        return Client(address)
    except Exception as exc:  # OSError, TimeoutError, ValueError, garbage replies: one answer
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if isinstance(exc, MemoryError):  # a reply read as a message of absurd length
            why = "what answers there does not speak Dask's protocol"
        raise InputError(
            f"--scheduler {address}: cannot connect to a Dask scheduler there ({why}); "
            "check the address (tcp://host:port) and that the scheduler is running "
            "(nothing was written)"
        ) from None


def dask(client: Any) -> Runner:
    """Run tasks on a Dask ``distributed`` cluster through ``client``.

    An address is connected by :func:`connect` before the run writes anything (and
    closed by the run), so the runner only ever gets a ``Client``.
    """

    def run(tasks: list[Task]) -> Iterable[dict[str, Any]]:
        from distributed import as_completed

        futures = [
            client.submit(run_task, t, key=f"geoharmony-task-{t.index}-{t.root}", pure=False)
            for t in tasks
        ]
        for fut in as_completed(futures):
            yield fut.result()

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
