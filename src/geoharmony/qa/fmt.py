"""Numbers and CRSs for people: shared by findings, the summary, figures and the report."""

from __future__ import annotations

import math

from pyproj import CRS


def fmt_m(v: float) -> str:
    """A length for people: ``"320 m"``, ``"2.24 km"``."""
    if not math.isfinite(v):
        return "?"
    if abs(v) >= 1000:
        return f"{v / 1000:.3g} km" if abs(v) < 100_000 else f"{v / 1000:,.0f} km"
    return f"{v:.3g} m" if abs(v) < 100 else f"{v:.0f} m"


def crs_short(crs: CRS) -> str:
    """``"EPSG:32616"``, or the CRS's name when it has no EPSG code."""
    code = crs.to_epsg()
    return f"EPSG:{code}" if code else (crs.name or "custom CRS")


def fmt_bytes(n: int | None) -> str:
    """A file size for people: ``"12.3 MB"`` (``"-"`` when unknown)."""
    if n is None:
        return "-"
    v = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if v < 1024 or unit == "GB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return str(n)  # pragma: no cover
