"""``[labels.NAME]``: vector burns and D8 flow direction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoharmony.errors import ConfigError
from geoharmony.planning.config._reader import TableReader, number
from geoharmony.planning.config.modalities import ModalityConfig

LABEL_KINDS = ("vector", "d8")


@dataclass(frozen=True, slots=True)
class VectorSource:
    """One vector layer burned into a label."""

    path: Path
    layer: str | None = None
    buffer_m: float = 0.0
    where: str | None = None
    value: int = 1


@dataclass(frozen=True, slots=True)
class LabelConfig:
    """``[labels.NAME]``: a vector burn (``kind = "vector"``) or D8 flow direction."""

    name: str
    kind: str
    grid: str | None = None
    sources: tuple[VectorSource, ...] = ()
    dem: str | None = None
    all_touched: bool = True


def parse_labels(
    source: Path, base: Path, table: Any, modalities: Mapping[str, ModalityConfig]
) -> dict[str, LabelConfig]:
    """Validate the ``[labels.*]`` tables."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [labels] must hold [labels.NAME] tables, found {table!r}")
    out = {}
    for name, t in table.items():
        r = TableReader(
            source, f"labels.{name}", t, ("kind", "grid", "sources", "dem", "all_touched")
        )
        kind = r.choice("kind", LABEL_KINDS, "vector")
        if kind == "vector":
            grid = r.get("grid", str, required=True)
            if grid not in modalities:
                r.fail(
                    "grid",
                    f"must name a modality, found {grid!r}; defined: {', '.join(modalities)}",
                )
            srcs_raw = r.get("sources", list, required=True)
            if not srcs_raw:
                r.fail("sources", "must list at least one { path = ... } source")
            srcs = []
            for k, sr in enumerate(srcs_raw):
                v = TableReader(
                    source,
                    f"labels.{name}.sources[{k}]",
                    sr,
                    ("path", "layer", "buffer_m", "where", "value"),
                )
                value = v.get("value", int, k + 1 if len(srcs_raw) > 1 else 1)
                if not 1 <= value <= 255:
                    v.fail("value", f"must be a label code in 1..255, found {value!r}")
                srcs.append(
                    VectorSource(
                        path=v.path("path", base),  # type: ignore[arg-type]
                        layer=v.get("layer", str),
                        buffer_m=number(v, "buffer_m", 0.0) or 0.0,
                        where=v.get("where", str),
                        value=value,
                    )
                )
            out[name] = LabelConfig(
                name,
                kind,
                grid=grid,
                sources=tuple(srcs),
                all_touched=bool(r.get("all_touched", bool, True)),
            )
        else:
            dem = r.get("dem", str, required=True)
            if dem not in modalities:
                r.fail(
                    "dem", f"must name a modality, found {dem!r}; defined: {', '.join(modalities)}"
                )
            out[name] = LabelConfig(name, kind, grid=dem, dem=dem)
    return out
