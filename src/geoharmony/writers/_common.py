"""Helpers shared by the file-based writers (no format logic here).

Stores that are folders of files (GeoTIFF chips, tar and TFRecord shards) describe
themselves in a small ``_store.json`` written once by :meth:`PatchWriter.create`, so a
reader knows every array's name, per-patch shape, dtype and fill value without scanning
the files, and can return fill values for patches that were never written (as Zarr does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geoharmony.io.atomic import atomic_file, write_bytes_atomic  # noqa: F401 - re-exported
from geoharmony.writers.base import ArraySpec, positions  # noqa: F401 - re-exported

#: Write a whole file atomically (see :mod:`geoharmony.io.atomic`).
write_atomic = write_bytes_atomic

#: Name of the self-description of folder stores.
STORE_META = "_store.json"
#: Layout version of the folder stores written by this module's users.
LAYOUT_VERSION = 1


@dataclass(frozen=True, slots=True)
class StoreMeta:
    """What a folder store holds: arrays, patch count and shard size."""

    format: str
    specs: Mapping[str, ArraySpec]
    n_patches: int
    patches_per_shard: int
    compression: str
    extra: Mapping[str, Any]

    def to_json(self) -> str:
        """JSON text (``fill_value`` NaN/inf written as strings)."""
        return json.dumps(
            {
                "format": self.format,
                "layout_version": LAYOUT_VERSION,
                "n_patches": self.n_patches,
                "patches_per_shard": self.patches_per_shard,
                "compression": self.compression,
                "arrays": [
                    {
                        "name": s.name,
                        "shape": list(s.shape),
                        "dtype": np.dtype(s.dtype).name,
                        "fill_value": _json_number(s.fill_value),
                    }
                    for s in self.specs.values()
                ],
                "extra": dict(self.extra),
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> StoreMeta:
        """Parse :meth:`to_json` output."""
        raw = json.loads(text)
        specs = {}
        for a in raw["arrays"]:
            dtype = np.dtype(a["dtype"])
            fill: float | bool = (
                bool(a["fill_value"]) if dtype == np.bool_ else float(a["fill_value"])
            )
            specs[a["name"]] = ArraySpec(a["name"], tuple(a["shape"]), dtype.name, fill)
        return cls(
            format=raw["format"],
            specs=specs,
            n_patches=int(raw["n_patches"]),
            patches_per_shard=int(raw["patches_per_shard"]),
            compression=str(raw["compression"]),
            extra=raw.get("extra", {}),
        )

    def write(self, folder: Path) -> None:
        """Write ``_store.json`` into ``folder`` (atomically)."""
        write_atomic(folder / STORE_META, self.to_json().encode())

    @classmethod
    def read(cls, folder: Path) -> StoreMeta:
        """Read ``_store.json`` of a folder store.

        Raises
        ------
        FileNotFoundError
            If ``folder`` holds no ``_store.json`` (not a store, or not created).
        """
        path = folder / STORE_META
        if not path.is_file():
            raise FileNotFoundError(f"{folder}: no {STORE_META}; is this a geoharmony store?")
        return cls.from_json(path.read_text(encoding="utf-8"))

    def fill(self, name: str, count: int | None = None) -> np.ndarray:
        """Fill-valued array of one patch (``count=None``) or of ``count`` patches."""
        s = self.specs[name]
        shape = s.shape if count is None else (count, *s.shape)
        return np.full(shape, s.fill_value, dtype=np.dtype(s.dtype))


def _json_number(v: float | bool) -> float | bool | str:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    v = float(v)
    return v if np.isfinite(v) else str(v)


def normalize_specs(specs: Mapping[str, ArraySpec], *, where: str) -> dict[str, ArraySpec]:
    r"""Validate array names for file-based layouts (they become file or member names).

    Raises
    ------
    ValueError
        If a name is empty, ``.`` or ``..``, or contains ``/`` or ``\\``, or a key differs
        from its spec's name.
    """
    out = {}
    for key, s in specs.items():
        if key != s.name:
            raise ValueError(f"{where}: specs key {key!r} differs from ArraySpec.name {s.name!r}")
        if s.name in ("", ".", "..") or any(c in s.name for c in "/\\"):
            raise ValueError(
                f"{where}: array name {s.name!r} is not usable as a file or member name; "
                "names must not be empty, '.' or '..' and must contain no '/' or '\\'"
            )
        out[key] = ArraySpec(
            s.name, tuple(int(x) for x in s.shape), np.dtype(s.dtype).name, s.fill_value
        )
    return out


def check_write(
    meta: StoreMeta,
    start: int,
    arrays: Mapping[str, np.ndarray],
    *,
    where: str,
    aligned: bool,
) -> int:
    """Validate one :meth:`PatchWriter.write` call; return its patch count.

    Raises
    ------
    ValueError
        If an array is missing or unknown, the counts or per-patch shapes disagree, the
        range leaves the store, or (``aligned``) it does not cover whole shards.
    """
    missing = sorted(set(meta.specs) - set(arrays))
    unknown = sorted(set(arrays) - set(meta.specs))
    if missing or unknown:
        raise ValueError(
            f"{where}: write() needs exactly the store's arrays; "
            f"missing {missing}, unknown {unknown}"
        )
    counts = {name: len(a) for name, a in arrays.items()}
    n = next(iter(counts.values()), 0)
    if any(c != n for c in counts.values()):
        raise ValueError(f"{where}: write() arrays have different patch counts: {counts}")
    for name, a in arrays.items():
        if tuple(a.shape[1:]) != meta.specs[name].shape:
            raise ValueError(
                f"{where}: array {name!r} has patches of shape {tuple(a.shape[1:])}, "
                f"the store expects {meta.specs[name].shape}"
            )
    stop = start + n
    if start < 0 or stop > meta.n_patches:
        raise ValueError(
            f"{where}: patches {start}..{stop} fall outside the store's 0..{meta.n_patches}"
        )
    s = meta.patches_per_shard
    if aligned and (start % s or (stop % s and stop != meta.n_patches)):
        raise ValueError(
            f"{where}: this format writes whole shards of {s} patches; patches {start}..{stop} "
            "must start on a shard boundary and end on one (or at the last patch)"
        )
    return n


def shard_name(shard: int, suffix: str) -> str:
    """File name of shard number ``shard`` (``shard-000012.tar``)."""
    return f"shard-{shard:06d}{suffix}"
