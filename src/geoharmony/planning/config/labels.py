"""``[labels.NAME]``: vector burns, region-level flow labels and user label rasters.

Kinds
-----
``vector``
    Burned per patch from vector sources on a modality's grid. Three-valued: the mask is
    false outside ``coverage`` (default: the bounding box of the sources' features) and
    where the grid modality has no data. ``all_touched = false`` by default (a pixel is
    burned when its centre is inside a polygon or on a line's path); ``channels =
    "per_source"`` gives one band per source. A source's burn value is its ``value``, or
    the integer attribute ``value_field`` of each feature.
``d8``
    Conditioned D8 flow direction of the DEM, computed once per region on its buffered
    area plus ``margin`` pixels and windowed per patch (``conditioning = "fill"``;
    ``"none"`` is plain steepest descent with pits and flats undefined).
``accumulation``
    Upstream area (``units = "km2"`` or ``"cells"``, float32) along the same D8.
``streams``
    Cells whose upstream area is at least ``threshold_km2`` (uint8 1/0).
``raster``
    A user raster (e.g. NHDPlus HR's flow direction) windowed from the region;
    ``categorical = true`` for classes, ``codes = "esri" | "whitebox" | "taudem" |
    "grass"`` for a flow-direction raster converted to ESRI codes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoharmony.errors import ConfigError
from geoharmony.io.inputs import special_kind
from geoharmony.planning.config._reader import TableReader, number
from geoharmony.planning.config.modalities import ModalityConfig

LABEL_KINDS = ("vector", "d8", "accumulation", "streams", "raster")
#: Kinds computed once per region and windowed per patch.
REGION_KINDS = ("d8", "accumulation", "streams", "raster")
#: Kinds computed from a DEM's flow directions.
FLOW_KINDS = ("d8", "accumulation", "streams")
CONDITIONINGS = ("fill", "none")
OUTLETS = ("edge", "min")
ENCODINGS = ("esri", "class")
UNITS = ("km2", "cells")
CHANNELS = ("merged", "per_source")
#: The widest buffer of a vector label source (metres).
MAX_LABEL_BUFFER_M = 100_000.0
CODE_SYSTEMS = ("esri", "whitebox", "taudem", "grass")
COVERAGES = ("bbox", "boundary")
#: Bytes per region cell at the peak of the conditioned D8 (pyflwdir's fill in float64),
#: besides the DEM (4) and its mask (1); accumulation needs 14 (geoharmony.labels.hydro).
BYTES_PER_CELL = 32
#: The conditioned D8's rules, recorded in the manifest (see geoharmony.labels.hydro).
FLOW_RULES = {
    "fill": "priority flood (pyflwdir.dem.fill_depressions, Wang & Liu 2006)",
    "slope": "steepest drop per ground metre (dx, dy, hypot(dx, dy); dx per row)",
    "flats": "Barnes et al. 2014: G = 2 towards_lower + away_from_higher, no iteration cap",
    "ties": "real drop, then drop of G, then the first of N, NE, E, SE, S, SW, W, NW",
    "outlets_off_edge": "towards the missing neighbour closest to the downslope direction; "
    "ties N, E, S, W, NE, SE, SW, NW",
}
#: Default margin (pixels of the label grid) read around a region's buffered area.
DEFAULT_MARGIN = 64
#: Default cap on a region's label raster, in megapixels (~37 B per cell at the peak:
#: 400 Mpx ~ 14 GiB, what a 24 GiB machine can give one process beside others).
DEFAULT_MAX_REGION_MPX = 400.0


@dataclass(frozen=True, slots=True)
class VectorSource:
    """One vector layer burned into a label."""

    path: Path
    layer: str | None = None
    buffer_m: float = 0.0
    where: str | None = None
    value: int = 1
    value_field: str | None = None


@dataclass(frozen=True, slots=True)
class LabelConfig:
    """``[labels.NAME]`` (see the module docstring for the kinds and keys)."""

    name: str
    kind: str
    grid: str | None = None
    sources: tuple[VectorSource, ...] = ()
    dem: str | None = None
    all_touched: bool = False
    coverage: str = "bbox"  # "bbox", "boundary" or an absolute polygon file path
    channels: str = "merged"
    conditioning: str = "fill"
    outlets: str = "edge"
    encoding: str = "esri"
    units: str = "km2"
    threshold_km2: float | None = None
    margin: int = DEFAULT_MARGIN
    max_region_mpx: float = DEFAULT_MAX_REGION_MPX
    path: Path | None = None
    categorical: bool = True
    codes: str | None = None
    nodata: float | None = None
    min_positive: int = 0

    @property
    def region_level(self) -> bool:
        """True for labels computed once per region and windowed per patch."""
        return self.kind in REGION_KINDS

    @property
    def is_d8(self) -> bool:
        """True when the label stores D8 flow-direction codes."""
        return self.kind == "d8" or (self.kind == "raster" and self.codes is not None)


_COMMON = ("kind", "min_positive")
_KEYS = {
    "vector": (*_COMMON, "grid", "sources", "all_touched", "coverage", "channels"),
    "d8": (*_COMMON, "dem", "conditioning", "outlets", "encoding", "margin", "max_region_mpx"),
    "accumulation": (
        *_COMMON,
        "dem",
        "conditioning",
        "outlets",
        "units",
        "margin",
        "max_region_mpx",
    ),
    "streams": (
        *_COMMON,
        "dem",
        "conditioning",
        "outlets",
        "threshold_km2",
        "margin",
        "max_region_mpx",
    ),
    "raster": (
        *_COMMON,
        "path",
        "grid",
        "categorical",
        "codes",
        "encoding",
        "nodata",
        "margin",
        "max_region_mpx",
    ),
}


def _modality(r: TableReader, key: str, modalities: Mapping[str, ModalityConfig]) -> str:
    v = r.get(key, str, required=True)
    if v not in modalities:
        r.fail(key, f"must name a modality, found {v!r}; defined: {', '.join(modalities)}")
    return str(v)


def parse_labels(
    source: Path, base: Path, table: Any, modalities: Mapping[str, ModalityConfig]
) -> dict[str, LabelConfig]:
    """Validate the ``[labels.*]`` tables."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [labels] must hold [labels.NAME] tables, found {table!r}")
    out = {}
    for name, t in table.items():
        if not isinstance(t, dict):
            raise ConfigError(f"{source}: [labels.{name}] must be a table, found {t!r}")
        every = tuple(sorted({k for keys in _KEYS.values() for k in keys}))
        r = TableReader(source, f"labels.{name}", t, every)
        kind = r.choice("kind", LABEL_KINDS, "vector")
        for key in t:
            if key not in _KEYS[kind]:
                r.fail(
                    key, f"does not apply to kind = {kind!r}; its keys: {', '.join(_KEYS[kind])}"
                )
        min_positive = r.get("min_positive", int, 0)
        if min_positive < 0:
            r.fail("min_positive", f"must be a number of pixels >= 0, found {min_positive!r}")
        common: dict[str, Any] = {"min_positive": int(min_positive)}
        if kind in REGION_KINDS:
            common["margin"] = int(r.get("margin", int, DEFAULT_MARGIN))
            if common["margin"] < 0:
                r.fail("margin", f"must be a number of pixels >= 0, found {common['margin']!r}")
            cap = number(r, "max_region_mpx", DEFAULT_MAX_REGION_MPX)
            if cap is None or not math.isfinite(cap) or cap <= 0:
                r.fail("max_region_mpx", f"must be a positive number of megapixels, found {cap!r}")
            common["max_region_mpx"] = float(cap)  # type: ignore[arg-type]
        if kind == "vector":
            out[name] = _vector(r, source, base, name, modalities, common)
        elif kind == "raster":
            path = r.path("path", base)
            grid = _modality(r, "grid", modalities)
            codes = r.get("codes", str)
            if codes is not None and codes not in CODE_SYSTEMS:
                r.fail("codes", f"must be one of {', '.join(CODE_SYSTEMS)}, found {codes!r}")
            categorical = bool(r.get("categorical", bool, True))
            if codes is not None and not categorical:
                r.fail("categorical", "must be true for a flow-direction raster (codes = ...)")
            if "encoding" in t and codes is None:
                r.fail("encoding", "only applies to a flow-direction raster; add codes = 'esri'")
            out[name] = LabelConfig(
                name,
                kind,
                grid=grid,
                path=path,
                categorical=categorical,
                codes=codes,
                encoding=r.choice("encoding", ENCODINGS, "esri"),
                nodata=number(r, "nodata", None),
                **common,
            )
        else:
            dem = _modality(r, "dem", modalities)
            threshold = None
            if kind == "streams":
                threshold = number(r, "threshold_km2", None)
                if threshold is None or not math.isfinite(threshold) or threshold <= 0:
                    r.fail(
                        "threshold_km2",
                        f"is required for kind = 'streams': the upstream area (km²) from which a "
                        f"cell is a stream, e.g. 0.1; found {threshold!r}",
                    )
            elif min_positive and kind != "streams":
                r.fail("min_positive", f"needs a label with classes; kind = {kind!r} has none")
            out[name] = LabelConfig(
                name,
                kind,
                grid=dem,
                dem=dem,
                conditioning=r.choice("conditioning", CONDITIONINGS, "fill"),
                outlets=r.choice("outlets", OUTLETS, "edge"),
                encoding=r.choice("encoding", ENCODINGS, "esri"),
                units=r.choice("units", UNITS, "km2"),
                threshold_km2=threshold,
                **common,
            )
    return out


def _vector(
    r: TableReader,
    source: Path,
    base: Path,
    name: str,
    modalities: Mapping[str, ModalityConfig],
    common: dict[str, Any],
) -> LabelConfig:
    grid = _modality(r, "grid", modalities)
    srcs_raw = r.get("sources", list, required=True)
    if not srcs_raw:
        r.fail("sources", "must list at least one { path = ... } source")
    srcs = []
    for k, sr in enumerate(srcs_raw):
        v = TableReader(
            source,
            f"labels.{name}.sources[{k}]",
            sr,
            ("path", "layer", "buffer_m", "where", "value", "value_field"),
        )
        value = v.get("value", int, k + 1 if len(srcs_raw) > 1 else 1)
        if not 1 <= value <= 255:
            v.fail("value", f"must be a label code in 1..255, found {value!r}")
        field = v.get("value_field", str)
        buffer_m = number(v, "buffer_m", 0.0) or 0.0
        if abs(buffer_m) > MAX_LABEL_BUFFER_M:
            v.fail(
                "buffer_m",
                f"must be within +-{MAX_LABEL_BUFFER_M:,.0f} m, found {buffer_m!r}",
            )
        if field is not None and "value" in sr:
            v.fail("value_field", "and value are exclusive: burn a fixed value or an attribute")
        srcs.append(
            VectorSource(
                path=v.path("path", base),  # type: ignore[arg-type]
                layer=v.get("layer", str),
                buffer_m=buffer_m,
                where=v.get("where", str),
                value=value,
                value_field=field,
            )
        )
    cov_raw = r.get("coverage", str, "bbox")
    coverage = str(cov_raw)
    if cov_raw not in COVERAGES:
        p = Path(cov_raw).expanduser()
        p = p if p.is_absolute() else base / p
        if not p.exists():
            r.fail("coverage", f"must be 'bbox', 'boundary' or a polygon file; {p} does not exist")
        kind = special_kind(p)
        if kind is not None:
            r.fail("coverage", f"must be a polygon file; {p} is {kind}")
        coverage = str(p)
    return LabelConfig(
        name,
        "vector",
        grid=grid,
        sources=tuple(srcs),
        all_touched=bool(r.get("all_touched", bool, False)),
        coverage=coverage,
        channels=r.choice("channels", CHANNELS, "merged"),
        **common,
    )
