"""Normalisation statistics: per-band moments over valid pixels, per split.

Each task records, for every raster output and split, per band: valid pixel count, mean,
sum of squared deviations (M2), min and max (float64). They merge exactly across tasks
(Chan et al.'s pairwise update, stable even for values like UTM coordinates), so the
statistics cost one pass over data already in memory and no re-read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


def band_moments(task: Any, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Moments of each raster output's bands over valid pixels, per split of a task."""
    splits = (
        task.rows["split"].to_numpy() if "split" in task.rows else np.full(len(task.rows), "all")
    )
    out: dict[str, Any] = {}
    for name, spec in task.outputs.items():
        if spec.kind != "raster":
            continue
        data, mask = arrays[name], arrays[f"{name}_mask"]
        per: dict[str, Any] = {}
        for split in np.unique(splits):
            sel = splits == split
            d = data[sel].astype(np.float64)  # (n, bands, h, w)
            m = np.broadcast_to(mask[sel][:, None], d.shape)
            count = m.sum(axis=(0, 2, 3))
            vals = np.where(m, d, 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = vals.sum(axis=(0, 2, 3)) / count
            dev = np.where(m, d - np.nan_to_num(mean)[None, :, None, None], 0.0)
            m2 = (dev * dev).sum(axis=(0, 2, 3))
            mn = np.where(m, d, np.inf).min(axis=(0, 2, 3))
            mx = np.where(m, d, -np.inf).max(axis=(0, 2, 3))
            per[str(split)] = {
                "count": count.tolist(),
                "mean": np.nan_to_num(mean).tolist(),
                "m2": m2.tolist(),
                "min": mn.tolist(),
                "max": mx.tolist(),
            }
        out[name] = per
    return out


def merge_moments(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge task moments into per-output, per-split mean/std/min/max per band.

    A split ``"all"`` combines every split.
    """
    acc: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for rec in records:
        for name, per in rec.items():
            for split, mom in per.items():
                for key in (split, "all"):
                    a = acc.setdefault(name, {}).get(key)
                    cur = {k: np.asarray(v, dtype=np.float64) for k, v in mom.items()}
                    if a is None:
                        acc[name][key] = cur
                    else:
                        n = a["count"] + cur["count"]
                        with np.errstate(invalid="ignore", divide="ignore"):
                            delta = cur["mean"] - a["mean"]
                            w = np.where(n > 0, cur["count"] / np.maximum(n, 1), 0.0)
                            a["m2"] = a["m2"] + cur["m2"] + delta * delta * a["count"] * w
                            a["mean"] = a["mean"] + delta * w
                        a["count"] = n
                        a["min"] = np.minimum(a["min"], cur["min"])
                        a["max"] = np.maximum(a["max"], cur["max"])
    out: dict[str, Any] = {}
    for name, per in acc.items():
        out[name] = {}
        for split, a in per.items():
            n = a["count"]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(n > 0, a["mean"], np.nan)
                var = np.where(n > 0, a["m2"] / np.maximum(n, 1), np.nan)
            out[name][split] = {
                "count": [int(c) for c in n],
                "mean": [_num(v) for v in mean],
                "std": [_num(math.sqrt(v)) if math.isfinite(v) else None for v in var],
                "min": [_num(v) for v in a["min"]],
                "max": [_num(v) for v in a["max"]],
            }
    return out


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None
