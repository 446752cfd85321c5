"""Content digest of a dataset: every array of every patch, the index and the statistics.

Two datasets with the same digest hold the same patches, index rows and statistics;
timestamps and paths (which differ between runs) are left out.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

import geoharmony as gh


def dataset_digest(path: Path) -> str:
    """Hex sha256 over arrays, index and per-split statistics of a dataset."""
    ds = gh.open_dataset(path)
    h = hashlib.sha256()
    store = ds.store
    for name in sorted(store.names):
        arr = np.ascontiguousarray(store.read(name, slice(0, len(ds))))
        h.update(name.encode())
        h.update(str(arr.dtype).encode() + str(arr.shape).encode())
        h.update(arr.tobytes())
    idx = ds.index
    for col in sorted(idx.columns):
        vals = idx[col]
        if col == "geometry" or str(vals.dtype) == "geometry":
            data = b"".join(g.wkb for g in vals)
        else:
            data = vals.to_numpy().astype(str).tobytes()
        h.update(col.encode())
        h.update(data)
    h.update(json.dumps(ds.manifest["stats"], sort_keys=True).encode())
    h.update(str(ds.manifest["fingerprint"]).encode())
    return h.hexdigest()
