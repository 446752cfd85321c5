"""Durable folder operations: fsync of trees and folders, folder renames that survive a crash.

Files are written through :mod:`geoharmony.io.atomic` (flush + fsync + rename + fsync of
the folder). Folders built by other libraries (zarr's metadata) are made durable here with
:func:`fsync_tree` before the folder is renamed into place with :func:`replace_dir`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from geoharmony.io.atomic import fsync_dir, fsync_file

__all__ = [
    "TEMP_MARKERS",
    "fsync_dir",
    "fsync_tree",
    "remove_tree",
    "replace_dir",
    "sweep_temporaries",
]

#: Marker in the names of temporary files of :mod:`geoharmony.io.atomic` (and older ones).
TEMP_MARKERS = (".tmp-", ".tmp")


def fsync_tree(root: Path) -> None:
    """Fsync every file and folder under ``root`` (and ``root`` itself)."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fsync_file(Path(dirpath) / name)
        fsync_dir(Path(dirpath))


def replace_dir(src: Path, dst: Path) -> None:
    """Rename folder ``src`` to ``dst`` (which must not exist) durably."""
    os.replace(src, dst)
    fsync_dir(dst.parent)
    if src.parent != dst.parent:
        fsync_dir(src.parent)


def remove_tree(path: Path) -> None:
    """Remove a folder (or file) if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def sweep_temporaries(root: Path) -> list[Path]:
    """Remove the temporary files a killed atomic write left under ``root``; return them."""
    gone = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(".") and any(m in name for m in TEMP_MARKERS):
                p = Path(dirpath) / name
                p.unlink(missing_ok=True)
                gone.append(p)
    return gone
