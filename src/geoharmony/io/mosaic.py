"""Mosaics: several rasters on one pixel grid read as one (a GDAL VRT, no warping).

Used when a region overlaps several STAC items (tiles of one product). The VRT is an
XML string held in the raster's path (GDAL opens the XML itself), so it travels to
workers with the plan and no file is written. Its sources are the items' assets (URLs
become ``/vsicurl/`` paths); its blocks have the sources' block size, so the reader's
block-aligned rectangles stay aligned with the tiles when the items share a tile grid.

Rules (checked; the message names the items): one CRS, one resolution, pixel-aligned
origins, the same bands and dtype. Where items overlap, the later item's valid pixels
win; where none covers, the mosaic holds the sources' nodata (invalid).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

import numpy as np

from geoharmony.errors import InputError
from geoharmony.io.raster_info import RasterInfo
from geoharmony.io.remote import gdal_path

#: What a mosaic's path starts with (see :func:`geoharmony.io.remote.is_remote`).
VRT_PREFIX = "<VRTDataset"

#: numpy dtype name -> GDAL data type name (VRT XML of mosaics and band stacks).
GDAL_TYPES = {
    "uint8": "Byte",
    "int8": "Int8",
    "uint16": "UInt16",
    "int16": "Int16",
    "uint32": "UInt32",
    "int32": "Int32",
    "uint64": "UInt64",
    "int64": "Int64",
    "float32": "Float32",
    "float64": "Float64",
}


def mosaic_vrt(parts: Sequence[RasterInfo], names: Sequence[str], where: str) -> str:
    """The VRT XML of ``parts`` (headers read with every band) side by side.

    Raises
    ------
    InputError
        When the parts do not share CRS, resolution, pixel alignment, bands or dtype.
    """
    first = parts[0]
    g0 = first.grid
    a, _, _, _, e, _ = tuple(g0.transform)[:6]
    if g0.transform.b != 0 or g0.transform.d != 0:
        raise InputError(f"{where}: STAC mosaic of rotated rasters is not supported ({names[0]})")

    def refuse(k: int, what: str) -> None:
        raise InputError(
            f"{where}: items {names[0]!r} and {names[k]!r} cannot be mosaicked: {what}; "
            "give each region one item, or items of one grid"
        )

    for k, p in enumerate(parts[1:], 1):
        t = p.grid.transform
        if p.grid.crs != g0.crs:
            refuse(k, "different CRSs")
        if not (math.isclose(t.a, a, rel_tol=1e-9) and math.isclose(t.e, e, rel_tol=1e-9)):
            refuse(k, f"different resolutions ({t.a}, {t.e}) vs ({a}, {e})")
        if (p.count, p.dtype) != (first.count, first.dtype):
            refuse(k, f"{p.count} bands of {p.dtype} vs {first.count} of {first.dtype}")
    x0 = min(p.grid.transform.c for p in parts)
    y0 = max(p.grid.transform.f for p in parts) if e < 0 else min(p.grid.transform.f for p in parts)
    offsets = []
    for k, p in enumerate(parts):
        dx = (p.grid.transform.c - x0) / a
        dy = (p.grid.transform.f - y0) / e
        if abs(dx - round(dx)) > 1e-6 or abs(dy - round(dy)) > 1e-6:
            refuse(k, "origins not on one pixel grid")
        offsets.append((round(dx), round(dy)))
    width = max(o[0] + p.grid.width for o, p in zip(offsets, parts, strict=True))
    height = max(o[1] + p.grid.height for o, p in zip(offsets, parts, strict=True))
    gtype = GDAL_TYPES.get(np.dtype(first.dtype).name)
    if gtype is None:
        raise InputError(f"{where}: STAC mosaic of dtype {first.dtype} is not supported")
    by, bx = first.block_shape
    nod = first.nodata
    nod_xml = "" if nod is None else f"<NoDataValue>{_num(nod)}</NoDataValue>"
    bands = []
    for b in range(1, first.count + 1):
        sources = "".join(
            "<ComplexSource>"
            f'<SourceFilename relativeToVRT="0">{escape(gdal_path(p.path))}</SourceFilename>'
            f"<SourceBand>{b}</SourceBand>"
            f'<SrcRect xOff="0" yOff="0" xSize="{p.grid.width}" ySize="{p.grid.height}"/>'
            f'<DstRect xOff="{dx}" yOff="{dy}" xSize="{p.grid.width}" ySize="{p.grid.height}"/>'
            + ("" if p.nodata is None else f"<NODATA>{_num(p.nodata)}</NODATA>")
            + "</ComplexSource>"
            for (dx, dy), p in zip(offsets, parts, strict=True)
        )
        bands.append(
            f'<VRTRasterBand dataType="{gtype}" band="{b}" blockXSize="{bx}" '
            f'blockYSize="{by}">{nod_xml}{sources}</VRTRasterBand>'
        )
    return (
        f'{VRT_PREFIX} rasterXSize="{width}" rasterYSize="{height}">'
        f"<SRS>{escape(g0.crs.to_wkt())}</SRS>"
        f"<GeoTransform>{x0!r}, {a!r}, 0, {y0!r}, 0, {e!r}</GeoTransform>"
        + "".join(bands)
        + "</VRTDataset>"
    )


def _num(v: float) -> str:
    return "nan" if v != v else repr(float(v))
