"""Atomic file writes: a file appears complete at its path, or not at all.

The one helper every writer, the manifest, the plan, figures and the report use: the
content goes to a temporary file in the same folder (so the rename cannot cross file
systems), is flushed and fsynced, renamed over the target, and the folder is fsynced so
the rename itself survives a crash. A failure leaves the target as it was and removes the
temporary file.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (renames, new files) to disk."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse directory fsync
        pass
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_name(path: Path) -> Path:
    """A unique hidden name beside ``path`` that keeps its suffix (for format sniffing)."""
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}{path.suffix}")


@contextmanager
def atomic_path(path: str | Path, *, mkdir: bool = False) -> Iterator[Path]:
    """A temporary path to write to; it becomes ``path`` when the block ends without error.

    For writers that want a file name (rasterio, matplotlib, pyarrow). ``mkdir`` creates
    the parent folders first.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "a.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('hello', ['a.txt'])
    """
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_file(path: str | Path, *, mkdir: bool = False) -> Iterator[IO[bytes]]:
    """A binary file that appears at ``path`` only once closed without error."""
    with atomic_path(path, mkdir=mkdir) as tmp, open(tmp, "wb") as f:
        yield f
        f.flush()


def write_bytes_atomic(path: str | Path, data: bytes, *, mkdir: bool = False) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_file(path, mkdir=mkdir) as f:
        f.write(data)


def write_text_atomic(path: str | Path, text: str, *, mkdir: bool = False) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"), mkdir=mkdir)


def write_json_atomic(path: str | Path, data: Any, *, mkdir: bool = False) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically (``default=str``)."""
    write_text_atomic(path, json.dumps(data, indent=2, default=str), mkdir=mkdir)
