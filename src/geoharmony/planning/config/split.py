"""``[split]``: spatial train/val/test assignment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoharmony.io.inputs import special_kind
from geoharmony.planning.config._reader import TableReader, number

SPLIT_BY = ("region", "block")
GUARDS = ("drop", "keep")


@dataclass(frozen=True, slots=True)
class SplitConfig:
    """``[split]``: spatial train/val/test assignment."""

    by: str = "region"
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    lists: Mapping[str, tuple[str, ...]] | None = None
    seed: int = 0
    block_m: float = 5000.0
    #: val/test patches overlapping a train footprint: dropped or moved to split "guard"
    guard: str = "drop"


def parse_split(source: Path, base: Path, table: Any) -> SplitConfig:
    """Validate the ``[split]`` table."""
    s = TableReader(
        source,
        "split",
        table,
        ("by", "fractions", "train", "val", "test", "seed", "block_m", "guard"),
    )
    by = s.choice("by", SPLIT_BY, "region")
    fr = s.get("fractions", list, [0.8, 0.1, 0.1])
    if (
        len(fr) != 3
        or not all(isinstance(f, int | float) and not isinstance(f, bool) and f >= 0 for f in fr)
        or abs(sum(fr) - 1.0) > 1e-6
    ):
        s.fail(
            "fractions",
            f"must be three non-negative numbers (train, val, test) summing to 1, found {fr!r}",
        )
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("train", "val", "test"):
        v = s.get(key, (str, list))
        if v is None:
            continue
        if isinstance(v, str):
            p = Path(v) if Path(v).is_absolute() else base / v
            kind = special_kind(p)
            if kind is not None:
                s.fail(key, f"must name a text file of region ids; {p} is {kind}")
            if not p.is_file():
                s.fail(key, f"names a file of region ids that does not exist: {p}")
            try:
                text = p.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                s.fail(key, f"must name a UTF-8 text file of region ids (one per line); {p} is not")
                text = ""
            except OSError as exc:
                s.fail(key, f"names a file of region ids that cannot be read: {p} ({exc.strerror})")
                text = ""
            v = [
                line.strip()
                for line in text.splitlines()
                if line.strip() and not line.startswith("#")
            ]
        lists[key] = tuple(str(x) for x in v)
    if lists and by != "region":
        s.fail("by", f"explicit train/val/test lists need by = 'region', found {by!r}")
    block_m = number(s, "block_m", 5000.0)
    if block_m is None or block_m <= 0:
        s.fail("block_m", f"must be a positive number of metres, found {block_m!r}")
    seed = s.get("seed", int, 0)
    seen: dict[str, str] = {}
    for key, ids in lists.items():
        for rid in ids:
            if rid in seen and seen[rid] != key:
                s.fail(
                    key,
                    f"names region {rid!r}, which the {seen[rid]!r} list names too; "
                    "a region belongs to one split: remove it from one list",
                )
            seen[rid] = key
    if not 0 <= seed < 2**63:
        s.fail("seed", f"must be a non-negative integer below 2**63, found {seed!r}")
    guard = s.choice("guard", GUARDS, "drop")
    return SplitConfig(
        by,
        tuple(float(f) for f in fr),  # type: ignore[arg-type]
        lists or None,
        int(seed),
        float(block_m),  # type: ignore[arg-type]
        guard,
    )
