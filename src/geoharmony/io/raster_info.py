"""Raster metadata needed by the plan (read once, no pixels).

Remote rasters (URLs, GDAL ``/vsi`` paths) are checked first with one ``HEAD`` request
(:func:`geoharmony.io.remote.probe`, whose message names the host and the HTTP status)
and their header is read through GDAL under :func:`geoharmony.io.gdal_env.gdal_env`, so
plan time uses the same HTTP options (header ingestion, retries) as the workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from geoharmony.errors import InputError
from geoharmony.geometry.grid import Grid
from geoharmony.io.gdal_env import gdal_env, open_raster
from geoharmony.io.inputs import refuse_special
from geoharmony.io.remote import RemoteStamp, gdal_path, is_remote, probe
from geoharmony.io.stac import StacAsset


@dataclass(frozen=True, slots=True)
class RasterInfo:
    """What the plan needs to know about one raster file."""

    path: Path | str  # a str only for a remote raster (URL or /vsi path, as written)
    grid: Grid
    count: int
    dtype: str
    nodata: float | None  # the file's own nodata (or the config override)
    bands: tuple[int, ...]  # 1-based bands to read
    block_shape: tuple[int, int]  # (rows, cols) of the first band's blocks
    has_internal_mask: bool
    stamp: RemoteStamp | None = None  # size/ETag of a remote raster (no sha256)
    stac: StacAsset | None = None  # the STAC item and asset the path came from

    @property
    def remote(self) -> bool:
        """Whether the raster is read over the network (or a GDAL virtual path)."""
        return isinstance(self.path, str)

    @property
    def file_name(self) -> str:
        """The file's name (the last part of the URL for a remote raster)."""
        if isinstance(self.path, str):
            if self.path.startswith("<"):
                return "mosaic.vrt"
            return self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return self.path.name

    @property
    def gdal_path(self) -> str:
        """The path GDAL opens (URLs become ``/vsicurl/``, ``/vsis3/``, ``/vsigs/``)."""
        return gdal_path(self.path)

    #: the file's own orientation; ``grid`` is north-up unless it is "rotated"
    orientation: str = "north-up"
    #: (columns, rows) flipped on read so that row 0 is north in every stored patch
    flip: tuple[bool, bool] = (False, False)
    #: per selected band, when the bands' nodata values differ (else None: ``nodata``)
    band_nodata: tuple[float | None, ...] | None = None
    #: The region's file does not exist (``on_missing = "masked"``): the grid is borrowed
    #: from another region's file of the modality, every pixel reads as fill, mask false.
    missing: bool = False

    @property
    def fill_value(self) -> float:
        """What fills pixels outside the raster: its nodata, or 0 where it has none."""
        return 0.0 if self.nodata is None else float(self.nodata)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (for the manifest)."""
        nod = self.nodata
        return {
            "path": str(self.path),
            **self.grid.to_dict(),
            "count": self.count,
            "bands": list(self.bands),
            "dtype": self.dtype,
            "nodata": None if nod is None else (str(nod) if not math.isfinite(nod) else nod),
            "block_shape": list(self.block_shape),
            **({"remote": self.stamp.to_dict()} if self.stamp is not None else {}),
            **({"stac": self.stac.to_dict()} if self.stac is not None else {}),
            "orientation": self.orientation,
            "flipped_on_read": [
                n for n, f in zip(("columns", "rows"), self.flip, strict=True) if f
            ],
            **({"missing": True} if self.missing else {}),
        }


def _check_nodata(value: float, dtype: np.dtype, what: str, *, fix: str = "") -> None:
    """Refuse a nodata value the dtype cannot hold (it would be cast and mask real data)."""
    v = float(value)
    ok: bool
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        ok = math.isfinite(v) and v == math.floor(v) and info.min <= v <= info.max
        rule = f"an integer in {info.min}..{info.max}"
    elif dtype.kind == "f":
        ok = not math.isfinite(v) or abs(v) <= float(np.finfo(dtype).max)
        rule = f"a {dtype.name} value"
    else:
        ok, rule = True, ""
    if not ok:
        cast = np.array(v).astype(dtype) if math.isfinite(v) else "undefined"
        raise InputError(
            f"{what} does not fit the raster's dtype {dtype.name} (nodata must be {rule}): "
            f"cast to {cast}, it would mask real pixels; "
            + (fix or "use a value the dtype holds, or remove the key to use the file's nodata")
        )


def read_info(
    path: Path | str,
    *,
    bands: tuple[int, ...] | None,
    nodata: float | None,
    where: str,
    stac: StacAsset | None = None,
) -> RasterInfo:
    """Open a raster's header and validate it against the config.

    Parameters
    ----------
    path
        The raster file, or a URL / GDAL ``/vsi`` path (a ``str``) for a remote one.
    bands
        1-based bands requested (None: all).
    nodata
        Override of the file's nodata value (None: use the file's).
    where
        Config key for messages, e.g. ``"[modalities.dem].path"``.
    stac
        The STAC item and asset ``path`` was taken from (recorded in the manifest).
    """
    stamp = None
    if is_remote(path):
        path = str(path)
        stamp = probe(path, where)
        try:
            with gdal_env():
                return _read_info(path, gdal_path(path), bands, nodata, where, stamp, stac)
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(
                f"{path}: cannot open the remote raster ({where}): {_first_line(exc)}"
            ) from None
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: raster not found ({where}); check the path")
    refuse_special(path, "raster", where)
    if path.is_dir() and path.suffix.lower() not in (".zarr", ".gdb"):
        raise InputError(f"{path}: is a folder, not a raster file ({where}); check the path")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path}: the raster file is empty (0 bytes) ({where})")
    try:
        return _read_info(path, str(path), bands, nodata, where, stamp, stac)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"{path}: cannot open the raster ({where}): {_first_line(exc)}") from None


def _read_info(
    path: Path | str,
    opened: str,
    bands: tuple[int, ...] | None,
    nodata: float | None,
    where: str,
    stamp: RemoteStamp | None,
    stac: StacAsset | None,
) -> RasterInfo:
    with open_raster(opened, remote=stamp is not None) as ds:
        if ds.crs is None:
            raise InputError(
                f"{path}: the raster ({where}) has no CRS; geoharmony never assumes one. "
                "Fix: assign it (e.g. gdal_edit.py -a_srs EPSG:XXXX)"
            )
        if ds.transform.is_identity:
            raise InputError(f"{path}: the raster ({where}) has no geotransform")
        if not math.isfinite(ds.transform.determinant) or ds.transform.determinant == 0:
            raise InputError(
                f"{path}: the raster's geotransform ({where}) has a zero or non-finite pixel "
                f"size ({', '.join(f'{v:g}' for v in tuple(ds.transform)[:6])}); "
                "fix the file (gdal_edit.py -a_ullr or -a_gt)"
            )
        if ds.crs.is_geographic:
            w, s, e, n = ds.bounds
            if max(abs(s), abs(n)) > 90.5 or max(abs(w), abs(e)) > 540.0:
                raise InputError(
                    f"{path}: the raster's CRS ({where}) is geographic but its extent is "
                    f"({w:g}, {s:g}) to ({e:g}, {n:g}), not longitudes and latitudes; its "
                    "CRS is probably wrong: assign the right one (gdal_edit.py -a_srs EPSG:XXXX)"
                )
        file_grid = Grid.from_dataset(ds)
        grid, flip_cols, flip_rows = file_grid.north_up()
        sel = bands or tuple(range(1, ds.count + 1))
        bad = [b for b in sel if not 1 <= b <= ds.count]
        if bad:
            key = where.replace(".path", ".bands")
            raise InputError(
                f"{path}: {key} asks for band(s) {bad}, but the raster has {ds.count} band(s)"
            )
        dtypes = {ds.dtypes[b - 1] for b in sel}
        if len(dtypes) > 1:
            raise InputError(
                f"{path}: the selected bands have different dtypes {sorted(dtypes)}; "
                "select bands of one dtype"
            )
        dtype_sel = np.dtype(next(iter(dtypes)))
        if dtype_sel.kind == "c":
            raise InputError(
                f"{path}: the raster ({where}) holds complex numbers ({dtype_sel.name}); "
                "patches are real-valued: write its amplitude, phase or real and imaginary "
                "parts as real bands first (e.g. gdal_calc.py or a VRT pixel function)"
            )
        key = where.replace(".path", ".nodata")
        band_nod: tuple[float | None, ...] | None = None
        if nodata is not None:
            _check_nodata(nodata, dtype_sel, f"{path}: {key} = {nodata!r}")
            nod = nodata
        else:
            vals = [ds.nodatavals[b - 1] for b in sel]
            for b, v in zip(sel, vals, strict=True):
                if v is not None:
                    _check_nodata(
                        v,
                        dtype_sel,
                        f"{path}: band {b}'s nodata {v!r} (in the file)",
                        fix=f"fix the file (gdal_edit.py -a_nodata) or set {key}",
                    )
            distinct = {("nan" if v is not None and math.isnan(v) else v) for v in vals}
            nod = vals[0]
            if len(distinct) > 1:  # masked band by band with each band's own value
                band_nod = tuple(None if v is None else float(v) for v in vals)
        flags = ds.mask_flag_enums[sel[0] - 1]
        internal = any(f.name in ("per_dataset", "alpha") for f in flags) and not any(
            f.name == "nodata" for f in flags
        )
        dtype = np.dtype(dtypes.pop()).name
        return RasterInfo(
            path=path,
            grid=grid,
            count=ds.count,
            dtype=dtype,
            nodata=None if nod is None else float(nod),
            bands=tuple(sel),
            block_shape=tuple(ds.block_shapes[sel[0] - 1]),
            has_internal_mask=internal,
            orientation=file_grid.orientation,
            flip=(flip_cols, flip_rows),
            band_nodata=band_nod,
            stamp=stamp,
            stac=stac,
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
