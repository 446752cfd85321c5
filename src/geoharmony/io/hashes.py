"""Input checksums, cached by file identity and computed without blocking the run.

A sha256 of every input goes into the manifest. Hashing a 4 GB raster takes seconds, so

* results are cached by ``(path, size, mtime_ns, inode)`` in a small JSON file in the
  user's cache folder (``$GEOHARMONY_CACHE_DIR``, else ``$XDG_CACHE_HOME/geoharmony``,
  else ``~/.cache/geoharmony``): a resumed run or a second run over the same inputs
  hashes nothing;
* :class:`BackgroundHasher` hashes in a daemon thread while tasks run, reading in 4 MiB
  blocks and checking a stop flag between blocks, so an error or Ctrl-C is never
  delayed by hashing (the driver does not wait for the thread).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from geoharmony.io.atomic import write_json_atomic

_CACHE_LOCK = threading.Lock()


class Cancelled(Exception):
    """Hashing was stopped (the run ended before it finished)."""


def cache_file() -> Path:
    """Where the checksum cache lives."""
    env = os.environ.get("GEOHARMONY_CACHE_DIR")
    if env:
        return Path(env) / "sha256.json"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "geoharmony" / "sha256.json"


def identity_key(path: Path) -> str:
    """Cache key of a file: absolute path, size, mtime (ns) and inode."""
    st = os.stat(path)
    return f"{Path(path).absolute()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"


def _load_cache() -> dict[str, str]:
    try:
        data = json.loads(cache_file().read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _store_cache(new: dict[str, str]) -> None:
    if not new:
        return
    with _CACHE_LOCK:
        data = _load_cache()
        data.update(new)
        if len(data) > 20000:  # bounded: keep the newest entries
            data = dict(list(data.items())[-20000:])
        with suppress(OSError):  # a read-only home: the cache is an optimisation only
            write_json_atomic(cache_file(), data, mkdir=True)


def sha256_file(path: Path, *, chunk: int = 1 << 22, stop: threading.Event | None = None) -> str:
    """Hex sha256 of a file, streamed; raises :class:`Cancelled` once ``stop`` is set."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            if stop is not None and stop.is_set():
                raise Cancelled(str(path))
            h.update(block)
    return h.hexdigest()


class CachedHasher:
    """sha256 of files through the identity cache (one instance per run)."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop
        self._cache = _load_cache()
        self._new: dict[str, str] = {}
        self.hashed = 0  # files actually read (not found in the cache)

    def __call__(self, path: Path) -> str:
        """The sha256 of ``path`` (from the cache when the file is unchanged)."""
        key = identity_key(path)
        hit = self._cache.get(key) or self._new.get(key)
        if hit:
            return hit
        digest = sha256_file(path, stop=self.stop)
        self._new[key] = digest
        self.hashed += 1
        return digest

    def save(self) -> None:
        """Persist the checksums computed by this instance."""
        _store_cache(self._new)


class BackgroundHasher:
    """Run ``fn(hasher)`` in a daemon thread; :meth:`result` waits, :meth:`cancel` never does."""

    def __init__(self, fn: Callable[[CachedHasher], Any]) -> None:
        self._stop = threading.Event()
        self._hasher = CachedHasher(self._stop)
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(fn,), name="geoharmony-sha256", daemon=True
        )
        self._thread.start()

    def _run(self, fn: Callable[[CachedHasher], Any]) -> None:
        try:
            self._result = fn(self._hasher)
        except BaseException as exc:  # reported by result()
            self._error = exc
        finally:
            self._hasher.save()

    def result(self) -> Any:
        """Wait for the records; re-raise what the thread raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result

    def cancel(self) -> None:
        """Ask the thread to stop after its current block (does not wait)."""
        self._stop.set()
