"""An exclusive lock on an output folder, held for the whole of an ``extract`` run.

The lock is an ``fcntl.flock`` on ``.<name>.lock`` beside the output. ``flock`` locks
belong to the open file, so two runs in one process (two notebook cells in threads) exclude
each other as two processes do, and the kernel releases the lock when its holder dies
(even by ``SIGKILL``): a stale lock file never blocks anyone. The file holds the holder's
pid, host and start time, which the refused run names. The holder removes the file when
it is done; a run that locked a file just removed by its holder sees that the path no
longer names the file it locked (inode check) and tries again, so two runs never both
hold "the" lock.

Hook for sharded runs (``--shard I/N``, one run split over several jobs): shards of one
run share the partial folder of its plan fingerprint (see :mod:`.resume`). They would take
this lock *shared* (``exclusive=False``) after checking that the holder file names the same
fingerprint, and the shard that finishes the run would take it exclusively to publish.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import IO, Any

from geoharmony.errors import InputError, OutputLockedError
from geoharmony.io.manifest import now

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock (documented limitation)
    fcntl = None  # type: ignore[assignment]


def lock_path(out: Path) -> Path:
    """The lock file of an output folder."""
    return out.parent / f".{out.name}.lock"


class OutputLock:
    """``with OutputLock(out, fingerprint):`` -- refuse (exit 2) if another run holds it."""

    def __init__(self, out: Path, fingerprint: str = "", *, exclusive: bool = True) -> None:
        self.out = out
        self.path = lock_path(out)
        self.fingerprint = fingerprint
        self.exclusive = exclusive
        self._file: IO[str] | None = None

    def holder(self) -> dict[str, Any]:
        """What the lock file says about its holder (empty when unreadable)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def acquire(self) -> None:
        """Take the lock or raise :class:`OutputLockedError` naming its holder."""
        if fcntl is None:  # pragma: no cover
            return
        for _ in range(100):
            f = self._try_lock()
            try:
                same = os.fstat(f.fileno()).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            f.close()  # its holder removed it under us: lock the new file
        else:  # pragma: no cover - 100 lost races in a row
            raise OutputLockedError(f"{self.out}: cannot take the lock {self.path}")
        if self.exclusive:
            f.seek(0)
            f.truncate()
            info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": now(),
                "fingerprint": self.fingerprint,
            }
            f.write(json.dumps(info))
            f.flush()
            os.fsync(f.fileno())
        self._file = f

    def _try_lock(self) -> IO[str]:
        """Open the lock file and lock it, or raise naming the holder."""
        try:
            f = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        except OSError as exc:  # a folder of that name, a read-only place, ...
            raise InputError(
                f"{self.path}: cannot open the output's lock file ({exc.strerror or exc}); "
                "remove whatever has that name, or choose another [output].path"
            ) from None
        try:
            flag = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH
            fcntl.flock(f, flag | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise OutputLockedError(self._held_message()) from None
        except BaseException:
            f.close()
            raise
        return f

    def _held_message(self) -> str:
        h = self.holder()
        who = (
            f"pid {h.get('pid', '?')} on {h.get('host', '?')}, started {h.get('started', '?')}"
            if h
            else "another process"
        )
        return (
            f"{self.out}: another extract is writing this output ({who}; lock "
            f"{self.path}); wait for it to finish, or choose another [output].path"
        )

    def raise_if_held(self) -> None:
        """Raise :class:`OutputLockedError` naming the holder if another run holds it now.

        Creates nothing: a run refused for another reason says first that the output is
        being written (its refusal may be moot once that run ends).
        """
        if fcntl is None:  # pragma: no cover
            return
        try:
            f = open(self.path, encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError:  # no lock file: nobody holds it
            return
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OutputLockedError(self._held_message()) from None
            fcntl.flock(f, fcntl.LOCK_UN)

    def release(self) -> None:
        """Release the lock (the file stays)."""
        f, self._file = self._file, None
        if f is None or fcntl is None:
            return
        try:
            if self.exclusive:  # still ours: nobody else can hold it now
                self.path.unlink(missing_ok=True)
            fcntl.flock(f, fcntl.LOCK_UN)
        finally:
            f.close()

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
