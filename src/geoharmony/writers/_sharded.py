"""Common machinery of the shard-file formats (WebDataset tar, TFRecord).

The store is a folder: ``_store.json`` (see :mod:`geoharmony.writers._common`) plus one
file per shard of ``patches_per_shard`` consecutive patches, ``shard-%06d<suffix>`` with
the shard number ``first_patch // patches_per_shard``, and beside each shard a small index
of where each patch's bytes are, so one patch is read with one seek. Tasks cover whole
shards, so concurrent tasks never touch the same file; each shard (and its index) appears
atomically (temporary file + rename), so an interrupted task leaves no half shard.
"""

from __future__ import annotations

import shutil
from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from geoharmony.writers._common import (
    StoreMeta,
    check_write,
    normalize_specs,
    shard_name,
)
from geoharmony.writers.base import ArraySpec, PatchStore, PatchWriter


class ShardedWriter(PatchWriter):
    """A writer whose shards are whole files (subclasses encode one shard)."""

    #: Suffix of shard files (``.tar``).
    suffix: ClassVar[str]
    supports_parallel_tasks = True
    supports_random_access = True

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._meta: StoreMeta | None = None

    def create(
        self,
        specs: Mapping[str, ArraySpec],
        n_patches: int,
        *,
        patches_per_shard: int,
        compression: str,
    ) -> None:
        """Create the empty store folder and its ``_store.json`` (replacing any old one)."""
        checked = normalize_specs(specs, where=f"{self.format} store {self.path}")
        if patches_per_shard < 1:
            raise ValueError(f"patches_per_shard must be >= 1, got {patches_per_shard}")
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        self._meta = StoreMeta(
            format=self.format,
            specs=checked,
            n_patches=int(n_patches),
            patches_per_shard=int(patches_per_shard),
            compression=compression,
            extra=self._extra(n_patches),
        )
        self._meta.write(self.path)

    def _extra(self, n_patches: int) -> dict[str, Any]:
        return {}

    def open(self) -> None:
        """Read the store's description (shards are written whole by :meth:`write`)."""
        self._meta = StoreMeta.read(self.path)

    def _opened(self) -> StoreMeta:
        if self._meta is None:
            self._meta = StoreMeta.read(self.path)
        return self._meta

    def write(self, start: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Write whole shards: ``start`` and the end must lie on shard boundaries.

        Raises
        ------
        ValueError
            If the range is not shard-aligned or the arrays do not match the store.
        """
        meta = self._opened()
        n = check_write(meta, start, arrays, where=f"{self.path}", aligned=True)
        s = meta.patches_per_shard
        for lo in range(start, start + n, s):
            hi = min(lo + s, start + n)
            part = {name: np.asarray(a[lo - start : hi - start]) for name, a in arrays.items()}
            self._write_shard(meta, lo // s, lo, part)

    @abstractmethod
    def _write_shard(
        self, meta: StoreMeta, shard: int, first: int, arrays: Mapping[str, np.ndarray]
    ) -> None:
        """Encode patches ``first ..`` of one shard into its file and index."""

    def close(self) -> None:
        """Nothing stays open between calls."""
        self._meta = None


class ShardedStore(PatchStore):
    """Reads a folder of shard files through their indexes."""

    suffix: ClassVar[str]

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.meta = StoreMeta.read(self.path)
        self._indexes: dict[int, Any] = {}

    @property
    def names(self) -> list[str]:
        """Array names."""
        return list(self.meta.specs)

    def __len__(self) -> int:
        return self.meta.n_patches

    def shard_path(self, shard: int) -> Path:
        """File of shard number ``shard``."""
        return self.path / shard_name(shard, self.suffix)

    def _index(self, shard: int) -> Any:
        """The shard's index (cached), or None when the shard was never written."""
        if shard not in self._indexes:
            path = self.shard_path(shard)
            self._indexes[shard] = self._load_index(shard, path) if path.is_file() else None
        return self._indexes[shard]

    @abstractmethod
    def _load_index(self, shard: int, path: Path) -> Any:
        """Read (or rebuild by scanning ``path``) the index of one shard."""

    @abstractmethod
    def _read_one(self, name: str, shard: int, local: int, index: Any) -> np.ndarray:
        """Decode array ``name`` of patch ``local`` (position inside the shard)."""

    def _read(self, name: str, pos: np.ndarray, scalar: bool) -> np.ndarray:
        """Patches at ``pos`` (patches never written read as the fill value)."""
        s = self.meta.patches_per_shard
        out = self.meta.fill(name, len(pos))
        for k, p in enumerate(pos.tolist()):
            shard, local = divmod(p, s)
            idx = self._index(shard)
            if idx is not None:
                out[k] = self._read_one(name, shard, local, idx)
        return out[0] if scalar else out

    def read_bytes(self, shard: int, offset: int, size: int) -> bytes:
        """``size`` bytes of a shard file at ``offset``.

        Raises
        ------
        ValueError
            If the file is shorter than the index says (a stale or corrupt index).
        """
        with open(self.shard_path(shard), "rb") as f:
            f.seek(offset)
            data = f.read(size)
        if len(data) != size:
            raise ValueError(
                f"{self.shard_path(shard)}: expected {size} bytes at offset {offset}, "
                f"found {len(data)}; the shard or its index is damaged"
            )
        return data
