"""``[grid]``: the lattice and how resolutions are harmonised."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoharmony.planning.config._reader import TableReader, number

MODES = ("native", "footprint", "resample")
#: Largest patch side and stride in pixels (a 65536 px patch is already 16 GiB per band).
MAX_PATCH_SIZE = 65536
KEEP_RULES = ("center", "inside", "overlap")


@dataclass(frozen=True, slots=True)
class GridConfig:
    """``[grid]``: the lattice and how resolutions are harmonised."""

    reference: str | None
    patch_size: int
    stride: int
    mode: str = "native"
    keep: str = "center"
    min_overlap: float = 0.5
    #: footprint mode: largest distance (px, per axis) from the exact count to a whole one
    footprint_tolerance_px: float = 0.5
    #: drop patches whose valid fraction is below this (of the reference or ``min_valid_of``)
    min_valid_fraction: float | None = None
    min_valid_of: tuple[str, ...] | None = None


def parse_grid(source: Path, table: Any, modalities: Mapping[str, Any]) -> GridConfig:
    """Validate the ``[grid]`` table."""
    g = TableReader(
        source,
        "grid",
        table,
        (
            "reference",
            "patch_size",
            "stride",
            "mode",
            "keep",
            "min_overlap",
            "footprint_tolerance_px",
            "min_valid_fraction",
            "min_valid_of",
        ),
    )
    patch_size = g.positive_int("patch_size", required=True, maximum=MAX_PATCH_SIZE)
    reference = g.get("reference", str)
    if reference is not None and reference not in modalities:
        near = difflib.get_close_matches(reference, list(modalities), n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"defined: {', '.join(modalities)}"
        g.fail("reference", f"must name a modality, found {reference!r}; {hint}")
    keep = g.choice("keep", KEEP_RULES, "center")
    min_overlap = number(g, "min_overlap", 0.5)
    if "min_overlap" in g.data:
        if keep != "overlap":
            g.fail("min_overlap", f"only applies with keep = 'overlap', but keep = {keep!r}")
        if not (0.0 < float(min_overlap or 0) <= 1.0):
            g.fail("min_overlap", f"must be a fraction in (0, 1], found {min_overlap!r}")
    tol = number(g, "footprint_tolerance_px", 0.5)
    if tol is None or not 0.0 <= tol <= 0.5:
        g.fail(
            "footprint_tolerance_px",
            f"must be a number of pixels in [0, 0.5] (0.5: the nearest whole count), found {tol!r}",
        )
    mvf = number(g, "min_valid_fraction", None)
    if mvf is not None and not 0.0 < mvf <= 1.0:
        g.fail("min_valid_fraction", f"must be a fraction in (0, 1], found {mvf!r}")
    mvo = g.get("min_valid_of", list)
    if mvo is not None:
        if mvf is None:
            g.fail("min_valid_of", "only applies with min_valid_fraction; set it too")
        if not mvo:
            g.fail(
                "min_valid_of",
                "must list at least one modality, found []; "
                "remove it to use the reference modality",
            )
        for n in mvo:
            if n not in modalities:
                near = difflib.get_close_matches(str(n), list(modalities), n=1)
                hint = f"did you mean {near[0]!r}?" if near else f"defined: {', '.join(modalities)}"
                g.fail("min_valid_of", f"must list modalities, found {n!r}; {hint}")
    return GridConfig(
        reference=reference,
        patch_size=patch_size,
        stride=g.positive_int("stride", patch_size, maximum=MAX_PATCH_SIZE),
        mode=g.choice("mode", MODES, "native"),
        keep=keep,
        min_overlap=float(min_overlap),  # type: ignore[arg-type]
        footprint_tolerance_px=float(tol),  # type: ignore[arg-type]
        min_valid_fraction=mvf,
        min_valid_of=tuple(mvo) if mvo else None,
    )
