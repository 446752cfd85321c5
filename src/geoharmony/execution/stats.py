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


def band_moments(task: Any, arrays: Mapping[str, np.ndarray], chunk: int = 8) -> dict[str, Any]:
    """Moments of each raster output's bands over valid pixels, per split of a task.

    Per batch of ``chunk`` patches and band, the valid values are gathered once into a
    contiguous vector (boolean indexing), so every reduction runs on contiguous memory;
    two passes (mean, then squared deviations from it) accumulate in float64.
    """
    rows = task.rows
    splits = rows["split"].to_numpy() if "split" in rows else np.full(len(rows), "all")
    out: dict[str, Any] = {}
    for name, spec in task.outputs.items():
        if spec.kind != "raster":
            continue
        data, mask = arrays[name], arrays[f"{name}_mask"]
        nb = data.shape[1]
        per: dict[str, Any] = {}
        for split in np.unique(splits):
            idx = np.flatnonzero(splits == split)
            count = 0
            total = np.zeros(nb)
            mn = np.full(nb, np.inf)
            mx = np.full(nb, -np.inf)
            kept: list[list[np.ndarray]] = [[] for _ in range(nb)]
            for a in range(0, len(idx), chunk):
                sel = idx[a : a + chunk]
                m = mask[sel]
                c = int(np.count_nonzero(m))
                if not c:
                    continue
                count += c
                for b in range(nb):
                    v = data[sel, b][m]
                    kept[b].append(v)
                    total[b] += float(np.sum(v, dtype=np.float64))
                    mn[b] = min(mn[b], float(v.min()))
                    mx[b] = max(mx[b], float(v.max()))
            mean = total / count if count else np.zeros(nb)
            m2 = np.zeros(nb)
            for b in range(nb):
                for v in kept[b]:
                    d = np.subtract(v, mean[b], dtype=np.float64)
                    np.multiply(d, d, out=d)  # not np.dot: BLAS threads oversubscribe workers
                    m2[b] += float(d.sum())
            per[str(split)] = {
                "count": [count] * nb,
                "mean": mean.tolist(),
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
