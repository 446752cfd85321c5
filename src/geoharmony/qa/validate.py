"""``geoharmony validate``: re-read a dataset and check it against what was recorded.

Checks, each problem reported with the file, the array and the patch range it affects:

* every store file's sha256 against the one recorded at write time (``manifest.json``
  ``checksums``: shards hashed by the task that wrote them), missing, truncated, swapped
  or unexpected files included; ``index.parquet`` likewise;
* every patch of every array re-read and decoded (shape and dtype as the manifest says);
* the index against the store (rows, ``patch_index``, unique ids, masks vs valid
  fractions) and against the plan recomputed from the configuration (ids, coordinates,
  windows, splits), when the configuration file and inputs are still there;
* input files' checksums (a changed input is a note: the dataset itself is intact).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geoharmony.errors import DatasetError, GeoharmonyError
from geoharmony.execution.checksums import store_files
from geoharmony.io.hashes import CachedHasher, sha256_file
from geoharmony.io.manifest import INDEX
from geoharmony.reading.dataset import Dataset, open_dataset

#: Index columns compared with the recomputed plan (plus every ``<modality>_*_off``).
PLAN_COLUMNS = ("patch_id", "region", "lattice_i", "lattice_j", "lon", "lat", "split")


@dataclass
class Report:
    """Findings of :func:`validate`: ``problems`` make a dataset invalid, ``notes`` don't."""

    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
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


def _check_files(ds: Dataset, rep: Report) -> None:
    m, n = ds.manifest, len(ds)
    recorded: dict[str, str] | None = m.get("checksums")
    if recorded is None:
        rep.notes.append("manifest records no file checksums (written by an older version)")
        return
    store_name = m["store"]["path"]
    present = set(store_files(ds.root, store_name))
    for rel, digest in sorted(recorded.items()):
        path = ds.root / rel
        scope = _file_scope(rel, m, n) if rel != INDEX else "the patch index"
        if not path.is_file():
            rep.problems.append(f"{path}: file missing ({scope})")
        elif sha256_file(path) != digest:
            rep.problems.append(
                f"{path}: sha256 differs from the one recorded at write time ({scope})"
            )
    for rel in sorted(present - set(recorded)):
        rep.problems.append(
            f"{ds.root / rel}: unexpected file in the store ({_file_scope(rel, m, n)})"
        )
    rep.checked.append(f"files: {len(recorded)} checksums verified")


def _check_arrays(ds: Dataset, rep: Report, batch: int) -> dict[str, np.ndarray]:
    """Re-read every patch of every array; return each output's mask valid fractions."""
    m, n, store = ds.manifest, len(ds), ds.store
    fractions: dict[str, np.ndarray] = {}
    for name, o in m["outputs"].items():
        for arr_name, shape, dtype in (
            (name, tuple(o["shape"]), o["dtype"]),
            (f"{name}_mask", tuple(o["shape"][1:]), "bool"),
        ):
            if arr_name not in store.names:
                rep.problems.append(f"{store.path}: the store lacks array {arr_name!r}")
                continue
            vf = np.full(n, np.nan)
            bad: list[np.ndarray] = []
            for s in range(0, n, batch):
                e = min(s + batch, n)
                try:
                    a = store.read(arr_name, slice(s, e))
                except Exception as exc:  # any decode failure is a finding, not a crash
                    # narrow it down patch by patch
                    for i in range(s, e):
                        try:
                            store.read(arr_name, i)
                        except Exception:
                            bad.append(np.array([i]))
                    if not bad:
                        rep.problems.append(
                            f"{store.path}: array {arr_name}, patches {s}-{e - 1} cannot be "
                            f"read ({type(exc).__name__}: {exc})"
                        )
                    continue
                if a.shape[1:] != shape or str(a.dtype) != dtype:
                    rep.problems.append(
                        f"{store.path}: array {arr_name}, patches {s}-{e - 1}: shape/dtype "
                        f"{a.shape[1:]}/{a.dtype}, the manifest says {shape}/{dtype}"
                    )
                    continue
                if arr_name.endswith("_mask"):
                    vf[s:e] = a.reshape(len(a), -1).mean(axis=1)
            if bad:
                rep.problems.append(
                    f"{store.path}: array {arr_name}, patches {_ranges(np.concatenate(bad))} "
                    "cannot be read (corrupt or missing data)"
                )
            if arr_name.endswith("_mask"):
                fractions[name] = vf
        rep.checked.append(f"{name}: {n} patches re-read")
    return fractions


def _check_index(ds: Dataset, rep: Report, fractions: dict[str, np.ndarray]) -> Any:
    n = len(ds)
    try:
        idx = ds.index
    except Exception as exc:
        rep.problems.append(f"{ds.root / INDEX}: cannot be read ({type(exc).__name__}: {exc})")
        return None
    if len(idx) != n:
        rep.problems.append(f"{ds.root / INDEX}: {len(idx)} rows, the manifest says {n} patches")
        return None
    if "patch_index" in idx and not np.array_equal(idx["patch_index"].to_numpy(), np.arange(n)):
        wrong = np.flatnonzero(idx["patch_index"].to_numpy() != np.arange(n))
        rep.problems.append(
            f"{ds.root / INDEX}: column patch_index is not the row number at patches "
            f"{_ranges(wrong)}"
        )
    if "patch_id" in idx and idx["patch_id"].duplicated().any():
        dup = np.flatnonzero(idx["patch_id"].duplicated(keep=False).to_numpy())
        rep.problems.append(f"{ds.root / INDEX}: duplicate patch_id at patches {_ranges(dup)}")
    for name, vf in fractions.items():
        col = f"{name}_valid_fraction"
        if col not in idx:
            rep.problems.append(f"{ds.root / INDEX}: column {col} is missing")
            continue
        ok = np.isfinite(vf)
        diff = ok & ~np.isclose(vf, idx[col].to_numpy(dtype=float), atol=1e-6)
        if diff.any():
            rep.problems.append(
                f"{ds.root / INDEX}: column {col} disagrees with the stored {name}_mask at "
                f"patches {_ranges(np.flatnonzero(diff))}"
            )
    rep.checked.append(f"index: {len(idx)} rows against the store")
    return idx


def _check_plan(ds: Dataset, rep: Report, idx: Any) -> None:
    """Compare the index with the plan recomputed from the configuration file."""
    from geoharmony.planning.config import load_config
    from geoharmony.planning.plan import compute_plan

    m = ds.manifest
    src = Path(m.get("config_file", ""))
    try:
        plan = compute_plan(load_config(src))
    except (GeoharmonyError, OSError) as exc:
        rep.notes.append(f"plan not recomputed ({src}: {exc})")
        return
    if plan.fingerprint() != m.get("fingerprint"):
        rep.notes.append(
            f"plan not compared: {src} or its inputs changed since extraction (fingerprint)"
        )
        return
    table = plan.table
    if len(table) != len(idx):
        rep.problems.append(
            f"{ds.root / INDEX}: {len(idx)} rows, the plan has {len(table)} patches"
        )
        return
    cols = [c for c in PLAN_COLUMNS if c in table] + [
        c for c in table.columns if c.endswith(("_col_off", "_row_off", "_width", "_height"))
    ]
    for col in cols:
        if col not in idx:
            rep.problems.append(f"{ds.root / INDEX}: column {col} is missing")
            continue
        a, b = idx[col].to_numpy(), table[col].to_numpy()
        if a.dtype.kind == "f" or b.dtype.kind == "f":
            diff = ~np.isclose(a.astype(float), b.astype(float), rtol=0, atol=1e-9)
        else:
            diff = a.astype(str) != b.astype(str)
        if diff.any():
            rep.problems.append(
                f"{ds.root / INDEX}: column {col} differs from the plan at patches "
                f"{_ranges(np.flatnonzero(diff))}"
            )
    rep.checked.append(f"index: {len(cols)} columns against the recomputed plan")


def validate(path: str | Path, *, check_inputs: bool = True, batch: int = 64) -> Report:
    """Check a dataset (see the module docstring). Every stored patch is read once."""
    ds = open_dataset(path)
    rep = Report()
    m = ds.manifest
    if not m.get("complete"):
        rep.problems.append(f"{ds.root}: the manifest does not mark the dataset complete")
    _check_files(ds, rep)
    fractions = _check_arrays(ds, rep, batch)
    idx = _check_index(ds, rep, fractions)
    if idx is not None:
        _check_plan(ds, rep, idx)
    if check_inputs:
        sha = CachedHasher()
        seen: set[str] = set()
        for name, per in m["inputs"]["modalities"].items():
            for rec in per.values():
                p = Path(rec["path"])
                if str(p) in seen:
                    continue
                seen.add(str(p))
                if not p.exists():
                    rep.notes.append(f"input {name}: {p} is missing (cannot re-check its checksum)")
                elif sha(p) != rec["sha256"]:
                    rep.notes.append(f"input {name}: {p} changed since extraction (sha256 differs)")
                else:
                    rep.checked.append(f"input {name}: {p.name} sha256 matches")
        sha.save()
    return rep


def validate_or_raise(path: str | Path) -> Report:
    """:func:`validate`, raising :class:`DatasetError` listing the problems if any."""
    rep = validate(path)
    if not rep.ok:
        raise DatasetError(f"{path}: dataset is invalid: " + "; ".join(rep.problems))
    return rep
