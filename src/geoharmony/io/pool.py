"""A per-process pool of open rasters: thread-safe, bounded, and aware of rewritten files.

GDAL dataset handles are not thread-safe: two threads reading through one handle corrupt
its block cache state (segfaults, ``double free``). The pool therefore *lends* a reader to
one thread at a time (:meth:`RasterPool.lease`); a second thread asking for the same
raster while the first still holds it gets a second handle. Handles are returned to the
pool and reused, so a worker opens each raster about once per concurrent thread.

The pool is bounded: at most ``max_open`` idle handles are kept, least recently used
first out, and closed on eviction (a run over thousands of per-region rasters keeps a
worker's file descriptors bounded by the pool, not by the run). The default is a small
fraction of the soft ``RLIMIT_NOFILE`` (a GDAL handle may hold a few descriptors:
the file, ``.msk``/``.aux.xml`` sidecars, a VRT's sources).

Handles are keyed by path, band selection, nodata and the file's identity (inode, size,
mtime): a file rewritten in place is reopened, never read through a stale handle.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from geoharmony.io.raster_info import RasterInfo
from geoharmony.io.reader import RasterReader

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]


def default_max_open() -> int:
    """Idle handles kept per process: 1/8 of the soft file-descriptor limit, 4 to 64."""
    soft = 1024
    if resource is not None:
        lim = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if lim != resource.RLIM_INFINITY and lim > 0:
            soft = int(lim)
    return max(4, min(64, soft // 8))


def file_identity(path: Any) -> tuple[int, int, int] | None:
    """``(inode, size, mtime_ns)`` of a local file, None for remote/virtual paths."""
    try:
        st = os.stat(path)
    except (OSError, ValueError, TypeError):
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class RasterPool:
    """Open rasters lent to one thread at a time, at most ``max_open`` kept idle.

    Examples
    --------
    >>> pool = RasterPool(max_open=8)                         # doctest: +SKIP
    >>> with pool.lease(info) as reader:                      # doctest: +SKIP
    ...     block = reader.read_block(0, 0, 16, 16)
    """

    def __init__(self, max_open: int | None = None) -> None:
        self.max_open = max_open if max_open is not None else default_max_open()
        self._lock = threading.Lock()
        # key -> idle readers; the OrderedDict's order is the LRU order of keys
        self._idle: OrderedDict[tuple[Any, ...], list[RasterReader]] = OrderedDict()
        self._n_idle = 0
        self._leased = 0
        self.opened = 0  # handles opened over the pool's life (for tests and stats)

    @staticmethod
    def key(info: RasterInfo) -> tuple[Any, ...]:
        """Pool key of a raster: path, bands, nodata and file identity."""
        nod = info.nodata
        nod_key = "nan" if nod is not None and nod != nod else nod
        return (str(info.path), tuple(info.bands), nod_key, file_identity(info.path))

    @property
    def n_idle(self) -> int:
        """Idle (open, not lent) handles."""
        return self._n_idle

    @property
    def n_leased(self) -> int:
        """Handles lent out right now."""
        return self._leased

    @contextmanager
    def lease(self, info: RasterInfo) -> Iterator[RasterReader]:
        """A reader of ``info`` that no other thread uses until the block ends."""
        key = self.key(info)
        reader: RasterReader | None = None
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                reader = idle.pop()
                self._n_idle -= 1
                if not idle:
                    del self._idle[key]
            self._leased += 1
        try:
            if reader is None:
                reader = RasterReader(info)
                with self._lock:
                    self.opened += 1
            yield reader
        except BaseException:
            # a failed read may leave the handle in any state: never reuse it
            with self._lock:
                self._leased -= 1
            if reader is not None:
                reader.close()
            raise
        self._give_back(key, reader)

    def _give_back(self, key: tuple[Any, ...], reader: RasterReader) -> None:
        evicted: list[RasterReader] = []
        with self._lock:
            self._leased -= 1
            self._idle.setdefault(key, []).append(reader)
            self._idle.move_to_end(key)
            self._n_idle += 1
            while self._n_idle > self.max_open:
                old_key, old = next(iter(self._idle.items()))
                evicted.append(old.pop(0))
                self._n_idle -= 1
                if not old:
                    del self._idle[old_key]
        for r in evicted:  # close outside the lock (closing may flush sidecars)
            r.close()

    def close(self) -> None:
        """Close every idle handle (a handle lent out now is kept until given back)."""
        with self._lock:
            readers = [r for rs in self._idle.values() for r in rs]
            self._idle.clear()
            self._n_idle = 0
        for r in readers:
            r.close()


#: The pool of this process (workers, Dask worker threads and single-process runs).
POOL = RasterPool()
