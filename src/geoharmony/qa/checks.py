"""Domain checks of a plan and its dataset: pure functions returning structured findings.

Each check reads only the plan (:class:`~geoharmony.planning.plan.Plan`, computed or read
from ``plan.json``), the patch index and the manifest, and returns :class:`Finding`
values; nothing here draws, prints or exits. ``report`` renders them, ``info`` prints
them and ``validate`` fails on the ``error`` ones. :func:`review` runs them all.

Severities: ``error`` (the dataset is not what geoharmony promises: ``validate`` exits
1), ``warning`` (correct, but a user must know before training), ``note`` (context).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from geoharmony.io.manifest import raster_records
from geoharmony.planning.ownership import duplicates_line
from geoharmony.planning.plan import Plan
from geoharmony.planning.windows import output_grid, patch_corners, patch_crs
from geoharmony.qa.fmt import crs_short, fmt_m

SEVERITIES = ("error", "warning", "note")

#: The warning every native-mode dataset with differing footprints must show.
NATIVE_MESSAGE = (
    "modalities have different footprints: pixel (i, j) is not the same ground location "
    "across modalities; use `footprint` or `resample` for pixel-wise fusion"
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing to know about a dataset.

    ``code`` is stable (tests and tools match on it); ``message`` is for people (may hold
    `backticked` code); ``details`` holds the numbers behind it.
    """

    severity: str
    code: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The message."""
        return self.message

    @property
    def level(self) -> str:
        """The severity."""
        return self.severity


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then warnings, then notes (stable within a severity)."""
    rank = {s: k for k, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: rank.get(f.severity, len(rank)))


def _modalities(plan: Plan) -> list[str]:
    return [n for n, o in plan.outputs.items() if o.kind == "raster"]


def _first_region(plan: Plan) -> str:
    return plan.regions[0].id


# -- the plan ----------------------------------------------------------------------------
def footprint_findings(plan: Plan) -> list[Finding]:
    """Whether pixel ``(i, j)`` is the same ground in every modality (first patch)."""
    if plan.n_patches == 0:
        return []
    k, rid = 0, str(plan.table["region"].iloc[0])
    crs = patch_crs(plan, k)
    mods = _modalities(plan)
    ref_c = patch_corners(plan, plan.reference, k, crs)
    ref_res = max(output_grid(plan, plan.reference, rid).resolution_m)
    mismatch: dict[str, dict[str, float]] = {}
    for m in mods:
        c = patch_corners(plan, m, k, crs)
        dist = float(np.max(np.hypot(*(c - ref_c).T)))
        if dist > 0.5 * max(ref_res, max(output_grid(plan, m, rid).resolution_m)):
            d0, d1 = c[1] - c[0], ref_c[1] - ref_c[0]
            rot = math.degrees(math.atan2(d0[1], d0[0]) - math.atan2(d1[1], d1[0]))
            mismatch[m] = {"corner_distance_m": dist, "rotation_deg": rot}
    if not mismatch:
        return []
    if plan.mode == "native":
        sizes = ", ".join(
            f"{m} {fmt_m(plan.outputs[m].width * output_grid(plan, m, rid).resolution_m[0])}"
            for m in mods
        )
        return [
            Finding(
                "warning",
                "native-footprints",
                f"{NATIVE_MESSAGE} (patch side: {sizes}).",
                mismatch,
            )
        ]
    parts = [
        f"{m}: corners up to {fmt_m(d['corner_distance_m'])} apart, "
        f"rotated {d['rotation_deg']:+.2f}°"
        for m, d in mismatch.items()
    ]
    return [
        Finding(
            "warning",
            "footprints-differ",
            f"in {plan.mode} mode the footprints still differ from the reference "
            f"'{plan.reference}' ({'; '.join(parts)}): pixel (i, j) is not the same ground "
            "location across modalities; use `resample` for pixel-wise fusion.",
            mismatch,
        )
    ]


def alignment_findings(plan: Plan, index: Any) -> list[Finding]:
    """Every window centre within half a pixel of its patch centre (the alignment promise)."""
    out = []
    rid = _first_region(plan)
    for m in _modalities(plan):
        col = f"{m}_offset_m"
        if col not in index or not len(index):
            continue
        rx, ry = output_grid(plan, m, rid).resolution_m
        bound = 0.5 * math.hypot(rx, ry)
        worst = float(index[col].max())
        if worst > bound * 1.001 + 1e-6:
            out.append(
                Finding(
                    "error",
                    "alignment-bound",
                    f"{m}: an alignment offset of {worst:.2f} m exceeds half a pixel "
                    f"({bound:.2f} m); the dataset is not aligned as promised.",
                    {"modality": m, "max_offset_m": worst, "bound_m": bound},
                )
            )
    return out


def split_findings(plan: Plan, index: Any) -> list[Finding]:
    """Train/test leakage through overlapping patches; unassigned and empty splits."""
    out: list[Finding] = []
    if "split" not in index:
        return out
    g = plan.config.grid
    splits = index["split"].astype(str)
    guarded = "split_assigned" in index  # issue 9: the plan's leakage guard ran
    if g.stride < g.patch_size and splits.nunique() > 1 and not guarded:
        out.append(
            Finding(
                "warning",
                "split-leakage",
                f"patches overlap (stride {g.stride} < patch size {g.patch_size} px): "
                "neighbouring patches in different splits share pixels (train/test leakage "
                "at split boundaries).",
                {"stride": g.stride, "patch_size": g.patch_size},
            )
        )
    present = set(splits)
    if "unassigned" in present:
        n = int((splits == "unassigned").sum())
        out.append(
            Finding(
                "warning",
                "split-unassigned",
                f"{n} patches are in regions not listed in any split ('unassigned').",
                {"patches": n},
            )
        )
    missing = [s for s in ("train", "val", "test") if s not in present]
    if missing and present:
        out.append(
            Finding(
                "note",
                "split-missing",
                f"no patches in split(s) {', '.join(missing)}; "
                f"present: {', '.join(sorted(present))}.",
                {"missing": missing},
            )
        )
    return out


def validity_findings(plan: Plan, index: Any) -> list[Finding]:
    """Outputs whose patches are mostly masked (from the index's valid fractions)."""
    out = []
    for name in plan.outputs:
        col = f"{name}_valid_fraction"
        if col not in index:
            continue
        v = index[col].to_numpy(float)
        none, low = int((v <= 0).sum()), int((v < 0.5).sum())
        if low:
            out.append(
                Finding(
                    "warning",
                    "low-valid",
                    f"{name}: {low} of {len(v)} patches have less than 50 % valid pixels"
                    + (f" ({none} have none)" if none else "")
                    + f"; filter on the index's {col} column or use the masks in training.",
                    {"output": name, "below_half": low, "empty": none, "patches": len(v)},
                )
            )
    return out


def input_findings(plan: Plan) -> list[Finding]:
    """Nodata, geographic pixels, several CRSs, resample mode (from the plan's inputs)."""
    out = []
    rid = _first_region(plan)
    crss: dict[str, list[str]] = {}
    for m in _modalities(plan):
        inp = plan.sources[rid][m]
        crss.setdefault(crs_short(inp.grid.crs), []).append(m)
        if inp.nodata is None:
            out.append(
                Finding(
                    "warning",
                    "no-nodata",
                    f"{m} declares no nodata value: only pixels outside the raster are masked; "
                    "fill values inside it (e.g. 0) count as valid. Set [modalities."
                    f"{m}].nodata if it has one.",
                    {"modality": m},
                )
            )
        if inp.grid.is_geographic:
            rx, ry = inp.grid.resolution_m
            out.append(
                Finding(
                    "note",
                    "geographic-pixels",
                    f"{m} is in a geographic CRS ({crs_short(inp.grid.crs)}): its pixels are "
                    f"{rx:.3g} \u00d7 {ry:.3g} m at the raster's centre and change with latitude.",
                    {"modality": m, "resolution_m": [rx, ry]},
                )
            )
    if len(crss) > 1:
        groups = "; ".join(f"{c}: {', '.join(ms)}" for c, ms in crss.items())
        out.append(
            Finding(
                "note",
                "several-crs",
                f"inputs come in {len(crss)} CRSs ({groups}); each window was chosen on its "
                "raster's own grid after transforming the patch centre (nothing was reprojected "
                "in native/footprint mode), so footprints of other CRSs are rotated.",
                {"crs": crss},
            )
        )
    if plan.mode == "resample":
        out.append(
            Finding(
                "note",
                "resample",
                f"resample mode: every modality was warped onto the '{plan.reference}' patch "
                "grid; continuous data are interpolated (bilinear unless configured), "
                "categorical ones use nearest neighbour.",
            )
        )
    return out


# -- the dataset -------------------------------------------------------------------------
def _file_size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def changed_inputs(
    manifest: Mapping[str, Any],
    *,
    size_of: Callable[[str], int | None] = _file_size,
    max_files: int = 200,
) -> list[Finding]:
    """Input rasters missing or resized since extraction (the manifest's records).

    ``size_of(path)`` gives a file's current size (None: missing); the default asks the
    file system. Checksums are ``validate``'s (it re-hashes).
    """
    out = []
    seen: set[str] = set()
    for m, rec in raster_records(manifest):
        p = str(rec.get("path", ""))
        if rec.get("missing"):  # on_missing = "masked": absent at extraction, by design
            continue
        if p in seen or len(seen) >= max_files or rec.get("remote") is not None:
            continue  # a remote input is re-checked (HEAD: size, ETag) by validate
        seen.add(p)
        size = size_of(p)
        if size is None:
            out.append(
                Finding(
                    "warning",
                    "input-missing",
                    f"{m}: input {p} no longer exists.",
                    {"modality": m, "path": p},
                )
            )
        elif rec.get("size") is not None and size != rec["size"]:
            out.append(
                Finding(
                    "warning",
                    "input-changed",
                    f"{m}: input {p} changed size since extraction.",
                    {"modality": m, "path": p, "size": size, "recorded": rec["size"]},
                )
            )
    return out


def index_findings(plan: Plan, index: Any, manifest: Mapping[str, Any]) -> list[Finding]:
    """The index and manifest agree with the plan (rows, order, ids, completeness)."""
    out = []

    def error(code: str, msg: str, **details: Any) -> None:
        out.append(Finding("error", code, msg, details))

    if not manifest.get("complete"):
        error("incomplete", "manifest does not mark the dataset complete")
    n = plan.n_patches
    if len(index) != n:
        error("index-rows", f"index has {len(index)} rows, the plan has {n} patches")
    elif "patch_index" in index and not np.array_equal(
        index["patch_index"].to_numpy(), np.arange(n)
    ):
        error("index-order", "index patch_index is not 0..n-1 in order")
    if "patch_id" in index and index["patch_id"].duplicated().any():
        error("index-duplicates", "index has duplicate patch_id values")
    elif (
        len(index) == n
        and n
        and not np.array_equal(
            index["patch_id"].astype(str).to_numpy(), plan.table["patch_id"].astype(str).to_numpy()
        )
    ):
        error("index-plan", "index patch_id values differ from the plan's")
    recorded = manifest.get("outputs", {})
    for name, o in plan.outputs.items():
        shape = [o.bands, o.height, o.width]
        rec = recorded.get(name)
        if rec is not None and list(rec.get("shape", shape)) != shape:
            error(
                "manifest-plan",
                f"{name}: manifest shape {rec.get('shape')} differs from the plan's {shape}",
            )
    if len(index) == 0:
        out.append(
            Finding(
                "warning",
                "empty",
                "the dataset has no patches: nothing lies inside the study area",
            )
        )
    return out


def ownership_findings(index: Any) -> list[Finding]:
    """One owner per lattice point: "0 cross-region duplicates", or an error."""
    ok, line = duplicates_line(index)
    if ok:
        return [Finding("note", "ownership", line + ".")]
    return [Finding("error", "cross-region-duplicates", line + ".")]


def plan_findings(plan: Plan) -> list[Finding]:
    """What the plan decided and said (guard counts, fractions, footprints, transforms)."""
    out = [
        Finding(
            "warning",
            "transform-accuracy",
            str(t["warning"]),
            {k: v for k, v in t.items() if k != "warning"},
        )
        for t in plan.transforms
        if t.get("warning")
    ]
    out += [
        Finding("note", "plan", n)
        for n in plan.notes
        if not any(n == t.get("warning") for t in plan.transforms)
    ]
    empty = plan.regions_without_patches
    if empty:
        out.append(
            Finding(
                "warning",
                "regions-empty",
                f"{len(empty)} region(s) without patches: {', '.join(empty[:10])}"
                + (" …" if len(empty) > 10 else ""),
                {"regions": empty},
            )
        )
    return out


def label_findings(manifest: Mapping[str, Any], index: Any) -> list[Finding]:
    """Label QA (see :mod:`geoharmony.labels.qa`): positives, empty patches, D8 problems.

    ``label-implausible`` (warning): a region whose positive fraction of a label is over
    the bound (default 50 %); ``label-empty-patches`` (note): patches of a label without a
    positive pixel; ``d8-undefined`` (error for a conditioned D8, else a note): valid cells
    without a direction; ``d8-cycles`` (error): cells on or above a cycle.
    """
    from geoharmony.labels.qa import (
        MAX_POSITIVE_FRACTION,
        class_fractions_per_region,
        d8_region_problems,
        implausible_regions,
        patches_without_positive,
    )

    out: list[Finding] = []
    outputs = manifest.get("outputs", {})
    d8 = tuple(n for n, o in outputs.items() if o.get("d8_encoding") or o.get("kind") == "d8")
    fractions = class_fractions_per_region(manifest, index)
    for row in implausible_regions(fractions, max_positive=MAX_POSITIVE_FRACTION, skip=d8):
        out.append(
            Finding(
                "warning",
                "label-implausible",
                f"label {row['label']}: region {row['region']} is "
                f"{row['positive_fraction']:.0%} positive (over {MAX_POSITIVE_FRACTION:.0%}); "
                "check the layer, its CRS and `buffer_m`",
                row,
            )
        )
    for name in outputs:
        if f"{name}_positive" not in getattr(index, "columns", ()):
            continue
        n = len(patches_without_positive(index, name))
        if n:
            out.append(
                Finding(
                    "note",
                    "label-empty-patches",
                    f"label {name}: {n} of {len(index)} patches have no positive pixel "
                    "(`min_positive` filters them)",
                    {"label": name, "patches": n},
                )
            )
    for name, per in d8_region_problems(manifest).items():
        und = sum(p["undefined"] for p in per.values())
        cyc = sum(p["cycle_cells"] for p in per.values())
        conditioned = (outputs[name].get("params") or {}).get("conditioning") == "fill"
        if und:
            out.append(
                Finding(
                    "error" if conditioned and outputs[name].get("kind") == "d8" else "note",
                    "d8-undefined",
                    f"label {name}: {und} valid cells have no flow direction",
                    {"label": name, "cells": und},
                )
            )
        if cyc:
            out.append(
                Finding(
                    "error",
                    "d8-cycles",
                    f"label {name}: {cyc} cells are on or above a flow-direction cycle",
                    {"label": name, "cells": cyc},
                )
            )
    return out


def review(plan: Plan, index: Any, manifest: Mapping[str, Any] | None = None) -> list[Finding]:
    """Every domain check, most severe first.

    Parameters
    ----------
    plan
        The plan (computed, or a dataset's ``plan.json``).
    index
        Its patch index (``plan_frame``, or a dataset's ``index.parquet``).
    manifest
        A dataset's manifest (None before extraction: no dataset checks).
    """
    if len(index) == 0 and not manifest:
        return [
            Finding(
                "warning",
                "empty",
                "the dataset has no patches: nothing lies inside the study area",
            )
        ]
    out: list[Finding] = []
    if manifest:
        out += index_findings(plan, index, manifest)
    if len(index):
        out += footprint_findings(plan)
        out += validity_findings(plan, index)
        out += alignment_findings(plan, index)
        out += split_findings(plan, index)
        out += input_findings(plan)
        out += ownership_findings(index)
        out += plan_findings(plan)
    if manifest:
        out += changed_inputs(manifest)
        out += failure_findings(manifest)
        out += label_findings(manifest, index)
    return ordered(out)


def failure_findings(manifest: Mapping[str, Any]) -> list[Finding]:
    """A dataset whose run had failed regions is incomplete (an error: never "valid")."""
    if manifest.get("complete", True):
        return []
    failed = manifest.get("failures") or {}
    regions = list(failed.get("regions", []))
    return [
        Finding(
            "error",
            "incomplete",
            f"incomplete dataset: {len(regions)} region(s) failed "
            f"({', '.join(map(str, regions[:10]))}{' ...' if len(regions) > 10 else ''}); "
            f"their patches hold fill values; reasons in `{failed.get('file', 'failures.json')}`; "
            "rerun `geoharmony extract CONFIG` to retry only them",
            {"regions": regions, "tasks": list(failed.get("tasks", []))},
        )
    ]
