"""``[modalities.NAME]``: one raster source each."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoharmony.errors import ConfigError
from geoharmony.planning.config._reader import TableReader, number

RESAMPLINGS = ("nearest", "bilinear", "cubic", "average", "mode")


@dataclass(frozen=True, slots=True)
class ModalityConfig:
    """``[modalities.NAME]``: one raster source."""

    name: str
    path: str  # may contain {id}; absolute after loading
    bands: tuple[int, ...] | None = None
    categorical: bool = False
    nodata: float | None = None
    resampling: str | None = None

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
            ("path", "bands", "categorical", "nodata", "resampling"),
        )
        p = m.path("path", base)
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
        )

    return modalities
