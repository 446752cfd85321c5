"""Raster metadata needed by the plan (read once, no pixels)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from geoharmony.errors import InputError
from geoharmony.geometry.grid import Grid


@dataclass(frozen=True, slots=True)
class RasterInfo:
    """What the plan needs to know about one raster file."""

    path: Path
    grid: Grid
    count: int
    dtype: str
    nodata: float | None  # the file's own nodata (or the config override)
    bands: tuple[int, ...]  # 1-based bands to read
    block_shape: tuple[int, int]  # (rows, cols) of the first band's blocks
    has_internal_mask: bool
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
            **({"missing": True} if self.missing else {}),
        }


def read_info(
    path: Path, *, bands: tuple[int, ...] | None, nodata: float | None, where: str
) -> RasterInfo:
    """Open a raster's header and validate it against the config.

    Parameters
    ----------
    path
        The raster file.
    bands
        1-based bands requested (None: all).
    nodata
        Override of the file's nodata value (None: use the file's).
    where
        Config key for messages, e.g. ``"[modalities.dem].path"``.
    """
    if not path.exists():
        raise InputError(f"{path}: raster not found ({where}); check the path")
    try:
        with rasterio.open(path) as ds:
            if ds.crs is None:
                raise InputError(
                    f"{path}: the raster ({where}) has no CRS; geoharmony never assumes one. "
                    "Fix: assign it (e.g. gdal_edit.py -a_srs EPSG:XXXX)"
                )
            if ds.transform.is_identity:
                raise InputError(f"{path}: the raster ({where}) has no geotransform")
            grid = Grid.from_dataset(ds)
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
            nod = nodata if nodata is not None else ds.nodata
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
            )
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"{path}: cannot open the raster ({where}): {exc}") from None
