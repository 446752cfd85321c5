"""``[study_area]``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoharmony.planning.config._reader import TableReader, number

EXTENTS = ("boundary", "bbox")


@dataclass(frozen=True, slots=True)
class StudyAreaConfig:
    """``[study_area]``: where patches may be."""

    boundary: Path
    layer: str | None = None
    id_field: str | None = None
    where: str | None = None
    buffer_m: float = 0.0
    extent: str = "boundary"


def parse_study_area(source: Path, base: Path, table: Any) -> StudyAreaConfig:
    """Validate the ``[study_area]`` table."""
    sa = TableReader(
        source,
        "study_area",
        table,
        ("boundary", "layer", "id_field", "where", "buffer_m", "extent"),
    )
    return StudyAreaConfig(
        boundary=sa.path("boundary", base),  # type: ignore[arg-type]
        layer=sa.get("layer", str),
        id_field=sa.get("id_field", str),
        where=sa.get("where", str),
        buffer_m=number(sa, "buffer_m", 0.0) or 0.0,
        extent=sa.choice("extent", EXTENTS, "boundary"),
    )
