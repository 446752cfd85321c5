"""``[modalities.NAME]``: one raster source each.

``path`` is a local file (relative to the configuration file), a URL (``http(s)://``,
``s3://``, ``gs://``) or a GDAL virtual path (``/vsicurl/``, ``/vsis3/``, ...); remote
paths are kept exactly as written. Instead of ``path``, ``stac`` names a STAC Item or
ItemCollection (file or URL) and ``asset`` the asset key to read in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoharmony.errors import ConfigError
from geoharmony.io.remote import is_remote
from geoharmony.io.stac import check_keys
from geoharmony.planning.config._reader import TableReader, number
from geoharmony.planning.config.rules import NAME_HINT, is_plain_name

RESAMPLINGS = ("nearest", "bilinear", "cubic", "average", "mode")
#: What a region whose raster of this modality does not exist gets.
ON_MISSING = ("error", "skip_region", "masked")


@dataclass(frozen=True, slots=True)
class ModalityConfig:
    """``[modalities.NAME]``: one raster source."""

    name: str
    path: str  # may contain {id}; absolute after loading unless remote; "" with stac
    bands: tuple[int, ...] | None = None
    categorical: bool = False
    nodata: float | None = None
    resampling: str | None = None
    stac: str | None = None  # STAC Item/ItemCollection file (absolute) or URL
    asset: str | None = None  # the asset key read from each item
    #: ``path = [...]``: single-band files of one grid stacked in order (``path`` is the first).
    stack: tuple[str, ...] = ()
    #: Stored value -> physical value: ``scale * stored + offset`` (quantised data).
    scale: float | None = None
    offset: float | None = None
    #: A region whose file is missing: ``error``; ``skip_region`` (left out, recorded);
    #: ``masked`` (the modality is all fill there, mask false, recorded).
    on_missing: str = "error"

    def exists_for(self, region_id: str) -> bool:
        """True when the region's local files (every stacked file) exist.

        Remote paths count as present here: the plan checks them over the network.
        """
        files = self.stack_for(region_id) or [self.path_for(region_id)]
        return all(isinstance(f, str) or f.exists() for f in files)

    def stack_for(self, region_id: str) -> list[Path | str]:
        """The stacked files for a region (``{id}`` substituted); empty without a list."""
        out: list[Path | str] = []
        for p in self.stack:
            q = p.replace("{id}", region_id)
            out.append(q if is_remote(q) else Path(q))
        return out

    def path_for(self, region_id: str) -> Path | str:
        """The raster path for a region (``{id}`` substituted).

        A :class:`~pathlib.Path` for a local file, the string as written for a remote
        one (URL or GDAL ``/vsi`` path), which a ``Path`` would mangle (``//``).
        """
        p = self.path.replace("{id}", region_id)
        return p if is_remote(p) else Path(p)

    @property
    def remote(self) -> bool:
        """True when the rasters are read over the network (or a GDAL virtual path)."""
        return self.stac is None and is_remote(self.path)

    @property
    def per_region(self) -> bool:
        """True when the path contains ``{id}``."""
        return "{id}" in self.path

    @property
    def warp_resampling(self) -> str:
        """Resampling used when this modality is warped."""
        if self.resampling:
            return self.resampling
        return "nearest" if self.categorical else "bilinear"


def _nodata(m: TableReader) -> float | None:
    """``nodata``: a number; NaN allowed (float rasters), infinities not."""
    v = m.get("nodata", (int, float), None)
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return v
    return number(m, "nodata", None)


def parse_path_list(m: TableReader, base: Path) -> tuple[str, ...]:
    """``path = ["B2.tif", "B3.tif", ...]``: the resolved files (empty for a single path)."""
    raw = m.data.get("path")
    if not isinstance(raw, list):
        return ()
    if not raw or not all(isinstance(x, str) and x for x in raw):
        m.fail("path", f"must be a path or a non-empty list of paths, found {raw!r}")
    for x in raw:
        if not is_remote(x):
            m.check_path("path", x)
    return tuple(_location(x, base) for x in raw)


def parse_modalities(source: Path, base: Path, mods_raw: Any) -> dict[str, ModalityConfig]:
    """Validate the ``[modalities.*]`` tables."""
    if not isinstance(mods_raw, dict) or not mods_raw:
        raise ConfigError(
            f"{source}: [modalities] must hold at least one [modalities.NAME] table, "
            f"found {mods_raw!r}"
        )
    modalities: dict[str, ModalityConfig] = {}
    for name, table in mods_raw.items():
        if not is_plain_name(name):
            raise ConfigError(
                f"{source}: [modalities.{name}] name must be a plain identifier "
                f"({NAME_HINT}), found {name!r}"
            )
        m = TableReader(
            source,
            f"modalities.{name}",
            table,
            (
                "path",
                "stac",
                "asset",
                "bands",
                "categorical",
                "nodata",
                "resampling",
                "scale",
                "offset",
                "on_missing",
            ),
        )
        stac = m.get("stac", str)
        asset = m.get("asset", str)
        stack = parse_path_list(m, base)
        raw_path = stack[0] if stack else m.get("path", str)
        if raw_path is not None and not stack and not is_remote(raw_path):
            m.check_path("path", raw_path)
        check_keys(stac, asset, raw_path, f"{source}: [modalities.{name}]")
        p = _location(raw_path, base) if raw_path is not None else ""
        if stac is not None:
            stac = _location(stac, base)
        bands = m.get("bands", list)
        if bands is not None:
            if not bands or not all(
                isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in bands
            ):
                m.fail(
                    "bands", f"must be a non-empty list of 1-based band numbers, found {bands!r}"
                )
            bands = tuple(bands)
        res = m.get("resampling", str)
        if res is not None and res not in RESAMPLINGS:
            m.fail("resampling", f"must be one of {', '.join(RESAMPLINGS)}, found {res!r}")
        modalities[name] = ModalityConfig(
            name=name,
            path=str(p),
            bands=bands,
            categorical=bool(m.get("categorical", bool, False)),
            nodata=_nodata(m),
            resampling=res,
            stac=stac,
            asset=asset,
            stack=stack,
            scale=number(m, "scale", None),
            offset=number(m, "offset", None),
            on_missing=m.choice("on_missing", ON_MISSING, "error"),
        )

    return modalities


def _location(value: str, base: Path) -> str:
    """A local path made absolute against ``base``; a URL or ``/vsi`` path unchanged."""
    if is_remote(value):
        return value
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else base / p)
