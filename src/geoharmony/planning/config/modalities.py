"""``[modalities.NAME]``: one raster source each."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoharmony.errors import ConfigError
from geoharmony.planning.config._reader import TableReader, number

RESAMPLINGS = ("nearest", "bilinear", "cubic", "average", "mode")
#: What a region whose raster of this modality does not exist gets.
ON_MISSING = ("error", "skip_region", "masked")


@dataclass(frozen=True, slots=True)
class ModalityConfig:
    """``[modalities.NAME]``: one raster source."""

    name: str
    path: str  # may contain {id}; absolute after loading
    bands: tuple[int, ...] | None = None
    categorical: bool = False
    nodata: float | None = None
    resampling: str | None = None
    #: ``path = [...]``: single-band files of one grid stacked in order (``path`` is the first).
    stack: tuple[str, ...] = ()
    #: Stored value -> physical value: ``scale * stored + offset`` (quantised data).
    scale: float | None = None
    offset: float | None = None
    #: A region whose file is missing: ``error``; ``skip_region`` (left out, recorded);
    #: ``masked`` (the modality is all fill there, mask false, recorded).
    on_missing: str = "error"

    def exists_for(self, region_id: str) -> bool:
        """True when the region's file (every stacked file) exists."""
        files = self.stack_for(region_id) or [self.path_for(region_id)]
        return all(f.exists() for f in files)

    def stack_for(self, region_id: str) -> list[Path]:
        """The stacked files for a region (``{id}`` substituted); empty without a list."""
        return [Path(p.replace("{id}", region_id)) for p in self.stack]

    def path_for(self, region_id: str) -> Path:
        """The raster path for a region (``{id}`` substituted)."""
        return Path(self.path.replace("{id}", region_id))

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
    out = []
    for x in raw:
        q = Path(x).expanduser()
        out.append(str(q if q.is_absolute() else base / q))
    return tuple(out)


def parse_modalities(source: Path, base: Path, mods_raw: Any) -> dict[str, ModalityConfig]:
    """Validate the ``[modalities.*]`` tables."""
    if not isinstance(mods_raw, dict) or not mods_raw:
        raise ConfigError(
            f"{source}: [modalities] must hold at least one [modalities.NAME] table, "
            f"found {mods_raw!r}"
        )
    modalities: dict[str, ModalityConfig] = {}
    for name, table in mods_raw.items():
        if not name.isidentifier():
            raise ConfigError(
                f"{source}: [modalities.{name}] name must be a plain identifier "
                f"(letters, digits, _), found {name!r}"
            )
        m = TableReader(
            source,
            f"modalities.{name}",
            table,
            (
                "path",
                "bands",
                "categorical",
                "nodata",
                "resampling",
                "scale",
                "offset",
                "on_missing",
            ),
        )
        stack = parse_path_list(m, base)
        p = Path(stack[0]) if stack else m.path("path", base)
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
            stack=stack,
            scale=number(m, "scale", None),
            offset=number(m, "offset", None),
            on_missing=m.choice("on_missing", ON_MISSING, "error"),
        )

    return modalities
