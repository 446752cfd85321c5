"""``[study_area]``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoharmony.planning.config._reader import TableReader, number

EXTENTS = ("boundary", "bbox")
#: What patches are kept in: the buffered area (``extent``) or the original boundary.
KEEP_IN = ("buffer", "boundary")


@dataclass(frozen=True, slots=True)
class StudyAreaConfig:
    """``[study_area]``: where patches may be."""

    boundary: Path
    layer: str | None = None
    id_field: str | None = None
    where: str | None = None
    buffer_m: float = 0.0
    extent: str = "boundary"
    #: ``"boundary"``: keep patches by the original polygon; the buffer is context only
    #: (drawn in the study-area figure), as in the notebook.
    keep_in: str = "buffer"


#: The largest buffer of a study area (metres): beyond it the local projection breaks down.
MAX_BUFFER_M = 1_000_000.0


def parse_study_area(source: Path, base: Path, table: Any) -> StudyAreaConfig:
    """Validate the ``[study_area]`` table."""
    sa = TableReader(
        source,
        "study_area",
        table,
        ("boundary", "layer", "id_field", "where", "buffer_m", "extent", "keep_in"),
    )
    buffer_m = number(sa, "buffer_m", 0.0) or 0.0
    if abs(buffer_m) > MAX_BUFFER_M:
        sa.fail(
            "buffer_m",
            f"must be within +-{MAX_BUFFER_M:,.0f} m (1,000 km), found {buffer_m!r}",
        )
    return StudyAreaConfig(
        boundary=sa.path("boundary", base),  # type: ignore[arg-type]
        layer=sa.get("layer", str),
        id_field=sa.get("id_field", str),
        where=sa.get("where", str),
        buffer_m=buffer_m,
        extent=sa.choice("extent", EXTENTS, "boundary"),
        keep_in=sa.choice("keep_in", KEEP_IN, "buffer"),
    )
