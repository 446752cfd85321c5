"""``geoharmony validate``: re-read a dataset and check it against its plan and manifest.

Integrity is checked here, where bytes are read: every file against the sha256 recorded
when it was written (shards hashed by the task that wrote them; missing, truncated,
swapped and unexpected files), every patch of every array re-read and decoded, every
mask against the index's valid fractions, the index's ids, coordinates, windows and splits
against the persisted plan (each problem names the file, array and patch range), and the
input checksums; everything else is :func:`geoharmony.qa.checks.review`. Problems are
:class:`~geoharmony.qa.checks.Finding` values of severity ``error``; ``validate`` exits 1
when there is one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geoharmony.errors import DamagedDatasetError, DatasetError, InputError
from geoharmony.execution.checksums import store_files
from geoharmony.io.hashes import sha256_file
from geoharmony.io.manifest import (
    INDEX,
    MANIFEST,
    MANIFEST_FORMAT,
    SEAL,
    raster_records,
    seal_status,
)
from geoharmony.planning.persist import PLAN
from geoharmony.qa.checks import Finding, ordered, review
from geoharmony.reading.dataset import Dataset, open_dataset


@dataclass
class Report:
    """What :func:`validate` found: ``checked`` lines and :class:`Finding` values."""

    checked: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Messages of the ``error`` findings (they make a dataset invalid)."""
        return [f.message for f in self.findings if f.severity == "error"]

    @property
    def notes(self) -> list[str]:
        """Messages of the other findings."""
        return [f.message for f in self.findings if f.severity != "error"]

    @property
    def ok(self) -> bool:
        """True when no ``error`` was found."""
        return not self.problems


def _ranges(pos: np.ndarray) -> str:
    """``3, 7-9`` for positions [3, 7, 8, 9] (at most 6 ranges shown)."""
    pos = np.unique(pos)
    if not len(pos):
        return "none"
    brk = np.flatnonzero(np.diff(pos) != 1) + 1
    parts = [
        f"{int(g[0])}" if len(g) == 1 else f"{int(g[0])}-{int(g[-1])}" for g in np.split(pos, brk)
    ]
    more = f" and {len(parts) - 6} more ranges" if len(parts) > 6 else ""
    return ", ".join(parts[:6]) + more


def _file_scope(rel: str, m: dict[str, Any], n: int) -> str:
    """Which array and patches a store file holds (``array dem, patches 12-15``)."""
    per = int(m["store"].get("patches_per_shard") or 1)
    per = max(1, min(per, max(n, 1)))
    parts = rel.split("/")
    arrays = set(m["outputs"]) | {f"{o}_mask" for o in m["outputs"]}
    array = next((p for p in parts[1:] if p in arrays), None)
    hit = re.search(r"(?:^|/)c[./](\d+)", rel) or re.search(r"shard-(\d+)", rel)
    what = f"array {array}" if array else "arrays " + ", ".join(sorted(m["outputs"]))
    if hit and not rel.endswith(".json"):
        s = int(hit.group(1))
        return f"{what}, patches {s * per}-{min((s + 1) * per, n) - 1}"
    return what if array else "store metadata"


def file_findings(ds: Dataset) -> tuple[list[str], list[Finding]]:
    """Every file against the sha256 recorded when it was written (missing, extra too)."""
    m, n = ds.manifest, len(ds)
    out: list[Finding] = []
    sealed = seal_status(m)
    manifest = ds.root / MANIFEST
    if sealed == "broken":
        out.append(
            Finding(
                "error",
                "manifest-edited",
                f"{manifest}: its content differs from the sha256 sealed into it at write "
                "time (statistics, counts, checksums or settings were edited)",
            )
        )
    elif sealed == "missing" and int(m.get("format_version", 1) or 1) >= MANIFEST_FORMAT:
        out.append(
            Finding(
                "error",
                "manifest-unsealed",
                f"{manifest}: format {m.get('format_version')} manifests carry a seal "
                f"({SEAL}); this one has none (removed)",
            )
        )
    recorded: dict[str, str] | None = m.get("checksums")
    if recorded is None:
        if out:
            return [], out
        note = "the manifest records no file checksums (written by an older geoharmony)"
        return [], [Finding("note", "no-checksums", note)]
    labels = {INDEX: "the patch index", PLAN: "the plan"}
    for rel, digest in sorted(recorded.items()):
        path = ds.root / rel
        scope = labels.get(rel) or _file_scope(rel, m, n)
        if not path.is_file():
            out.append(Finding("error", "file-missing", f"{path}: file missing ({scope})"))
        elif sha256_file(path) != digest:
            out.append(
                Finding(
                    "error",
                    "file-checksum",
                    f"{path}: sha256 differs from the one recorded at write time ({scope})",
                )
            )
    for rel in sorted(set(store_files(ds.root, m["store"]["path"])) - set(recorded)):
        out.append(
            Finding(
                "error",
                "file-unexpected",
                f"{ds.root / rel}: unexpected file in the store ({_file_scope(rel, m, n)})",
            )
        )
    checked = [f"files: {len(recorded)} checksums verified"]
    if sealed == "ok":
        checked.append("manifest: its content matches its seal")
    return checked, out


def store_findings(ds: Dataset, *, batch: int = 64) -> tuple[list[str], list[Finding]]:
    """Every patch of every array re-read and decoded; every mask matches the index."""
    checked: list[str] = []
    out: list[Finding] = []
    n, idx, store = len(ds), ds.index, ds.store
    where = store.path
    for name, o in ds.plan.outputs.items():
        vf = np.full(n, np.nan)
        for arr_name, shape, dtype in (
            (name, (o.bands, o.height, o.width), o.dtype),
            (f"{name}_mask", (o.height, o.width), "bool"),
        ):
            if arr_name not in store.names:
                out.append(
                    Finding(
                        "error", "store-missing", f"{where}: the store lacks array {arr_name!r}"
                    )
                )
                continue
            bad: list[int] = []
            for s in range(0, n, batch):
                e = min(s + batch, n)
                try:
                    a = store.read(arr_name, slice(s, e))
                except Exception:  # a decode failure is a finding: narrow it to patches
                    for i in range(s, e):
                        try:
                            store.read(arr_name, i)
                        except Exception:
                            bad.append(i)
                    continue
                if a.shape[1:] != shape or str(a.dtype) != dtype:
                    out.append(
                        Finding(
                            "error",
                            "store-shape",
                            f"{where}: array {arr_name}, patches {s}-{e - 1}: shape/dtype "
                            f"{a.shape[1:]}/{a.dtype}, the plan says {shape}/{dtype}",
                        )
                    )
                    break
                if arr_name.endswith("_mask"):
                    vf[s:e] = a.reshape(len(a), -1).mean(axis=1)
            if bad:
                out.append(
                    Finding(
                        "error",
                        "store-unreadable",
                        f"{where}: array {arr_name}, patches {_ranges(np.array(bad))} cannot be "
                        "read (corrupt or missing data)",
                        {"array": arr_name, "patches": bad[:100]},
                    )
                )
        col = f"{name}_valid_fraction"
        if col in idx and len(idx) == n:
            ok = np.isfinite(vf)
            diff = ok & ~np.isclose(vf, idx[col].to_numpy(dtype=float), atol=1e-6)
            if diff.any():
                out.append(
                    Finding(
                        "error",
                        "mask-index",
                        f"{ds.root / INDEX}: column {col} disagrees with the stored "
                        f"{name}_mask at patches {_ranges(np.flatnonzero(diff))}",
                        {"output": name, "patches": int(diff.sum())},
                    )
                )
        checked.append(f"{name}: {n} patches re-read, masks match the index")
    return checked, out


#: Index columns compared with the plan (plus every ``<modality>_*_off|width|height``).
PLAN_COLUMNS = ("patch_id", "region", "lattice_i", "lattice_j", "lon", "lat", "split")


def plan_column_findings(ds: Dataset) -> tuple[list[str], list[Finding]]:
    """The index's ids, coordinates, windows and splits, recomputed from the persisted plan.

    The plan's configuration and regions (``plan.json``) are planned again against the
    input rasters' headers; when an input is gone or changed, this is a note.
    """
    from geoharmony.errors import GeoharmonyError
    from geoharmony.planning.plan import compute_plan

    stored = ds.plan
    try:
        again = compute_plan(stored.config, regions=list(stored.regions))
    except (GeoharmonyError, OSError) as exc:
        return [], [Finding("note", "plan-not-recomputed", f"plan not recomputed ({exc})")]
    if again.fingerprint() != ds.manifest.get("fingerprint"):
        msg = "plan not recomputed: an input changed since extraction (fingerprint)"
        return [], [Finding("note", "plan-not-recomputed", msg)]
    from geoharmony.execution.region_labels import apply_min_positive

    again = apply_min_positive(again, ds.root)  # the patch filter of the region labels
    idx, table = ds.index, again.table
    if len(idx) != len(table):
        return [], []  # reported by review()
    out: list[Finding] = []
    n = len(idx)
    if "patch_index" in idx and not np.array_equal(idx["patch_index"].to_numpy(), np.arange(n)):
        wrong = np.flatnonzero(idx["patch_index"].to_numpy() != np.arange(n))
        out.append(
            Finding(
                "error",
                "index-column",
                f"{ds.root / INDEX}: column patch_index is not the row number at patches "
                f"{_ranges(wrong)}",
            )
        )
    cols = [c for c in PLAN_COLUMNS if c in table] + [
        c for c in table.columns if c.endswith(("_col_off", "_row_off", "_width", "_height"))
    ]
    for col in cols:
        if col not in idx:
            out.append(
                Finding("error", "index-column", f"{ds.root / INDEX}: column {col} is missing")
            )
            continue
        a, b = idx[col].to_numpy(), table[col].to_numpy()
        if a.dtype.kind == "f" or b.dtype.kind == "f":
            diff = ~np.isclose(a.astype(float), b.astype(float), rtol=0, atol=1e-9)
        else:
            diff = a.astype(str) != b.astype(str)
        if diff.any():
            out.append(
                Finding(
                    "error",
                    "index-column",
                    f"{ds.root / INDEX}: column {col} differs from the plan at patches "
                    f"{_ranges(np.flatnonzero(diff))}",
                )
            )
    return [f"index: {len(cols)} columns against the plan recomputed"], out


def checksum_findings(ds: Dataset) -> tuple[list[str], list[Finding]]:
    """Input rasters re-hashed against the manifest (a change is a note: the dataset stands)."""
    checked: list[str] = []
    out: list[Finding] = []
    seen: set[str] = set()
    for name, rec in raster_records(ds.manifest):
        if rec.get("remote") is not None:  # remote: size/ETag by one HEAD request
            if rec["path"] not in seen:
                seen.add(rec["path"])
                remote_findings(rec, name, checked, out)
            continue
        # every file of the source (sidecars too) when the manifest lists them
        for f in rec.get("files") or [rec]:
            p = Path(f["path"])
            if str(p) in seen or "sha256" not in f:
                continue
            seen.add(str(p))
            if not p.exists():
                out.append(
                    Finding(
                        "note",
                        "input-missing",
                        f"input {name}: {p} is missing (cannot re-check its checksum)",
                    )
                )
            elif sha256_file(p) != f["sha256"]:
                out.append(
                    Finding(
                        "note",
                        "input-checksum",
                        f"input {name}: {p} changed since extraction (sha256 differs)",
                    )
                )
            else:
                checked.append(f"input {name}: {p.name} sha256 matches")
    return checked, out


def remote_findings(
    rec: Mapping[str, Any], name: str, checked: list[str], out: list[Finding]
) -> None:
    """A remote input: one ``HEAD`` request compares its size and ETag with the manifest's."""
    from geoharmony.io.remote import http_url, probe

    url = str(rec["path"])
    if http_url(url) is None:
        out.append(Finding("note", "input-remote", f"input {name}: {url} is not re-checked"))
        return
    try:
        now = probe(url, f"manifest inputs.modalities.{name}", retries=1)
    except InputError as exc:
        out.append(Finding("note", "input-missing", f"input {name}: cannot re-check: {exc}"))
        return
    was = rec.get("remote") or {}
    if (now.size, now.etag) != (was.get("size"), was.get("etag")):
        out.append(
            Finding(
                "note",
                "input-checksum",
                f"input {name}: {url} changed since extraction (size/ETag "
                f"{was.get('size')}/{was.get('etag')} -> {now.size}/{now.etag})",
            )
        )
    else:
        checked.append(f"input {name}: {url} size and ETag match")


def region_label_findings(ds: Dataset) -> tuple[list[str], list[Finding]]:
    """Region label rasters: present, sha256 as recorded, and (D8) no undefined cell or cycle."""
    import rasterio

    from geoharmony.labels.qa import d8_array_problems

    checked: list[str] = []
    out: list[Finding] = []
    for name, o in ds.manifest.get("outputs", {}).items():
        for rid, rec in (o.get("regions") or {}).items():
            p = ds.root / rec["path"]
            details = {"label": name, "region": rid, "path": rec["path"]}
            if not p.is_file():
                out.append(
                    Finding("error", "label-raster-missing", f"{name}: {rec['path']} is missing")
                )
                continue
            if sha256_file(p) != rec["sha256"]:
                out.append(
                    Finding(
                        "error",
                        "label-raster-checksum",
                        f"{name}: {rec['path']} changed since extraction (sha256 differs)",
                        details,
                    )
                )
                continue
            enc = o.get("d8_encoding")
            if enc is None:
                checked.append(f"{name}: region {rid} raster sha256 matches")
                continue
            with rasterio.open(p) as src:
                qa = d8_array_problems(src.read(1), src.read_masks(1) > 0, enc)
            if qa["cycle_cells"]:
                out.append(
                    Finding(
                        "error",
                        "d8-cycles",
                        f"{name}: region {rid} has {qa['cycle_cells']} cells on cycles",
                        {**details, "cells": qa["cycle_cells"]},
                    )
                )
            conditioned = (o.get("params") or {}).get("conditioning") == "fill"
            if conditioned and o.get("kind") == "d8" and qa["undefined"]:
                out.append(
                    Finding(
                        "error",
                        "d8-undefined",
                        f"{name}: region {rid} has {qa['undefined']} valid cells without a "
                        "direction",
                        {**details, "cells": qa["undefined"]},
                    )
                )
            checked.append(
                f"{name}: region {rid} D8 re-checked ({qa['undefined']} undefined, "
                f"{qa['cycle_cells']} on cycles)"
            )
    return checked, out


def validate(path: str | Path, *, check_inputs: bool = True, batch: int = 64) -> Report:
    """Check a dataset: plan, index and manifest (:func:`review`), store arrays, inputs.

    Every stored patch is read once. Input files are re-hashed (``check_inputs``); a
    changed or missing input is a note (the dataset itself is still intact).
    """
    ds = open_dataset(path, allow_incomplete=True)
    rep = Report()
    checked, files = file_findings(ds)
    rep.checked += checked
    try:  # a plan or index that cannot be read ends the checks that need them
        ds.plan, ds.index, ds.store  # noqa: B018 - loaded here to report damage as a finding
    except DamagedDatasetError as exc:
        rep.findings = ordered([*files, Finding("error", "dataset-damaged", str(exc))])
        return rep
    found = files + [
        f
        for f in review(ds.plan, ds.index, ds.manifest)
        if f.code not in ("input-missing", "input-changed")  # re-hashed below instead
    ]
    rep.checked.append(f"index: {len(ds.index)} rows, plan: {ds.plan.n_patches} patches")
    checked, store = store_findings(ds, batch=batch)
    rep.checked += checked
    found += store
    checked, columns = plan_column_findings(ds)
    rep.checked += checked
    found += columns
    checked, labels = region_label_findings(ds)
    rep.checked += checked
    found += labels
    if check_inputs:
        checked, inputs = checksum_findings(ds)
        rep.checked += checked
        found += inputs
    rep.findings = ordered(found)
    return rep


def validate_or_raise(path: str | Path) -> Report:
    """:func:`validate`, raising :class:`DatasetError` listing the problems if any."""
    rep = validate(path)
    if not rep.ok:
        raise DatasetError(f"{path}: dataset is invalid: " + "; ".join(rep.problems))
    return rep
