"""sha256 of every file of a dataset's store, recorded in the manifest for ``validate``.

Shards are hashed at write time by the writers that encode them (their task records carry
``{relative path: sha256}``); any other store file (metadata, shards merged by zarr, the
single file of an HDF5 store) is hashed here, once, when the run finishes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from geoharmony.io.hashes import sha256_file


def store_files(root: Path, store_name: str) -> list[str]:
    """Paths (relative to ``root``, ``/``-separated) of every file of the store."""
    store = root / store_name
    if store.is_file():
        return [store_name]
    out = []
    for dirpath, _dirs, files in os.walk(store):
        for name in files:
            out.append(Path(dirpath, name).relative_to(root).as_posix())
    return sorted(out)


def store_checksums(root: Path, store_name: str, known: Mapping[str, str]) -> dict[str, str]:
    """``{relative path: sha256}`` of every store file (``known``: hashed at write time)."""
    return {
        rel: known[rel] if rel in known else sha256_file(root / rel)
        for rel in store_files(root, store_name)
    }
