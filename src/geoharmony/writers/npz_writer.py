"""NumPy ``.npz`` export: one file per patch, one folder per region.

Layout of the store folder ``npz/`` (the ``<base>`` existing training code reads)::

    npz/_store.json                       arrays, patch count, options (see _common)
    npz/_layout.npz                       region, patch id, index in region, windows
    npz/<region>/patch_<k>.npz            k = 0, 1, ... in store order within the region
    npz/<region>/normalization_stats.json per-region statistics (``stats_schema``)

Each ``patch_<k>.npz`` holds, per modality or label ``o`` stored under key
``K = keys.get(o, o)``: ``K`` (single-band: ``(h, w)``; several bands: ``(h, w, bands)``
with ``channels_last``, else ``(bands, h, w)``) in the source dtype, ``K_mask`` (h, w)
bool, ``K_window`` (4,) int64 ``col_off, row_off, width, height`` of the patch on the
grid the output lies on and ``K_transform`` (6,) float64 affine ``a, b, c, d, e, f`` of
that window; plus ``patch_id``, ``region`` (str) and ``position`` (store position, int64).
Files are zip-deflated unless ``[output].compression = "none"`` (``lz4`` and ``zstd``
are not in the npz format: both map to deflate). Each file appears atomically.

Without a layout (a store driven directly, not by ``extract``) every patch goes to the
region folder ``all`` and ``K_window``/``K_transform`` are absent.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from geoharmony.io.atomic import atomic_file, write_bytes_atomic
from geoharmony.writers._common import StoreMeta, check_write, normalize_specs
from geoharmony.writers.base import ArraySpec, PatchLayout, PatchStore, PatchWriter

LAYOUT = "_layout.npz"
STATS_FILE = "normalization_stats.json"
DEFAULT_REGION = "all"


def _key_of(name: str, meta: StoreMeta) -> str:
    """The npz key of a stored array (a mask follows its output's key)."""
    keys = meta.extra.get("options", {}).get("keys", {})
    if name in keys:
        return str(keys[name])
    if name.endswith("_mask") and name[:-5] in meta.specs:
        return f"{_key_of(name[:-5], meta)}_mask"
    return name


def _to_file(a: np.ndarray, spec: ArraySpec, channels_last: bool) -> np.ndarray:
    """One patch in the file's layout (single band 2-D, several bands channels last)."""
    if len(spec.shape) != 3:
        return a
    if spec.shape[0] == 1:
        return a[0]
    return np.moveaxis(a, 0, -1) if channels_last else a


def _from_file(a: np.ndarray, spec: ArraySpec, channels_last: bool) -> np.ndarray:
    if len(spec.shape) != 3:
        return a
    if spec.shape[0] == 1:
        return a[None]
    return np.moveaxis(a, -1, 0) if channels_last else a


class _Layout:
    """Position -> (region, index in region), and per-output windows, for one store."""

    def __init__(self, folder: Path, n: int) -> None:
        path = folder / LAYOUT
        self.windows: dict[str, np.ndarray] = {}
        self.transforms: dict[str, np.ndarray] = {}
        if path.is_file():
            with np.load(path) as z:
                self.region = z["region"]
                self.patch_id = z["patch_id"]
                self.local = z["local"]
                for k in z.files:
                    if k.startswith("window/"):
                        self.windows[k[7:]] = z[k]
                    elif k.startswith("transform/"):
                        self.transforms[k[10:]] = z[k]
        else:
            self.region = np.full(n, DEFAULT_REGION)
            self.patch_id = np.arange(n).astype(str)
            self.local = np.arange(n, dtype=np.int64)

    def file(self, folder: Path, pos: int) -> Path:
        return folder / str(self.region[pos]) / f"patch_{int(self.local[pos])}.npz"


class NpzWriter(PatchWriter):
    """Writes ``npz/<region>/patch_<k>.npz`` (see the module docstring)."""

    format = "npz"
    store_name = "npz"
    supports_parallel_tasks = True
    supports_random_access = True
    needs_layout = True

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._meta: StoreMeta | None = None
        self._layout: _Layout | None = None

    def create(
        self,
        specs: Mapping[str, ArraySpec],
        n_patches: int,
        *,
        patches_per_shard: int,
        compression: str,
    ) -> None:
        """Create the empty store folder and its ``_store.json`` (replacing any old one)."""
        checked = normalize_specs(specs, where=f"npz store {self.path}")
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        self._meta = StoreMeta(
            format=self.format,
            specs=checked,
            n_patches=int(n_patches),
            patches_per_shard=max(int(patches_per_shard), 1),
            compression=compression,
            extra={"options": {"keys": {}, "channels_last": True}},
        )
        self._meta.write(self.path)

    def describe(self, layout: PatchLayout) -> None:
        """Record regions, patch ids, windows and the ``[output.npz]`` options.

        Raises
        ------
        ValueError
            If a region id cannot be a folder name or the layout's length is not the store's.
        """
        meta = self._opened()
        n = meta.n_patches
        if len(layout.region) != n or len(layout.patch_id) != n:
            raise ValueError(f"{self.path}: a layout of {len(layout.region)} patches for {n}")
        region = np.asarray(layout.region, dtype=str)
        for rid in np.unique(region).tolist():
            if rid in ("", ".", "..") or any(c in rid for c in "/\\"):
                raise ValueError(
                    f"{self.path}: region id {rid!r} cannot be a folder name of the npz export; "
                    "use an [study_area] id field whose values contain no '/' or '\\'"
                )
        local = np.zeros(n, dtype=np.int64)
        for rid in np.unique(region):
            at = np.flatnonzero(region == rid)
            local[at] = np.arange(len(at))
        arrays: dict[str, np.ndarray] = {
            "region": region,
            "patch_id": np.asarray(layout.patch_id, dtype=str),
            "local": local,
        }
        for name, w in layout.windows.items():
            arrays[f"window/{name}"] = np.asarray(w, dtype=np.int64).reshape(n, 4)
        for name, t in layout.transforms.items():
            arrays[f"transform/{name}"] = np.asarray(t, dtype=np.float64).reshape(n, 6)
        with atomic_file(self.path / LAYOUT) as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
        options = {"keys": {}, "channels_last": True, **dict(layout.options)}
        self._meta = StoreMeta(
            meta.format,
            meta.specs,
            meta.n_patches,
            meta.patches_per_shard,
            meta.compression,
            {**meta.extra, "options": options},
        )
        self._meta.write(self.path)
        self._layout = None

    def open(self) -> None:
        """Read the store's description and layout."""
        self._meta = StoreMeta.read(self.path)
        self._layout = _Layout(self.path, self._meta.n_patches)

    def _opened(self) -> StoreMeta:
        if self._meta is None:
            self._meta = StoreMeta.read(self.path)
        return self._meta

    def write(self, start: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Write patches ``start .. start + n``, one file each (any range).

        Raises
        ------
        ValueError
            If the arrays do not match the store.
        """
        meta = self._opened()
        if self._layout is None:
            self._layout = _Layout(self.path, meta.n_patches)
        lay = self._layout
        n = check_write(meta, start, arrays, where=f"{self.path}", aligned=False)
        channels_last = bool(meta.extra["options"].get("channels_last", True))
        save: Any = np.savez if meta.compression == "none" else np.savez_compressed
        made: set[Path] = set()
        for k in range(n):
            pos = start + k
            out: dict[str, np.ndarray] = {
                "patch_id": np.asarray(str(lay.patch_id[pos])),
                "region": np.asarray(str(lay.region[pos])),
                "position": np.asarray(pos, dtype=np.int64),
            }
            for name, a in arrays.items():
                key = _key_of(name, meta)
                out[key] = _to_file(np.asarray(a[k]), meta.specs[name], channels_last)
                if name in lay.windows:
                    out[f"{key}_window"] = lay.windows[name][pos]
                    out[f"{key}_transform"] = lay.transforms[name][pos]
            path = lay.file(self.path, pos)
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            with atomic_file(path) as f:
                save(f, **out)

    def finalize(self, manifest: Mapping[str, Any]) -> None:
        """Write each region's ``normalization_stats.json`` in the configured schema."""
        meta = self._opened()
        opts = meta.extra["options"]
        schema = opts.get("stats_schema", "geoharmony")
        if schema == "none":
            return
        by_region = manifest.get("stats_by_region", {})
        regions = sorted({r for per in by_region.values() for r in per})
        for rid in regions:
            doc = region_stats_document(by_region, rid, opts)
            folder = self.path / rid
            folder.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(folder / STATS_FILE, json.dumps(doc, indent=1).encode())

    def close(self) -> None:
        """Nothing stays open between calls."""
        self._meta = None
        self._layout = None

    @classmethod
    def reader(cls, root: Path) -> PatchStore:
        """Open ``npz/`` for reading."""
        return NpzStore(Path(root) / cls.store_name)


def region_stats_document(
    by_region: Mapping[str, Mapping[str, Any]], region: str, options: Mapping[str, Any]
) -> dict[str, Any]:
    """One region's statistics in the schema ``options["stats_schema"]`` names.

    ``geoharmony``: ``{modality: {count, mean, std, min, max, p02, p98}}`` with one value
    per band (the manifest's entry). ``national_ml``: ``{block: {f"{prefix}_mean",
    f"{prefix}_stdDev"}}`` per ``stats_blocks`` entry, a number for a single-band
    modality and a list for several bands (std over valid pixels, ddof = 0).
    """
    if options.get("stats_schema", "geoharmony") == "geoharmony":
        return {name: dict(per[region]) for name, per in by_region.items() if region in per}
    doc: dict[str, dict[str, Any]] = {}
    for mod, spec in options.get("stats_blocks", {}).items():
        entry = by_region.get(mod, {}).get(region)
        if entry is None:
            continue
        mean, std = list(entry["mean"]), list(entry["std"])
        one = len(mean) == 1
        block = doc.setdefault(spec["block"], {})
        block[f"{spec['prefix']}_mean"] = mean[0] if one else mean
        block[f"{spec['prefix']}_stdDev"] = std[0] if one else std
    return doc


class NpzStore(PatchStore):
    """Reads an ``npz/`` export (the last file read stays decoded for its other arrays)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.meta = StoreMeta.read(self.path)
        self.layout = _Layout(self.path, self.meta.n_patches)
        self._channels_last = bool(self.meta.extra["options"].get("channels_last", True))
        self._keys = {name: _key_of(name, self.meta) for name in self.meta.specs}
        self._cached: tuple[int, dict[str, np.ndarray] | None] = (-1, None)

    @property
    def names(self) -> list[str]:
        """Array names (the pipeline's names, not the npz keys)."""
        return list(self.meta.specs)

    def __len__(self) -> int:
        return self.meta.n_patches

    def file(self, pos: int) -> Path:
        """The ``.npz`` file of store position ``pos``."""
        return self.layout.file(self.path, pos)

    def _patch(self, pos: int) -> dict[str, np.ndarray] | None:
        if self._cached[0] != pos:
            path = self.file(pos)
            if path.is_file():
                with np.load(path) as z:
                    self._cached = (pos, {k: z[k] for k in z.files})
            else:
                self._cached = (pos, None)
        return self._cached[1]

    def _read(self, name: str, pos: np.ndarray, scalar: bool) -> np.ndarray:
        """Patches at ``pos`` (patches never written read as the fill value)."""
        spec = self.meta.specs[name]
        out = self.meta.fill(name, len(pos))
        for k, p in enumerate(pos.tolist()):
            patch = self._patch(p)
            if patch is not None:
                out[k] = _from_file(patch[self._keys[name]], spec, self._channels_last)
        return out[0] if scalar else out
