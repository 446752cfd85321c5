"""``geoharmony validate``: re-read a dataset and check it against its plan and manifest.

Integrity (the store's arrays, every mask against the index's valid fractions, the input
checksums) is checked here, where pixels are read; everything else is
:func:`geoharmony.qa.checks.review`. Problems are :class:`~geoharmony.qa.checks.Finding`
values of severity ``error``; ``validate`` exits 1 when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geoharmony.errors import DatasetError
from geoharmony.io.manifest import sha256_file
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


def store_findings(ds: Dataset, *, batch: int = 64) -> tuple[list[str], list[Finding]]:
    """Every stored array has the plan's shape and dtype; every mask matches the index."""
    checked: list[str] = []
    out: list[Finding] = []
    n, idx, store = len(ds), ds.index, ds.store
    for name, o in ds.plan.outputs.items():
        for arr_name, shape, dtype in (
            (name, (o.bands, o.height, o.width), o.dtype),
            (f"{name}_mask", (o.height, o.width), "bool"),
        ):
            if arr_name not in store.names:
                out.append(Finding("error", "store-missing", f"store lacks array {arr_name!r}"))
                continue
            first = store.read(arr_name, slice(0, min(1, n)))
            if first.shape[1:] != shape or str(first.dtype) != dtype:
                out.append(
                    Finding(
                        "error",
                        "store-shape",
                        f"{arr_name}: stored shape/dtype {first.shape[1:]}/{first.dtype}, "
                        f"the plan says {shape}/{dtype}",
                    )
                )
        if f"{name}_mask" not in store.names:
            continue
        col = f"{name}_valid_fraction"
        vf = np.empty(n)
        for s in range(0, n, batch):
            mk = store.read(f"{name}_mask", slice(s, min(s + batch, n)))
            vf[s : s + len(mk)] = mk.reshape(len(mk), -1).mean(axis=1)
        if col in idx and not np.allclose(vf, idx[col].to_numpy(), atol=1e-6):
            bad = int(np.sum(~np.isclose(vf, idx[col].to_numpy(), atol=1e-6)))
            out.append(
                Finding(
                    "error",
                    "mask-index",
                    f"{name}: {bad} patch masks disagree with the index valid fraction",
                    {"output": name, "patches": bad},
                )
            )
        checked.append(f"{name}: {n} patches re-read, masks match the index")
    return checked, out


def checksum_findings(ds: Dataset) -> tuple[list[str], list[Finding]]:
    """Input rasters re-hashed against the manifest (a change is a note: the dataset stands)."""
    checked: list[str] = []
    out: list[Finding] = []
    seen: set[str] = set()
    for name, per in ds.manifest.get("inputs", {}).get("modalities", {}).items():
        for rec in per.values():
            p = Path(rec["path"])
            if str(p) in seen:
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
            elif sha256_file(p) != rec["sha256"]:
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
    ds = open_dataset(path)
    rep = Report()
    found = [
        f
        for f in review(ds.plan, ds.index, ds.manifest)
        if f.code not in ("input-missing", "input-changed")  # re-hashed below instead
    ]
    rep.checked.append(f"index: {len(ds.index)} rows, plan: {ds.plan.n_patches} patches")
    checked, store = store_findings(ds, batch=batch)
    rep.checked += checked
    found += store
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
