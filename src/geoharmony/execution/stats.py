"""Normalisation statistics: per-band moments and percentiles over valid pixels.

Each task records, for every raster output and every (region, split) cell of its
patches, per band: valid pixel count, mean, sum of squared deviations (M2), min and max
(float64) and a quantile sketch (:mod:`geoharmony.execution.sketch`). Moments merge
exactly across cells and tasks (Chan et al.'s pairwise update, stable even for values
like UTM coordinates), sketches by adding counts, so the statistics cost one pass over
data already in memory and no re-read.

The manifest holds them in one schema (:data:`STATS_SCHEMA`): ``stats[output][split]``
(``"all"``: every patch) and ``stats_by_region[output][region]``, each entry
``{count, mean, std, min, max, p02, p98}`` with one value per band (None where a band has
no valid pixel).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from geoharmony.execution import sketch

#: Percentiles recorded per band (entry keys ``p02``, ``p98``).
PERCENTILES = (2.0, 98.0)
#: The manifest's description of its statistics (``manifest["stats_schema"]``).
STATS_SCHEMA: dict[str, Any] = {
    "version": 1,
    "groups": {
        "stats": "output -> split ('train', 'val', 'test', ...; 'all' = every patch)",
        "stats_by_region": "output -> region id",
    },
    "entry": {
        "count": "valid pixels per band",
        "mean": "mean over valid pixels (float64, merged exactly)",
        "std": "population standard deviation (ddof = 0) over valid pixels",
        "min": "minimum (exact)",
        "max": "maximum (exact)",
        "p02": "2nd percentile (see percentile_error)",
        "p98": "98th percentile (see percentile_error)",
    },
    "percentile_error": (
        "value of rank floor(q/100*(n-1)) of the sorted valid values (numpy method='lower'): "
        "exact for integer bands of <= 16 bits; otherwise within a relative "
        f"{sketch.ALPHA} of it (+ {sketch.MIN_ABS} absolute), from log buckets merged exactly"
    ),
    "over": "valid pixels only (mask true); raster modalities only (labels have none)",
}


def _cell_moments(
    data: np.ndarray, mask: np.ndarray, idx: np.ndarray, chunk: int, kind: str
) -> dict[str, Any]:
    """Raw moments and sketches of patches ``idx`` (one cell).

    Per batch of ``chunk`` patches and band, the valid values are gathered once into a
    small contiguous vector (none is gathered when every pixel is valid); its mean and
    M2 (two passes over memory still in cache) merge into the cell's by Chan's update, so
    no value is kept for a second pass. float32 bands count their sketch keys straight
    from the values' top 16 bits (:func:`sketch.f32_counts`).
    """
    nb = data.shape[1]
    if kind == "exact":  # small integers: the exact histogram gives every moment
        return _exact_cell_moments(data, mask, idx, chunk)
    count = np.zeros(nb)
    mean = np.zeros(nb)
    m2 = np.zeros(nb)
    mn = np.full(nb, np.inf)
    mx = np.full(nb, -np.inf)
    f32 = data.dtype == np.float32
    keys: list[sketch.Counts | None] = [None] * nb  # float32: key counts, grown as needed
    sketches = [sketch.empty(kind) for _ in range(nb)]
    for sel, m, c in _batches(mask, idx, chunk):
        for b in range(nb):
            v = data[sel, b]
            v = v.reshape(-1) if m is None else v[m]
            mc = float(np.sum(v, dtype=np.float64)) / c
            d = np.subtract(v, mc, dtype=np.float64)
            np.multiply(d, d, out=d)  # not np.dot: BLAS threads oversubscribe workers
            n = count[b] + c
            delta = mc - mean[b]
            m2[b] += float(d.sum()) + delta * delta * count[b] * c / n
            mean[b] += delta * c / n
            count[b] = n
            mn[b] = min(mn[b], float(v.min()))
            mx[b] = max(mx[b], float(v.max()))
            if f32:
                keys[b] = sketch.f32_counts(v, keys[b])
            else:
                sketch.update(sketches[b], v)
    for b, counts in enumerate(keys):
        if counts is not None:
            if sketch.f32_exact(counts):
                sketches[b] = sketch.from_f32_counts(counts)
            else:  # inf, NaN or values at MIN_ABS: the float64 rule, on the values again
                for sel, m, _ in _batches(mask, idx, chunk):
                    v = data[sel, b]
                    sketch.update(sketches[b], v.reshape(-1) if m is None else v[m])
    return {
        "count": [int(x) for x in count],
        "mean": mean.tolist(),
        "m2": m2.tolist(),
        "min": mn.tolist(),
        "max": mx.tolist(),
        "sketch": sketches,  # in memory; :func:`encoded` makes them JSON
    }


def _batches(
    mask: np.ndarray, idx: np.ndarray, chunk: int
) -> Iterator[tuple[Any, np.ndarray | None, int]]:
    """``(patches, mask or None when all valid, valid count)`` per batch with a valid pixel.

    Consecutive patches are taken as a slice (a view, not a copy).
    """
    consecutive = len(idx) > 0 and int(idx[-1]) - int(idx[0]) == len(idx) - 1
    for a in range(0, len(idx), chunk):
        sel: Any = (
            slice(int(idx[a]), int(idx[min(a + chunk, len(idx)) - 1]) + 1)
            if consecutive
            else idx[a : a + chunk]
        )
        m = mask[sel]
        c = int(np.count_nonzero(m))
        if c:
            yield sel, (None if c == m.size else m), c


def _exact_cell_moments(
    data: np.ndarray, mask: np.ndarray, idx: np.ndarray, chunk: int
) -> dict[str, Any]:
    """:func:`_cell_moments` of integer bands of <= 16 bits, from their histograms.

    One ``bincount`` per batch of patches and band, of the values minus the batch's
    minimum (a histogram as long as the values' range, not as the largest value: a
    one-patch cell of 16-bit reflectances spans a few thousand values, not 30,000), added
    into one histogram per band, is the only pass over the pixels; count, mean, M2, min
    and max follow exactly from the counts (float64 sums of value x count). Histograms
    start and end at a value seen, so no search for the non-empty ones is needed.
    """
    nb = data.shape[1]
    hist = [sketch.Counts() for _ in range(nb)]
    for sel, m, _ in _batches(mask, idx, max(chunk, 8)):
        for b in range(nb):
            v = data[sel, b]
            v = v.reshape(-1) if m is None else v[m]
            if v.dtype.kind == "b":
                v = v.view(np.uint8)
            lo = int(v.min())
            if v.dtype.kind == "i":  # to offsets >= 0 in a type that holds them
                v = v.astype(np.int32)
            hist[b].add(sketch.Counts(lo, np.bincount(np.subtract(v, lo, dtype=v.dtype))))
    count, mean, m2, mn, mx, sketches = [], [], [], [], [], []
    for b in range(nb):
        h = hist[b]
        sketches.append({"kind": "exact", "v": h})
        if not len(h.c):
            count.append(0)
            mean.append(0.0)
            m2.append(0.0)
            mn.append(math.inf)
            mx.append(-math.inf)
            continue
        keys = np.arange(h.lo, h.lo + len(h.c), dtype=np.float64)
        w = h.c.astype(np.float64)
        n = float(w.sum())
        mu = float((keys * w).sum()) / n
        d = keys - mu
        count.append(int(n))
        mean.append(mu)
        m2.append(float((d * d * w).sum()))
        mn.append(float(h.lo))
        mx.append(float(h.lo + len(h.c) - 1))
    return {"count": count, "mean": mean, "m2": m2, "min": mn, "max": mx, "sketch": sketches}


def task_moments(
    task: Any, arrays: Mapping[str, np.ndarray], chunk: int = 2
) -> dict[str, dict[str, Any]]:
    """A task's moments: ``stats``, ``region_stats`` and ``region_entries``.

    ``stats``: output -> split -> raw; ``region_stats``: output -> region -> raw;
    ``region_entries``: output -> region -> entry. Each (region, split) cell is computed
    once and merged exactly into both groupings.
    A region whose patches all lie in this task (``task.whole_regions``) gets its final
    entry (:func:`entry`) here, not a raw record with sketches to merge later: with many
    small regions a task holds many of them, and their sketches would make the task
    record, its encoding and the final merge grow with the number of regions.
    """
    rows = task.rows
    n = len(rows)
    splits = rows["split"].to_numpy() if "split" in rows else np.full(n, "all")
    regions = rows["region"].to_numpy() if "region" in rows else np.full(n, "all")
    whole: frozenset[str] = getattr(task, "whole_regions", frozenset())
    by_split: dict[str, Any] = {}
    by_region: dict[str, Any] = {}
    entries: dict[str, Any] = {}
    keys = np.char.add(np.char.add(regions.astype(str), "\0"), splits.astype(str))
    cells, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    members = np.argsort(inverse, kind="stable")  # each cell's patches, in store order
    bounds = np.concatenate([[0], np.cumsum(np.bincount(inverse, minlength=len(cells)))])
    cell_ids = [(str(regions[i]), str(splits[i])) for i in first]
    for name, spec in task.outputs.items():
        if spec.kind != "raster":
            continue
        data, mask = arrays[name], arrays[f"{name}_mask"]
        kind = sketch.sketch_kind(data.dtype)
        per_split: dict[str, list[Any]] = {}
        per_region: dict[str, list[Any]] = {}
        for c, (rid, split) in enumerate(cell_ids):
            idx = members[bounds[c] : bounds[c + 1]]
            cell = _cell_moments(data, mask, idx, chunk, kind)
            per_split.setdefault(split, []).append(cell)
            per_region.setdefault(rid, []).append(cell)
        by_split[name] = {k: encoded(merge_many(v)) for k, v in per_split.items()}
        by_region[name] = {
            k: encoded(merge_many(v)) for k, v in per_region.items() if k not in whole
        }
        entries[name] = {k: entry(merge_many(v)) for k, v in per_region.items() if k in whole}
    return {"stats": by_split, "region_stats": by_region, "region_entries": entries}


def _sketch(x: Mapping[str, Any]) -> sketch.Sketch:
    """A sketch in memory, from its JSON form or as it is."""
    if isinstance(x.get("p", x.get("v")), sketch.Counts):
        return dict(x)
    return sketch.from_json(x)


def encoded(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A raw moment record with its sketches in JSON form (task records are JSON)."""
    out = dict(raw)
    if "sketch" in raw:
        out["sketch"] = [sketch.to_json(_sketch(sk)) for sk in raw["sketch"]]
    return out


def merge_many(raws: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge raw moment records exactly, all at once (sketches in memory in the result).

    The parallel form of Chan's update: ``n = sum(n_i)``, ``mean = sum(n_i mean_i) / n``,
    ``M2 = sum(M2_i) + sum(n_i (mean_i - mean)**2)``: exact up to rounding, stable for
    values far from zero (UTM coordinates), one pass over the records (no copy of every
    sketch per pairwise step). Sketches may come in JSON or in-memory form.
    """
    if len(raws) == 1:
        one = dict(raws[0])
        if "sketch" in one:
            one["sketch"] = [_sketch(sk) for sk in one["sketch"]]
        return one
    c = np.array([r["count"] for r in raws], np.float64)
    m = np.array([r["mean"] for r in raws], np.float64)
    n = c.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, (c * m).sum(axis=0) / np.maximum(n, 1), 0.0)
    dev = np.where(c > 0, m - mean, 0.0)
    m2 = np.array([r["m2"] for r in raws], np.float64).sum(axis=0) + (c * dev * dev).sum(axis=0)
    out: dict[str, Any] = {
        "count": [int(x) for x in n],
        "mean": mean.tolist(),
        "m2": m2.tolist(),
        "min": np.min([r["min"] for r in raws], axis=0).tolist(),
        "max": np.max([r["max"] for r in raws], axis=0).tolist(),
    }
    if all("sketch" in r for r in raws):
        out["sketch"] = [
            sketch.merge_all([_sketch(r["sketch"][b]) for r in raws])
            for b in range(len(raws[0]["sketch"]))
        ]
    return out


def entry(a: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's entry (:data:`STATS_SCHEMA`) of one merged raw record."""
    n = np.asarray(a["count"], np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.asarray(a["mean"], np.float64), np.nan)
        var = np.where(n > 0, np.asarray(a["m2"], np.float64) / np.maximum(n, 1), np.nan)
    out: dict[str, Any] = {
        "count": [int(c) for c in n],
        "mean": [_num(v) for v in mean],
        "std": [_num(math.sqrt(v)) if math.isfinite(v) else None for v in var],
        "min": [_num(v) for v in a["min"]],
        "max": [_num(v) for v in a["max"]],
    }
    if "sketch" in a:
        per_band = [
            sketch.quantiles(_sketch(sk), PERCENTILES, lo, hi)
            for sk, lo, hi in zip(a["sketch"], a["min"], a["max"], strict=True)
        ]
        for k, q in enumerate(PERCENTILES):
            out[f"p{int(q):02d}"] = [qs[k] for qs in per_band]
    return out


def merge_moments(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge task moments into per-output, per-split entries (see :data:`STATS_SCHEMA`).

    A split ``"all"`` combines every split.
    """
    acc: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for rec in records:
        for name, per in rec.items():
            for split, mom in per.items():
                for key in (split, "all"):
                    acc.setdefault(name, {}).setdefault(key, []).append(mom)
    return {
        name: {g: entry(merge_many(raws)) for g, raws in per.items()} for name, per in acc.items()
    }


def merge_region_moments(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-output, per-region entries from task records, regions in order of appearance.

    A region's raw ``region_stats`` are merged across tasks; a region's
    ``region_entries`` (it lay in one task) are taken as they are.
    """
    raws: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    done: dict[str, dict[str, Any]] = {}
    for rec in records:
        for name, per in rec.get("region_stats", {}).items():
            for rid, mom in per.items():
                raws.setdefault(name, {}).setdefault(rid, []).append(mom)
                done.setdefault(name, {}).setdefault(rid, None)
        for name, per in rec.get("region_entries", {}).items():
            for rid, ent in per.items():
                done.setdefault(name, {})[rid] = ent
    for name, per in raws.items():
        for rid, moms in per.items():
            done[name][rid] = entry(merge_many(moms))
    return done


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None
