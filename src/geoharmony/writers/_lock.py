"""An exclusive lock on a file path, across threads and processes of one machine.

HDF5 files take one writer at a time. ``extract`` runs HDF5 tasks serially, but a Dask
scheduler still runs them concurrently; the HDF5 writer then holds this lock from
``open`` to ``close`` so tasks take turns writing (their reads and warps still overlap).
Within a process a :class:`threading.Lock` orders threads (POSIX locks are per process);
across processes an ``fcntl`` lock on a small file in the temporary directory, named
from the store's absolute path (``geoharmony-<sha1>.lock``, empty, left in place: removing
a lock file others may wait on is racy), orders processes of the same machine. Processes
on other machines are not covered here; the HDF5 writer waits on HDF5's own file lock.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: threads of one process only
    fcntl = None  # type: ignore[assignment]

_GUARD = threading.Lock()
_THREAD_LOCKS: dict[str, threading.Lock] = {}


class PathLock:
    """Exclusive lock named by a path (the path itself is not touched).

    Examples
    --------
    >>> lock = PathLock("/tmp/example.h5")
    >>> lock.acquire()
    >>> lock.release()
    """

    def __init__(self, path: str | Path) -> None:
        self.key = str(Path(path).absolute())
        digest = hashlib.sha1(self.key.encode()).hexdigest()[:20]
        self.lock_file = Path(tempfile.gettempdir()) / f"geoharmony-{digest}.lock"
        with _GUARD:
            self._thread_lock = _THREAD_LOCKS.setdefault(self.key, threading.Lock())
        self._file: IO[bytes] | None = None
        self._held = False

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._held

    def acquire(self) -> None:
        """Block until this object holds the lock (not re-entrant)."""
        self._thread_lock.acquire()
        try:
            if fcntl is not None:
                f = open(self.lock_file, "ab")  # noqa: SIM115 - held until release()
                try:
                    fcntl.lockf(f, fcntl.LOCK_EX)
                except BaseException:
                    f.close()
                    raise
                self._file = f
        except BaseException:
            self._thread_lock.release()
            raise
        self._held = True

    def release(self) -> None:
        """Release the lock (a no-op when not held)."""
        if not self._held:
            return
        self._held = False
        f, self._file = self._file, None
        try:
            if f is not None:
                try:
                    fcntl.lockf(f, fcntl.LOCK_UN)
                finally:
                    f.close()
        finally:
            self._thread_lock.release()
