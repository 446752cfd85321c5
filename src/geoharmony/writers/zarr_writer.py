"""Zarr v3 store: one array per modality and per mask, one chunk per patch, sharded.

A chunk per patch keeps random access to one patch cheap for loaders; shards of
``patches_per_shard`` patches make writes a few large files instead of thousands of
tiny ones (zarr's per-chunk overhead, not compression, limits small-chunk writes).
Tasks write whole shards, so concurrent workers never touch the same file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec, BloscShuffle

from geoharmony.writers.base import ArraySpec, PatchStore, PatchWriter


def _compressors(compression: str, dtype: np.dtype) -> Any:
    if compression == "none":
        return None
    shuffle = BloscShuffle.bitshuffle if dtype == np.bool_ else BloscShuffle.shuffle
    return BloscCodec(cname=compression, clevel=3 if compression == "zstd" else 5, shuffle=shuffle, typesize=dtype.itemsize)


class ZarrWriter(PatchWriter):
    """Writes ``patches.zarr`` (Zarr format 3)."""

    format = "zarr"
    store_name = "patches.zarr"
    supports_parallel_tasks = True
    supports_random_access = True

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._arrays: dict[str, Any] = {}

    def create(
        self,
        specs: Mapping[str, ArraySpec],
        n_patches: int,
        *,
        patches_per_shard: int,
        compression: str,
    ) -> None:
        """Create every array, empty (chunks are written by tasks)."""
        group = zarr.open_group(self.path, mode="w", zarr_format=3)
        shard = max(1, min(patches_per_shard, max(n_patches, 1)))
        for spec in specs.values():
            dtype = np.dtype(spec.dtype)
            group.create_array(
                spec.name,
                shape=(n_patches, *spec.shape),
                dtype=dtype,
                chunks=(1, *spec.shape),
                shards=(shard, *spec.shape),
                compressors=_compressors(compression, dtype),
                fill_value=spec.fill_value,
                dimension_names=("patch", "band", "y", "x")[-(1 + len(spec.shape)) :]
                if len(spec.shape) == 3
                else ("patch", "y", "x"),
            )
        self._group = group

    def open(self) -> None:
        """Open the existing group for writing."""
        self._group = zarr.open_group(self.path, mode="r+")
        self._arrays = {}

    def write(self, start: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Write a task's patches (whole shards, except at the very end)."""
        for name, data in arrays.items():
            arr = self._arrays.get(name)
            if arr is None:
                arr = self._arrays[name] = self._group[name]
            arr[start : start + len(data)] = data

    @classmethod
    def reader(cls, root: Path) -> PatchStore:
        """Open ``patches.zarr`` for reading."""
        return ZarrStore(Path(root) / cls.store_name)


class ZarrStore(PatchStore):
    """Reads a ``patches.zarr`` store."""

    def __init__(self, path: Path) -> None:
        self.group = zarr.open_group(path, mode="r")
        self._arrays = {name: arr for name, arr in self.group.arrays()}
        first = next(iter(self._arrays.values()))
        self._n = int(first.shape[0])

    @property
    def names(self) -> list[str]:
        """Array names."""
        return list(self._arrays)

    def __len__(self) -> int:
        return self._n

    def read(self, name: str, index: int | slice | np.ndarray) -> np.ndarray:
        """Read patches of one array."""
        arr = self._arrays[name]
        if isinstance(index, np.ndarray):
            return np.asarray(arr.get_orthogonal_selection((index,)))
        return np.asarray(arr[index])
