"""The writer plug-in interface.

A writer persists a plan's patch arrays. The coordinator calls :meth:`PatchWriter.create`
once; then each task (possibly in another process, on another machine sharing the
filesystem) opens the store with :meth:`PatchWriter.open` and calls
:meth:`PatchWriter.write` for its own contiguous range of patch positions. Task ranges
are aligned to ``patches_per_shard`` so concurrent tasks never touch the same file or
shard. Readers go through :class:`PatchStore`.

Capabilities are class attributes (ask, don't catch): ``supports_parallel_tasks``
(disjoint task ranges may be written concurrently) and ``supports_random_access``
(:meth:`PatchStore.read` of one patch is cheap). A writer that stores each patch's
georeferencing (GeoTIFF chips) sets ``needs_georef``; the driver then calls
:meth:`PatchWriter.write_georeferenced` with a :class:`Georef` per patch instead of
:meth:`PatchWriter.write`. A writer that lays files out by region or names them by patch
(NumPy ``.npz`` per patch) sets ``needs_layout``; the driver then calls
:meth:`PatchWriter.describe` once after :meth:`PatchWriter.create` with a
:class:`PatchLayout`, and :meth:`PatchWriter.finalize` with the manifest once every task
is written (e.g. to write per-region statistics beside the files).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from affine import Affine


@dataclass(frozen=True, slots=True)
class ArraySpec:
    """One stored array: ``shape`` is per patch (e.g. ``(bands, h, w)`` or ``(h, w)``)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    fill_value: float | bool


@dataclass(frozen=True, slots=True)
class Georef:
    """Where one patch of one output lies: the CRS and the transform of its window.

    ``transform`` maps the patch's own pixel ``(col, row)`` (rasterio convention, integers
    on pixel edges) to ``crs`` coordinates; ``crs`` is any string rasterio understands
    (WKT from the driver).
    """

    crs: str
    transform: Affine


@dataclass(frozen=True)
class PatchLayout:
    """Where each store position lies, for writers with ``needs_layout``.

    ``windows[output]`` is ``(n, 4)`` int64 ``col_off, row_off, width, height`` of each
    patch on the grid its output lies on (rasterio convention) and ``transforms[output]``
    ``(n, 6)`` the affine coefficients ``a, b, c, d, e, f`` of that window. ``options`` is
    the format's own configuration table (``[output.<format>]``), as parsed.
    """

    patch_id: tuple[str, ...]
    region: tuple[str, ...]
    windows: Mapping[str, np.ndarray]
    transforms: Mapping[str, np.ndarray]
    options: Mapping[str, Any]


class PatchWriter(ABC):
    """Interface of every store format."""

    #: Format name used in ``[output].format``.
    format: ClassVar[str]
    #: File or folder name of the store inside the dataset folder.
    store_name: ClassVar[str]
    #: Disjoint task ranges may be written concurrently by several processes.
    supports_parallel_tasks: ClassVar[bool] = False
    #: Reading one patch back does not require scanning the store.
    supports_random_access: ClassVar[bool] = False
    #: Patches must be written with :meth:`write_georeferenced` (each patch's CRS/transform).
    needs_georef: ClassVar[bool] = False
    #: :meth:`describe` is called after :meth:`create` with the plan's :class:`PatchLayout`.
    needs_layout: ClassVar[bool] = False

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / self.store_name
        #: sha256 of the files this writer wrote whole, by path relative to ``root``
        #: (``validate`` checks them; files not listed are hashed when the run ends).
        self.checksums: dict[str, str] = {}

    @abstractmethod
    def create(
        self,
        specs: Mapping[str, ArraySpec],
        n_patches: int,
        *,
        patches_per_shard: int,
        compression: str,
    ) -> None:
        """Create an empty store for ``n_patches`` patches of each array."""

    @abstractmethod
    def open(self) -> None:
        """Open an existing store for writing (in a worker)."""

    @abstractmethod
    def write(self, start: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Write patches ``start .. start + n`` of every array (``arrays[name]`` is (n, ...))."""

    def write_georeferenced(
        self,
        start: int,
        arrays: Mapping[str, np.ndarray],
        georef: Mapping[str, Sequence[Georef]],
    ) -> None:
        """Write patches like :meth:`write`, with each patch's georeferencing.

        ``georef[output][k]`` locates patch ``start + k`` of array ``output`` and of its
        ``<output>_mask``. Writers that store no georeferencing ignore it (this default).
        """
        self.write(start, arrays)

    def describe(self, layout: PatchLayout) -> None:  # noqa: B027 - optional hook
        """Record where each position lies (writers with ``needs_layout``; after create)."""

    def finalize(self, manifest: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Write what needs the whole dataset (statistics), once every task is written."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release resources: what :meth:`write` wrote is durable after it."""

    def abort(self) -> None:
        """Give up after an error: release resources (writers with work in flight drop it)."""
        self.close()

    @classmethod
    @abstractmethod
    def reader(cls, root: Path) -> PatchStore:
        """Open a written store for reading."""


def positions(index: int | slice | np.ndarray, n: int) -> tuple[np.ndarray, bool]:
    """Patch positions selected by ``index`` and whether it was a single integer.

    Negative integers count from the end, like numpy.

    Raises
    ------
    IndexError
        If a position is out of range.
    TypeError
        If ``index`` is neither an integer, a slice nor an integer array.
    """
    if isinstance(index, slice):
        return np.arange(*index.indices(n), dtype=np.int64), False
    scalar = isinstance(index, int | np.integer)
    arr = np.asarray(index)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"patch index must be an int, a slice or an integer array, got {index!r}")
    arr = arr.astype(np.int64).reshape(-1)
    bad = (arr < -n) | (arr >= n)
    if bad.any():
        raise IndexError(f"patch index {arr[bad][0]} out of range for a store of {n} patches")
    return arr % max(n, 1), scalar


class PatchStore(ABC):
    """Read access to a written store.

    :meth:`read` checks the array name and the positions once for every format; formats
    implement :meth:`_read` for validated, in-range positions.
    """

    path: Path

    @property
    @abstractmethod
    def names(self) -> list[str]:
        """Stored array names (modalities, labels and their ``_mask`` arrays)."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of patches."""

    def read(self, name: str, index: int | slice | np.ndarray) -> np.ndarray:
        """Read one patch, a slice or an index array (any order) of one array.

        Raises
        ------
        KeyError
            If the store has no array ``name``.
        IndexError
            If a patch position is out of range.
        """
        if name not in self.names:
            raise KeyError(f"{self.path}: no array {name!r}; arrays: {self.names}")
        if isinstance(index, int | np.integer):  # the loaders' path: keep it cheap
            n, i = len(self), int(index)
            if not -n <= i < n:
                raise IndexError(f"patch index {i} out of range for a store of {n} patches")
            return self._read(name, np.array([i % n], dtype=np.int64), True)
        pos, scalar = positions(index, len(self))
        return self._read(name, pos, scalar)

    def read_into(self, name: str, index: int, out: np.ndarray) -> None:
        """Read one patch of ``name`` into ``out`` (its shape; any dtype, cast on the way).

        The loaders' batch path: a store may decode straight into ``out`` (no temporary);
        this default reads and assigns.
        """
        out[...] = self.read(name, index)

    @abstractmethod
    def _read(self, name: str, pos: np.ndarray, scalar: bool) -> np.ndarray:
        """Patches at positions ``pos`` (in range) of ``name``; one patch when ``scalar``."""

    def read_patch(self, index: int) -> dict[str, np.ndarray]:
        """All arrays of one patch."""
        return {n: self.read(n, index) for n in self.names}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
