"""The manifest: what went in, with which versions, and what was completed.

Written as ``manifest.json`` in the dataset folder: the resolved config, every input file
with size, sha256 and grid, library versions, the plan summary and per-split statistics.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from geoharmony.io.atomic import write_json_atomic

__all__ = [
    "INDEX",
    "MANIFEST",
    "input_record",
    "now",
    "read_manifest",
    "sha256_file",
    "versions",
    "write_json_atomic",
]

MANIFEST = "manifest.json"
#: The manifest's key holding the sha256 of the rest of it (:func:`seal`).
SEAL = "manifest_sha256"
#: Manifests of this format and newer carry a seal (older ones may lack it).
MANIFEST_FORMAT = 2
INDEX = "index.parquet"
_PACKAGES = (
    "geoharmony",
    "numpy",
    "rasterio",
    "shapely",
    "pyproj",
    "geopandas",
    "pyarrow",
    "zarr",
    "numcodecs",
    "dask",
    "distributed",
)


def sha256_file(path: Path, *, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def versions() -> dict[str, str]:
    """Versions of Python, GDAL/PROJ and the libraries that shape the output."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    """:func:`versions`, read once per process (package metadata costs ~10 ms a read)."""
    out = {"python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    try:
        import rasterio

        out["gdal"] = rasterio.__gdal_version__
        import pyproj

        out["proj"] = pyproj.proj_version_str
    except Exception:  # pragma: no cover - informational only
        pass
    return out


def input_record(path: Path | str, info: Mapping[str, Any]) -> dict[str, Any]:
    """Size, checksum and grid of one input file.

    A remote raster (``path`` a URL or ``/vsi`` string) is never downloaded to hash it:
    its record keeps the size, ``ETag`` and ``Last-Modified`` the plan's ``HEAD``
    request saw (``info["remote"]``) and ``sha256`` is None.
    """
    if isinstance(path, str):
        stamp = dict(info.get("remote") or {})
        return {**info, "path": path, "size": stamp.get("size"), "sha256": None}
    st = path.stat()
    return {**info, "path": str(path), "size": st.st_size, "sha256": sha256_file(path)}


def now() -> str:
    """UTC timestamp, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_manifest(root: Path) -> dict[str, Any]:
    """Load ``manifest.json`` of a dataset folder."""
    return json.loads((Path(root) / MANIFEST).read_text(encoding="utf-8"))


def raster_records(manifest: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(modality, record)`` for every distinct input raster a manifest lists.

    ``inputs.modalities[name]`` is a list of records, each with the ``regions`` that read
    it; manifests written before that keep one record per region (``{region: record}``).
    """
    out = []
    for name, per in manifest.get("inputs", {}).get("modalities", {}).items():
        for rec in per.values() if isinstance(per, Mapping) else per:
            out.append((str(name), rec))
    return out


def raster_record(manifest: Mapping[str, Any], name: str, region: str) -> dict[str, Any]:
    """The input record of modality ``name`` in ``region`` (see :func:`raster_records`).

    Raises
    ------
    KeyError
        If the manifest has no such modality or region.
    """
    per = manifest.get("inputs", {}).get("modalities", {})[name]
    if isinstance(per, Mapping):
        return dict(per[region])
    for rec in per:
        if region in rec.get("regions", ()):
            return dict(rec)
    raise KeyError(f"no input record of {name!r} for region {region!r}")


def _digest(body: Mapping[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seal(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """``manifest`` with :data:`SEAL`: the sha256 of its own canonical JSON.

    The manifest holds every other file's checksum; the seal makes an edit of the
    manifest itself (statistics, counts, checksums, fingerprint) detectable too. It is
    computed on the document as written (values JSON cannot hold are written as text).
    """
    body = json.loads(json.dumps(dict(manifest), default=str))
    body.pop(SEAL, None)
    return {**manifest, SEAL: _digest(body)}


def seal_status(manifest: Mapping[str, Any]) -> str:
    """``"ok"``, ``"broken"`` (content differs from its seal) or ``"missing"``."""
    recorded = manifest.get(SEAL)
    if recorded is None:
        return "missing"
    body = {k: v for k, v in manifest.items() if k != SEAL}
    return "ok" if recorded == _digest(body) else "broken"
