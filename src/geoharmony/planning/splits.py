"""Spatial train/val/test splits that do not leak.

* **Units**: a split assigns whole units, regions (``by = "region"``) or square blocks of
  ``block_m`` metres in a global equal-area CRS (``by = "block"``). Units are visited in
  a seeded pseudo-random order and each goes to the split furthest below its requested
  share of *patches* (:func:`balanced_assignment`), so achieved fractions are within one
  unit's worth of the request.
* **Lists**: explicit ``train``/``val``/``test`` region lists; an id in two lists or an
  id that names no region is refused (with the nearest names).
* **Guard**: a val/test patch whose footprint (any modality or label: every one of its
  windows) overlaps the footprint of a train patch shares ground with training data; it
  is dropped (``guard = "drop"``, the default) or moved to the ``guard`` split
  (``guard = "keep"``). Windows that only touch along an edge do not leak.
* A split with a positive fraction (or a non-empty list) that ends up empty is refused.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geoharmony.errors import ConfigError
from geoharmony.geometry.footprint import transform_points
from geoharmony.planning.config import Config, SplitConfig

SPLITS = ("train", "val", "test")
#: Overlap area (relative to the smaller window) below which two windows only touch.
TOUCH_REL = 1e-9


def uniform_hash(a: np.ndarray, b: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic uniform [0, 1) values from integer pairs (splitmix64 mixing)."""
    with np.errstate(over="ignore"):
        z = (a.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (
            b.astype(np.uint64) + np.uint64(seed) * np.uint64(0xBF58476D1CE4E5B9)
        )
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def balanced_assignment(
    sizes: np.ndarray, order: np.ndarray, fractions: Sequence[float]
) -> np.ndarray:
    """Assign units to splits so that each split's patch count approaches its fraction.

    Parameters
    ----------
    sizes
        Patches per unit (N,).
    order
        Visiting order (a permutation of ``range(N)``; seeded, so the result is random
        but reproducible).
    fractions
        Requested share of each split (sum 1).

    Returns
    -------
    numpy.ndarray
        Split index of every unit: each unit goes to the split with the largest relative
        deficit (requested minus assigned patches, over requested), so no split exceeds
        its share by more than one unit.

    Examples
    --------
    >>> balanced_assignment(np.array([5, 5, 5, 5]), np.arange(4), [0.5, 0.25, 0.25]).tolist()
    [0, 1, 2, 0]
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    want = np.asarray(fractions, dtype=float) * float(sizes.sum())
    have = np.zeros(len(want))
    out = np.zeros(len(sizes), dtype=np.int64)
    live = want > 0
    for u in np.asarray(order, dtype=np.int64).tolist():
        # the largest *relative* deficit: a small split is not starved by a big one
        deficit = np.where(live, (want - have) / np.where(live, want, 1.0), -np.inf)
        k = int(np.argmax(deficit))
        out[u] = k
        have[k] += sizes[u]
    return out


def check_lists(sc: SplitConfig, region_ids: Sequence[str], where: str) -> Mapping[str, str] | None:
    """Region id -> split from explicit lists; refuse duplicates and unknown ids."""
    if not sc.lists:
        return None
    known = set(region_ids)
    lookup: dict[str, str] = {}
    for split, ids in sc.lists.items():
        for rid in ids:
            if rid in lookup and lookup[rid] != split:
                raise ConfigError(
                    f"{where}: [split] region {rid!r} is in both the {lookup[rid]!r} and the "
                    f"{split!r} list; a region belongs to one split: remove it from one list"
                )
            if rid not in known:
                lower = {k.lower(): k for k in sorted(known)}
                near = [lower[k] for k in difflib.get_close_matches(rid.lower(), lower, n=3)]
                hint = f"nearest: {', '.join(near)}" if near else f"{len(known)} regions exist"
                raise ConfigError(
                    f"{where}: [split].{split} names region {rid!r}, which is not a region of "
                    f"the study area ({hint}); fix the id"
                )
            lookup[rid] = split
    return lookup


def assign_splits(cfg: Config, table: pd.DataFrame, region_ids: Sequence[str]) -> np.ndarray:
    """The split of every patch (see module docstring)."""
    sc = cfg.split
    if sc is None:
        return np.full(len(table), "train", dtype=object)
    names = np.array(SPLITS, dtype=object)
    lookup = check_lists(sc, region_ids, str(cfg.source))
    if lookup is not None:
        return table["region"].map(lambda r: lookup.get(r, "unassigned")).to_numpy(dtype=object)
    if sc.by == "region":
        units = table["region"].to_numpy(dtype=object)
        ids = np.array(sorted(region_ids), dtype=object)
        ids = ids[np.isin(ids, units)]
        codes = np.searchsorted(ids, units)
        key = uniform_hash(np.arange(len(ids)), np.zeros(len(ids)), sc.seed)
    else:
        x, y = transform_points(
            table["lon"].to_numpy(), table["lat"].to_numpy(), CRS.from_epsg(4326), _EASE
        )
        bx = np.floor(x / sc.block_m).astype(np.int64)
        by = np.floor(y / sc.block_m).astype(np.int64)
        blocks, codes = np.unique(np.stack([bx, by], axis=1), axis=0, return_inverse=True)
        codes = codes.ravel()
        key = uniform_hash(blocks[:, 0], blocks[:, 1], sc.seed)
    sizes = np.bincount(codes, minlength=len(key))
    unit_split = balanced_assignment(sizes, np.argsort(key, kind="stable"), sc.fractions)
    return names[unit_split[codes]]


_EASE = CRS.from_epsg(6933)


@dataclass(frozen=True, slots=True)
class GuardResult:
    """What the leakage guard did: the kept rows' splits and what it says about them."""

    keep: np.ndarray  # bool per input row
    split: np.ndarray  # split per input row (``guard`` for kept leaking rows)
    n_leaking: Mapping[str, int]  # per val/test split


def leaking(split: np.ndarray, footprints: Sequence[np.ndarray]) -> np.ndarray:
    """True for val/test patches any of whose footprints overlaps any train footprint.

    Parameters
    ----------
    split
        Split per patch (N,).
    footprints
        One (N,) polygon array per output window family, all in one CRS.
    """
    split = np.asarray(split, dtype=object)
    train = np.flatnonzero(split == "train")
    other = np.flatnonzero((split == "val") | (split == "test"))
    out = np.zeros(len(split), dtype=bool)
    if not len(train) or not len(other):
        return out
    tree_geoms = np.concatenate([np.asarray(f)[train] for f in footprints])
    tree = shapely.STRtree(tree_geoms)
    for f in footprints:
        q = np.asarray(f)[other]
        qi, ti = tree.query(q, predicate="intersects")
        if not len(qi):
            continue
        todo = ~out[other[qi]]
        qi, ti = qi[todo], ti[todo]
        a, b = q[qi], tree_geoms[ti]
        area = shapely.area(shapely.intersection(a, b))
        small = np.minimum(shapely.area(a), shapely.area(b))
        hit = area > TOUCH_REL * small
        out[other[np.unique(qi[hit])]] = True
    return out


def apply_guard(sc: SplitConfig, split: np.ndarray, leak: np.ndarray) -> GuardResult:
    """Drop (``guard = "drop"``) or relabel as ``guard`` the leaking patches."""
    counts = {s: int(np.sum(leak & (split == s))) for s in ("val", "test")}
    if sc.guard == "keep":
        return GuardResult(np.ones(len(split), dtype=bool), np.where(leak, "guard", split), counts)
    return GuardResult(~leak, split.copy(), counts)


def check_not_empty(
    cfg: Config, split: np.ndarray, before: Mapping[str, int], leaked: Mapping[str, int]
) -> None:
    """Refuse a split that was asked for (positive fraction or a list) but holds no patch."""
    sc = cfg.split
    if sc is None:
        return
    for k, name in enumerate(SPLITS):
        asked = bool(sc.lists.get(name)) if sc.lists else sc.fractions[k] > 0
        if not asked or np.any(split == name):
            continue
        if sc.guard == "keep" and leaked.get(name, 0):
            continue  # its patches are there, in the "guard" split the user asked for
        what = f"the {name!r} list" if sc.lists else f"fraction {sc.fractions[k]:g} (fractions)"
        if before.get(name, 0) and leaked.get(name, 0):
            why = (
                f"all {before[name]} of its patches overlap train patches and the leakage guard "
                "dropped them; use larger blocks ([split].block_m) or whole regions, a "
                "smaller patch or guard = 'keep'"
            )
        elif sc.by == "block" and not sc.lists:
            why = (
                "there are too few blocks for every split; use a smaller [split].block_m "
                f"(now {sc.block_m:g} m)"
            )
        else:
            why = "no region with patches is assigned to it; add regions or change the split"
        raise ConfigError(f"{cfg.source}: [split] split {name!r} has {what} but is empty: {why}")


def split_lines(
    cfg: Config, assigned: np.ndarray, split: np.ndarray, leaked: Mapping[str, int]
) -> list[str]:
    """Achieved fractions (as assigned, and after the guard) and guard counts."""
    sc = cfg.split
    if sc is None or not len(split):
        return []

    def shares(x: np.ndarray) -> str:
        return ", ".join(f"{s} {np.mean(x == s):.1%}" for s in SPLITS)

    asked = "lists" if sc.lists else ", ".join(f"{f:.0%}" for f in sc.fractions)
    lines = [
        f"split     by {'lists' if sc.lists else sc.by}: assigned {shares(assigned)} "
        f"(requested {asked}; {len(assigned)} patches)"
    ]
    action = "moved to split 'guard'" if sc.guard == "keep" else "dropped"
    total = sum(leaked.values())
    lines.append(
        f"guard     {total} val/test patches overlapping train footprints {action} "
        f"(val {leaked.get('val', 0)}, test {leaked.get('test', 0)}); "
        f"now {shares(split)} of {len(split)}"
    )
    return lines
