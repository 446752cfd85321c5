"""Every file an input consists of: one answer for the fingerprint and the manifest.

A source is more than the path the config names: a shapefile is ``.shp`` plus its
``.shx/.dbf/.prj/.cpg...`` sidecars, a folder dataset (a FileGDB, a folder of
shapefiles) is every file below it, a raster may carry ``.aux.xml``/``.ovr``/``.msk``
sidecars and a VRT the files it references. Editing any of them changes what is read.
"""

from __future__ import annotations

import stat
from pathlib import Path

from geoharmony.errors import InputError

#: Sidecars of a shapefile (same stem, these extensions).
SHAPEFILE_SIDECARS = (
    ".shx", ".dbf", ".prj", ".cpg", ".qpj", ".sbn", ".sbx", ".fbn", ".fbx", ".ain", ".aih",
    ".ixs", ".mxs", ".atx", ".qix", ".shp.xml",
)  # fmt: skip
#: Sidecars GDAL reads beside any dataset (the full name plus these suffixes).
GDAL_SIDECARS = (".aux.xml", ".ovr", ".msk", ".aux")


_SPECIAL = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def special_kind(path: Path) -> str | None:
    """What ``path`` is when it is neither a file nor a folder (None otherwise or missing)."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):  # missing or unreadable: the caller's own message
        return None
    return next((kind for test, kind in _SPECIAL if test(mode)), None)


def refuse_special(path: Path, what: str, where: str) -> None:
    """Refuse a local input that is not a file or folder (opening a FIFO would hang).

    Raises
    ------
    InputError
        ``path`` is a named pipe, socket or device (symbolic links are followed).
    """
    kind = special_kind(path)
    if kind is not None:
        raise InputError(
            f"{path}: the {what} ({where}) is {kind}, not a file; give the path of a file on disk"
        )


def source_files(path: Path) -> list[Path]:
    """The files that make up the dataset at ``path`` (sorted; missing: empty).

    Examples
    --------
    >>> source_files(Path("/nonexistent.shp"))
    []
    """
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    if not path.is_file():
        return []
    out = {path}
    if path.suffix.lower() == ".shp":
        stem = path.with_suffix("")
        for ext in SHAPEFILE_SIDECARS:
            for cand in (Path(f"{stem}{ext}"), Path(f"{stem}{ext.upper()}")):
                if cand.is_file():
                    out.add(cand)
    for ext in GDAL_SIDECARS:
        cand = Path(f"{path}{ext}")
        if cand.is_file():
            out.add(cand)
    if path.suffix.lower() == ".vrt":
        out.update(_vrt_sources(path))
    return sorted(out)


def _vrt_sources(path: Path) -> list[Path]:
    """Files a VRT references (what GDAL itself lists for the dataset)."""
    try:
        import rasterio

        with rasterio.open(path) as ds:
            files = ds.files
    except Exception:  # an unreadable VRT is reported when it is opened for real
        return []
    return [Path(f) for f in files if Path(f).is_file()]


def stat_key(path: Path) -> str:
    """``path|size|mtime_ns`` of one file (what the fingerprint hashes)."""
    st = path.stat()
    return f"{path}|{st.st_size}|{st.st_mtime_ns}"
