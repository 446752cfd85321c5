"""HDF5 store: one file, one dataset per array, one chunk per patch.

``patches.h5`` holds, per modality or label ``<a>``, a dataset ``/<a>`` of shape
``(patches, bands, h, w)`` in the source dtype and ``/<a>_mask`` of shape
``(patches, h, w)`` (``bool``, stored by h5py as an HDF5 enum), chunked one patch per
chunk so reading one patch decompresses one chunk. Compression: ``zstd`` (the default of
``[output].compression``) maps to ``gzip`` level 4, which every HDF5 reader can decode;
``lz4`` maps to ``lzf`` (fast, but readable only through h5py or the LZF filter plugin);
``none`` stores raw chunks. Byte shuffle precedes compression of multi-byte types.

HDF5 takes one writer at a time, so ``supports_parallel_tasks`` is False and ``extract``
runs the tasks of an HDF5 output in one process. When tasks run concurrently anyway (a
Dask scheduler), each task holds an exclusive lock from :meth:`HDF5Writer.open` to
:meth:`HDF5Writer.close` (see :mod:`geoharmony.writers._lock`), so tasks of one machine
take turns writing while their reads overlap; tasks on other machines wait while HDF5's
own file lock reports the file busy (HDF5 file locking must then be on, its default).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import h5py
import numpy as np

from geoharmony.writers._lock import PathLock
from geoharmony.writers.base import ArraySpec, PatchStore, PatchWriter

#: ``[output].compression`` -> (h5py filter, level).
COMPRESSION: dict[str, tuple[str | None, int | None]] = {
    "zstd": ("gzip", 4),
    "gzip": ("gzip", 4),
    "lz4": ("lzf", None),
    "lzf": ("lzf", None),
    "none": (None, None),
}
LAYOUT_VERSION = 1


def _dimension_names(ndim: int) -> list[str]:
    return ["patch", "band", "y", "x"] if ndim == 3 else ["patch", *("y", "x")[-ndim:]]


class HDF5Writer(PatchWriter):
    """Writes ``patches.h5`` (HDF5 through h5py)."""

    format = "hdf5"
    store_name = "patches.h5"
    supports_parallel_tasks = False
    supports_random_access = True
    #: Seconds a task waits for a file held by a writer on another machine.
    busy_timeout_s: ClassVar[float] = 600.0

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._file: Any = None
        self._lock = PathLock(self.path)

    def create(
        self,
        specs: Mapping[str, ArraySpec],
        n_patches: int,
        *,
        patches_per_shard: int,
        compression: str,
    ) -> None:
        """Create every dataset, empty (unwritten chunks read as the fill value).

        Raises
        ------
        ValueError
            If ``compression`` is not one of :data:`COMPRESSION`.
        """
        if compression not in COMPRESSION:
            raise ValueError(
                f"HDF5 compression {compression!r} is not supported; use one of "
                f"{', '.join(COMPRESSION)}"
            )
        codec, level = COMPRESSION[compression]
        self.close()
        self._file = f = h5py.File(self.path, "w")
        f.attrs["geoharmony_format"] = self.format
        f.attrs["layout_version"] = LAYOUT_VERSION
        f.attrs["n_patches"] = int(n_patches)
        f.attrs["compression"] = compression
        for spec in specs.values():
            dtype = np.dtype(spec.dtype)
            ds = f.create_dataset(
                spec.name,
                shape=(n_patches, *spec.shape),
                maxshape=(None, *spec.shape),
                dtype=dtype,
                chunks=(1, *spec.shape),
                compression=codec,
                compression_opts=level,
                shuffle=codec is not None and dtype.itemsize > 1,
                fillvalue=np.asarray(spec.fill_value, dtype=dtype),
            )
            ds.attrs["dimension_names"] = _dimension_names(len(spec.shape))

    def open(self) -> None:
        """Take the store's write lock and open the file for writing.

        Raises
        ------
        TimeoutError
            If the file stays locked by another machine's writer for ``busy_timeout_s``.
        """
        self.close()
        self._lock.acquire()
        try:
            self._file = self._open_when_free()
        except BaseException:
            self._lock.release()
            raise

    def _open_when_free(self) -> Any:
        deadline = time.monotonic() + self.busy_timeout_s
        delay = 0.05
        while True:
            try:
                return h5py.File(self.path, "r+")
            except OSError as e:
                if "lock" not in str(e).lower() or time.monotonic() > deadline:
                    if "lock" in str(e).lower():
                        raise TimeoutError(
                            f"{self.path}: still locked by another writer after "
                            f"{self.busy_timeout_s:.0f} s"
                        ) from e
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def write(self, start: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Write patches ``start .. start + n`` of every array.

        On error the file is closed and the lock released before the error propagates.
        """
        if self._file is None:
            self.open()
        try:
            for name, data in arrays.items():
                self._file[name][start : start + len(data)] = data
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Flush and close the file, then release the write lock."""
        f, self._file = self._file, None
        try:
            if f is not None:
                f.close()
        finally:
            self._lock.release()

    @classmethod
    def reader(cls, root: Path) -> PatchStore:
        """Open ``patches.h5`` for reading."""
        return HDF5Store(Path(root) / cls.store_name)


class HDF5Store(PatchStore):
    """Reads a ``patches.h5`` file.

    The file is reopened in a forked child (e.g. a ``DataLoader`` worker): HDF5 handles
    must not be shared across ``fork``.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._pid = os.getpid()
        self.file = h5py.File(self.path, "r")
        self._names = [k for k, v in self.file.items() if isinstance(v, h5py.Dataset)]
        if "n_patches" in self.file.attrs:
            self._n = int(self.file.attrs["n_patches"])
        else:
            self._n = int(self.file[self._names[0]].shape[0]) if self._names else 0

    @property
    def names(self) -> list[str]:
        """Array names."""
        return list(self._names)

    def __len__(self) -> int:
        return self._n

    def _read(self, name: str, pos: np.ndarray, scalar: bool) -> np.ndarray:
        """Patches at ``pos``, in any order (h5py itself needs increasing indices)."""
        if self._pid != os.getpid():
            self._pid, self.file = os.getpid(), h5py.File(self.path, "r")
        ds = self.file[name]
        if scalar:
            return np.asarray(ds[int(pos[0])])
        if len(pos) == 0:
            return np.empty((0, *ds.shape[1:]), dtype=ds.dtype)
        if np.all(np.diff(pos) == 1):
            return np.asarray(ds[int(pos[0]) : int(pos[-1]) + 1])
        uniq, inverse = np.unique(pos, return_inverse=True)
        return np.asarray(ds[uniq])[inverse]

    def close(self) -> None:
        """Close the file."""
        self.file.close()
