"""Label QA as pure functions of a manifest, an index or arrays (for info, validate, report).

- :func:`class_fractions_per_region`: fraction of valid pixels per class, per region.
- :func:`implausible_regions`: regions whose positive fraction exceeds a bound (e.g. more
  than 50 % water usually means a wrong layer or a buffer in degrees).
- :func:`patches_without_positive`: patches of a label with no positive pixel.
- :func:`d8_region_problems`: D8 cells with an undefined direction and cells on cycles,
  per region (both must be 0 for a conditioned D8).
- :func:`d8_array_problems`: the same counts for any D8 array (stored or recomputed).
- :func:`label_qa_summary`: all of it, as written into the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from geoharmony.geometry.d8codes import decode
from geoharmony.labels.hydro import d8_qa

#: Default upper bound of a plausible positive fraction of a region.
MAX_POSITIVE_FRACTION = 0.5


def _labels(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {n: o for n, o in manifest.get("outputs", {}).items() if o.get("kind") != "raster"}


def class_fractions_per_region(
    manifest: Mapping[str, Any], index: Any = None
) -> dict[str, dict[str, dict[str, float]]]:
    """``{label: {region: {class value: fraction of valid pixels}}}``.

    Region-level labels use their region rasters' counts (in the manifest); vector labels
    the positive pixel counts of their patches (column ``<label>_positive`` of the index),
    as ``{"0": ..., "positive": ...}``.
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, o in _labels(manifest).items():
        regions = o.get("regions")
        if regions:
            fr = {rid: dict(rec.get("class_fractions", {})) for rid, rec in regions.items()}
            if any(fr.values()):
                out[name] = fr
            continue
        col = f"{name}_positive"
        if index is None or col not in index.columns:
            continue
        h, w = o["shape"][1:]
        per: dict[str, dict[str, float]] = {}
        for rid, sub in index.groupby("region"):
            valid = float((sub[f"{name}_valid_fraction"] * h * w).sum())
            pos = float(sub[col].sum())
            if valid > 0:
                per[str(rid)] = {"0": 1.0 - pos / valid, "positive": pos / valid}
        out[name] = per
    return out


def positive_fraction(fractions: Mapping[str, float]) -> float:
    """Fraction of valid pixels in a positive class (every class but 0 and 255)."""
    if "positive" in fractions:
        return float(fractions["positive"])
    return float(sum(v for k, v in fractions.items() if k not in ("0", "255")))


def implausible_regions(
    fractions: Mapping[str, Mapping[str, Mapping[str, float]]],
    *,
    max_positive: float = MAX_POSITIVE_FRACTION,
    skip: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Regions whose positive fraction of a label exceeds ``max_positive``."""
    out = []
    for name, per in fractions.items():
        if name in skip:
            continue
        for rid, fr in per.items():
            p = positive_fraction(fr)
            if p > max_positive:
                out.append({"label": name, "region": rid, "positive_fraction": round(p, 6)})
    return out


def patches_without_positive(index: Any, label: str) -> np.ndarray:
    """Positions of the patches whose label has no positive pixel (index column needed)."""
    col = f"{label}_positive"
    if col not in index.columns:
        return np.array([], dtype=np.int64)
    return np.flatnonzero(index[col].to_numpy() == 0)


def d8_region_problems(manifest: Mapping[str, Any]) -> dict[str, dict[str, dict[str, int]]]:
    """``{label: {region: {"valid", "undefined", "cycle_cells"}}}`` of the region D8s."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for name, o in _labels(manifest).items():
        if o.get("kind") not in ("d8", "accumulation", "streams"):
            continue
        per = {}
        for rid, rec in (o.get("regions") or {}).items():
            qa = rec.get("qa", {})
            per[rid] = {k: int(qa.get(k, 0)) for k in ("valid", "undefined", "cycle_cells")}
        out[name] = per
    return out


def d8_array_problems(stored: np.ndarray, valid: np.ndarray, encoding: str) -> dict[str, int]:
    """Undefined cells and cells on or above a cycle of a stored D8 array."""
    return d8_qa(decode(np.asarray(stored), encoding), np.asarray(valid, dtype=bool))


def label_qa_summary(
    manifest: Mapping[str, Any],
    index: Any,
    *,
    max_positive: float = MAX_POSITIVE_FRACTION,
) -> dict[str, Any]:
    """Everything above for one dataset (written into its manifest as ``label_qa``)."""
    fractions = class_fractions_per_region(manifest, index)
    d8_like = tuple(
        n for n, o in _labels(manifest).items() if o.get("d8_encoding") or o["kind"] == "d8"
    )
    no_pos = {}
    for name in _labels(manifest):
        if f"{name}_positive" in getattr(index, "columns", ()):
            no_pos[name] = len(patches_without_positive(index, name))
    problems = d8_region_problems(manifest)
    return {
        "class_fractions": fractions,
        "max_positive_fraction": max_positive,
        "implausible_regions": implausible_regions(
            fractions, max_positive=max_positive, skip=d8_like
        ),
        "patches_without_positive": no_pos,
        "d8": problems,
        "d8_undefined": sum(p["undefined"] for per in problems.values() for p in per.values()),
        "d8_cycle_cells": sum(p["cycle_cells"] for per in problems.values() for p in per.values()),
    }
