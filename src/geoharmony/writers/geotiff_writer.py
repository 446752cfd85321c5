"""GeoTIFF chips: one georeferenced GeoTIFF per patch and modality.

Layout of ``chips/``::

    _store.json                  arrays (shape, dtype, fill value), patch count, codec
    dem/000000.tif               patch 0 of ``dem``: its bands, CRS and window transform,
    dem/000001.tif ...           and ``dem_mask`` as the file's internal mask band
    optical/000000.tif ...

File names are store positions (``index.parquet``'s ``patch_index``), zero padded. Each
chip carries the CRS and transform of its own window (passed by ``extract`` through
:meth:`PatchWriter.write_georeferenced`), so it opens in any GIS at the right place. A
validity mask ``<a>_mask`` of an array ``<a>`` is stored as the chip's internal
per-dataset mask (GDAL's ``.msk`` band inside the TIFF: 255 valid, 0 not), which GIS
software and ``rasterio``'s ``dataset_mask()`` honour; any other array gets its own
directory (``bool`` stored as ``uint8`` 0/1). Compression: ZSTD (level 3 for ``zstd``,
1 for ``lz4``; DEFLATE where GDAL lacks ZSTD) with the horizontal or floating-point
predictor.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.dtypes import check_dtype
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from geoharmony.io.atomic import atomic_path
from geoharmony.writers._common import StoreMeta, check_write, normalize_specs
from geoharmony.writers.base import ArraySpec, Georef, PatchStore, PatchWriter

_ENV = {"GDAL_TIFF_INTERNAL_MASK": True, "GDAL_PAM_ENABLED": False}
#: ``[output].compression`` -> (GDAL codec, creation options); ZSTD falls back to DEFLATE.
_CODECS: dict[str, tuple[str | None, dict[str, Any]]] = {
    "zstd": ("zstd", {"zstd_level": 3}),
    "lz4": ("zstd", {"zstd_level": 1}),
    "deflate": ("deflate", {"zlevel": 6}),
    "none": (None, {}),
}


@cache
def _gdal_has(codec: str) -> bool:
    """True when this GDAL build writes GeoTIFFs with ``codec``."""
    with rasterio.Env(**_ENV), MemoryFile() as mem, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with mem.open(
            driver="GTiff", width=1, height=1, count=1, dtype="uint8", compress=codec
        ) as ds:
            ds.write(np.zeros((1, 1, 1), dtype=np.uint8))
        with mem.open() as ds:
            found = ds.compression
    return found is not None and str(found.value).lower() == codec


def _codec(compression: str) -> dict[str, Any]:
    if compression not in _CODECS:
        raise ValueError(
            f"GeoTIFF compression {compression!r} is not supported; use one of {', '.join(_CODECS)}"
        )
    codec, options = _CODECS[compression]
    if codec == "zstd" and not _gdal_has("zstd"):
        codec, options = "deflate", {"zlevel": 6 if compression == "zstd" else 1}
    return {"compress": codec, **options} if codec else {}


def _pairs(specs: Mapping[str, ArraySpec]) -> dict[str, str]:
    """Data array -> its ``<name>_mask`` stored as the chip's internal mask."""
    out = {}
    for name, s in specs.items():
        m = specs.get(f"{name}_mask")
        if (
            m is not None
            and np.dtype(m.dtype) == np.bool_
            and np.dtype(s.dtype) != np.bool_
            and m.shape == s.shape[-2:]
        ):
            out[name] = m.name
    return out


class GeoTIFFWriter(PatchWriter):
    """Writes ``chips/``: one georeferenced GeoTIFF per patch and modality."""

    format = "geotiff"
    store_name = "chips"
    supports_parallel_tasks = True
    supports_random_access = True
    needs_georef = True

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._meta: StoreMeta | None = None
        self._crs: dict[str, CRS] = {}

    def create(
        self,
        specs: Mapping[str, ArraySpec],
        n_patches: int,
        *,
        patches_per_shard: int,
        compression: str,
    ) -> None:
        """Create the folder layout (one directory per chip family) and ``_store.json``.

        Raises
        ------
        ValueError
            If an array is not 2-D or 3-D per patch, or its dtype has no GeoTIFF type.
        """
        checked = normalize_specs(specs, where=f"GeoTIFF store {self.path}")
        for s in checked.values():
            if len(s.shape) not in (2, 3) or (s.dtype != "bool" and not check_dtype(s.dtype)):
                raise ValueError(
                    f"GeoTIFF store {self.path}: array {s.name!r} ({s.dtype}, per-patch shape "
                    f"{s.shape}) cannot be a GeoTIFF chip; chips need (h, w) or (bands, h, w) "
                    "and a GDAL data type"
                )
        pairs = _pairs(checked)
        masks = set(pairs.values())
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        for name in checked:
            if name not in masks:
                (self.path / name).mkdir()
        self._meta = StoreMeta(
            format=self.format,
            specs=checked,
            n_patches=int(n_patches),
            patches_per_shard=int(patches_per_shard),
            compression=compression,
            extra={
                "name_width": max(6, len(str(max(n_patches - 1, 0)))),
                "internal_masks": pairs,
                "creation_options": _codec(compression),
            },
        )
        self._meta.write(self.path)

    def open(self) -> None:
        """Read the store's description."""
        self._meta = StoreMeta.read(self.path)

    def write(self, start: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Not possible without georeferencing: use :meth:`write_georeferenced`.

        Raises
        ------
        TypeError
            Always: GeoTIFF chips need each patch's CRS and transform.
        """
        raise TypeError(
            f"{self.path}: GeoTIFF chips need each patch's CRS and transform; call "
            "write_georeferenced(start, arrays, georef) (geoharmony.execution.extract does)"
        )

    def write_georeferenced(
        self,
        start: int,
        arrays: Mapping[str, np.ndarray],
        georef: Mapping[str, Sequence[Georef]],
    ) -> None:
        """Write one chip per patch and chip family, each with its own CRS and transform.

        Raises
        ------
        ValueError
            If the arrays do not match the store or an array has no georeferencing.
        """
        if self._meta is None:
            self.open()
        meta = self._meta
        if meta is None:  # pragma: no cover - open() sets it
            raise RuntimeError("store not open")
        n = check_write(meta, start, arrays, where=str(self.path), aligned=False)
        pairs: dict[str, str] = dict(meta.extra["internal_masks"])
        masks = set(pairs.values())
        options = dict(meta.extra["creation_options"])
        width = int(meta.extra["name_width"])
        with rasterio.Env(**_ENV):
            for name, data in arrays.items():
                if name in masks:
                    continue
                refs = georef.get(name) or georef.get(name.removesuffix("_mask"))
                if refs is None or len(refs) != n:
                    raise ValueError(
                        f"{self.path}: array {name!r} needs one Georef per patch ({n}); "
                        f"got {None if refs is None else len(refs)}"
                    )
                mask = arrays[pairs[name]] if name in pairs else None
                for k in range(n):
                    path = self.path / name / f"{start + k:0{width}d}.tif"
                    self._write_chip(
                        path, data[k], None if mask is None else mask[k], refs[k], options
                    )

    def _write_chip(
        self,
        path: Path,
        data: np.ndarray,
        mask: np.ndarray | None,
        ref: Georef,
        options: Mapping[str, Any],
    ) -> None:
        bands = data if data.ndim == 3 else data[np.newaxis]
        if bands.dtype == np.bool_:
            bands = bands.astype(np.uint8)
        dtype = bands.dtype
        predictor = 3 if dtype.kind == "f" else 2 if dtype.itemsize > 1 else 1
        crs = self._crs.get(ref.crs)
        if crs is None:
            crs = self._crs[ref.crs] = CRS.from_user_input(ref.crs)
        profile = {
            "driver": "GTiff",
            "width": bands.shape[2],
            "height": bands.shape[1],
            "count": bands.shape[0],
            "dtype": dtype.name,
            "crs": crs,
            "transform": ref.transform,
            **options,
        }
        if options.get("compress"):
            profile["predictor"] = predictor
        with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            dst.write(bands)
            if mask is not None:
                dst.write_mask(np.where(mask, 255, 0).astype(np.uint8))

    def close(self) -> None:
        """Nothing stays open between calls."""
        self._meta = None

    @classmethod
    def reader(cls, root: Path) -> PatchStore:
        """Open ``chips/`` for reading."""
        return GeoTIFFStore(Path(root) / cls.store_name)


class GeoTIFFStore(PatchStore):
    """Reads a ``chips/`` folder (chips never written read as the fill value)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.meta = StoreMeta.read(self.path)
        self._pairs: dict[str, str] = dict(self.meta.extra.get("internal_masks", {}))
        self._mask_of = {m: d for d, m in self._pairs.items()}
        self._width = int(self.meta.extra.get("name_width", 6))

    @property
    def names(self) -> list[str]:
        """Array names."""
        return list(self.meta.specs)

    def __len__(self) -> int:
        return self.meta.n_patches

    def chip_path(self, name: str, index: int) -> Path:
        """The chip holding patch ``index`` of array ``name`` (or of its data array)."""
        family = self._mask_of.get(name, name)
        return self.path / family / f"{index:0{self._width}d}.tif"

    def _read(self, name: str, pos: np.ndarray, scalar: bool) -> np.ndarray:
        """Patches at ``pos``: one chip each (chips never written read as the fill value)."""
        spec = self.meta.specs[name]
        out = self.meta.fill(name, len(pos))
        with rasterio.Env(**_ENV):
            for k, p in enumerate(pos.tolist()):
                path = self.chip_path(name, p)
                if not path.is_file():
                    continue
                with rasterio.open(path) as ds:
                    if name in self._mask_of:
                        out[k] = ds.dataset_mask() > 0
                    else:
                        a = ds.read()
                        out[k] = (a if len(spec.shape) == 3 else a[0]).astype(out.dtype)
        return out[0] if scalar else out
