"""One modality from several single-band files of one grid (``path = ["B2.tif", ...]``).

The files are checked (each single-band, same CRS, transform, size and dtype) and joined
into a GDAL VRT (one ``VRTRasterBand`` per file, band ``k`` = file ``k``), written once
into the cache (``$GEOHARMONY_CACHE/stacks``, default the user cache folder) under a name
derived from the members' paths, sizes and modification times: a changed member gives a
new VRT (and a new plan fingerprint). The VRT only references the files; every member is
still recorded (size, sha256) in the manifest.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import rasterio
from affine import Affine

from geoharmony.errors import InputError
from geoharmony.io.atomic import write_text_atomic
from geoharmony.io.mosaic import GDAL_TYPES


def cache_dir() -> Path:
    """Folder of the generated VRTs."""
    override = os.environ.get("GEOHARMONY_CACHE")
    if override:
        return Path(override) / "stacks"
    import pooch

    return Path(pooch.os_cache("geoharmony")) / "stacks"


def stack_vrt(paths: Sequence[Path | str], *, where: str) -> Path:
    """A VRT stacking single-band rasters of one grid, band ``k`` = ``paths[k]``.

    Raises
    ------
    InputError
        If a file is missing or unreadable, has more than one band, or its grid
        (CRS, transform, size) or dtype differs from the first file's; the message names
        both files and what differs.
    """
    heads: list[dict[str, Any]] = []
    for p in paths:
        if not Path(p).is_file():
            raise InputError(f"{where}: {p} does not exist; check the path list")
        try:
            with rasterio.open(p) as ds:
                heads.append(
                    {
                        "path": Path(p).absolute(),
                        "count": ds.count,
                        "crs": ds.crs,
                        "transform": ds.transform,
                        "size": (ds.width, ds.height),
                        "dtype": ds.dtypes[0],
                        "nodata": ds.nodata,
                        "block": ds.block_shapes[0],
                    }
                )
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(f"{where}: {p} cannot be read as a raster ({exc})") from None
    first = heads[0]
    for h in heads:
        if h["count"] != 1:
            raise InputError(
                f"{where}: {h['path']} has {h['count']} bands; a path list stacks single-band "
                "files (select bands of one multi-band file with `bands = [...]` instead)"
            )
    for h in heads[1:]:
        for key, label in (
            ("crs", "CRS"),
            ("transform", "transform"),
            ("size", "size"),
            ("dtype", "dtype"),
        ):
            if h[key] != first[key]:
                raise InputError(
                    f"{where}: {h['path']} and {first['path']} are not on one grid: "
                    f"{label} {_one_line(h[key])} != {_one_line(first[key])}; stacked files "
                    "must share CRS, transform, size and dtype (resample them onto one grid "
                    "first, or declare separate modalities)"
                )
    ident = hashlib.sha256()
    for h in heads:
        st = h["path"].stat()
        ident.update(f"{h['path']}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    out = cache_dir() / f"stack-{ident.hexdigest()[:24]}.vrt"
    text = _vrt(heads)
    if not out.is_file() or out.read_text(encoding="utf-8") != text:
        write_text_atomic(out, text, mkdir=True)
    return out


def _vrt(heads: list[dict[str, Any]]) -> str:
    first = heads[0]
    w, h = first["size"]
    t = first["transform"]
    gt = ", ".join(repr(float(v)) for v in (t.c, t.a, t.b, t.f, t.d, t.e))
    dtype = GDAL_TYPES.get(first["dtype"], "Float64")
    by, bx = first["block"]
    lines = [
        f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}">',
        f"  <SRS>{escape(first['crs'].to_wkt())}</SRS>",
        f"  <GeoTransform>{gt}</GeoTransform>",
    ]
    for k, head in enumerate(heads, start=1):
        lines.append(f'  <VRTRasterBand dataType="{dtype}" band="{k}">')
        if head["nodata"] is not None:
            lines.append(f"    <NoDataValue>{head['nodata']!r}</NoDataValue>")
        lines += [
            "    <SimpleSource>",
            f'      <SourceFilename relativeToVRT="0">{escape(str(head["path"]))}</SourceFilename>',
            "      <SourceBand>1</SourceBand>",
            f"      <SourceProperties RasterXSize={quoteattr(str(w))} "
            f"RasterYSize={quoteattr(str(h))} DataType={quoteattr(dtype)} "
            f"BlockXSize={quoteattr(str(bx))} BlockYSize={quoteattr(str(by))}/>",
            f'      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>',
            f'      <DstRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>',
            "    </SimpleSource>",
            "  </VRTRasterBand>",
        ]
    lines.append("</VRTDataset>")
    return "\n".join(lines) + "\n"


def _one_line(value: object) -> str:
    """A header value for a message line (an ``Affine`` as its six numbers)."""
    if isinstance(value, Affine):
        return "(" + ", ".join(f"{v:g}" for v in tuple(value)[:6]) + ")"
    return str(value)
