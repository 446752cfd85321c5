"""``geoharmony validate``: re-read a dataset and check it against its manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geoharmony.errors import DatasetError
from geoharmony.io.manifest import sha256_file
from geoharmony.planning.ownership import duplicates_line
from geoharmony.reading.dataset import open_dataset


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


def validate(path: str | Path, *, check_inputs: bool = True, batch: int = 64) -> Report:
    """Check a dataset: manifest, store arrays, index, masks vs valid fractions, inputs.

    Every stored patch is read once. Input files are re-hashed (``check_inputs``) and a
    changed or missing input is reported as a note (the dataset itself is still intact).
    """
    ds = open_dataset(path)
    rep = Report()
    m = ds.manifest
    n = len(ds)
    if not m.get("complete"):
        rep.problems.append("manifest does not mark the dataset complete")
    idx = ds.index
    if len(idx) != n:
        rep.problems.append(f"index has {len(idx)} rows, manifest says {n} patches")
    if not np.array_equal(idx["patch_index"].to_numpy(), np.arange(len(idx))):
        rep.problems.append("index patch_index is not 0..n-1 in order")
    if idx["patch_id"].duplicated().any():
        rep.problems.append("index has duplicate patch_id values")
    ok, dup = duplicates_line(idx)
    (rep.checked if ok else rep.problems).append(f"index: {dup}")
    rep.checked.append(f"index: {len(idx)} rows")
    store = ds.store
    for name, o in m["outputs"].items():
        for arr_name, shape, dtype in (
            (name, tuple(o["shape"]), o["dtype"]),
            (f"{name}_mask", tuple(o["shape"][1:]), "bool"),
        ):
            if arr_name not in store.names:
                rep.problems.append(f"store lacks array {arr_name!r}")
                continue
            first = store.read(arr_name, slice(0, min(1, n)))
            if first.shape[1:] != shape or str(first.dtype) != dtype:
                rep.problems.append(
                    f"{arr_name}: stored shape/dtype {first.shape[1:]}/{first.dtype}, "
                    f"manifest says {shape}/{dtype}"
                )
        col = f"{name}_valid_fraction"
        vf = np.empty(n)
        for s in range(0, n, batch):
            mk = store.read(f"{name}_mask", slice(s, min(s + batch, n)))
            vf[s : s + len(mk)] = mk.reshape(len(mk), -1).mean(axis=1)
        if col in idx and not np.allclose(vf, idx[col].to_numpy(), atol=1e-6):
            bad = int(np.sum(~np.isclose(vf, idx[col].to_numpy(), atol=1e-6)))
            rep.problems.append(f"{name}: {bad} patch masks disagree with the index valid fraction")
        rep.checked.append(f"{name}: {n} patches re-read, masks match the index")
    if check_inputs:
        seen: set[str] = set()
        for name, per in m["inputs"]["modalities"].items():
            for rec in per.values():
                # every file of the source (sidecars too) when the manifest lists them
                for f in rec.get("files") or [rec]:
                    p = Path(f["path"])
                    if str(p) in seen or "sha256" not in f:
                        continue
                    seen.add(str(p))
                    if not p.exists():
                        rep.notes.append(
                            f"input {name}: {p} is missing (cannot re-check its checksum)"
                        )
                    elif sha256_file(p) != f["sha256"]:
                        rep.notes.append(
                            f"input {name}: {p} changed since extraction (sha256 differs)"
                        )
                    else:
                        rep.checked.append(f"input {name}: {p.name} sha256 matches")
    return rep


def validate_or_raise(path: str | Path) -> Report:
    """:func:`validate`, raising :class:`DatasetError` listing the problems if any."""
    rep = validate(path)
    if not rep.ok:
        raise DatasetError(f"{path}: dataset is invalid: " + "; ".join(rep.problems))
    return rep
