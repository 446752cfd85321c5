"""``[grid].min_valid_fraction``: drop patches with too little data before writing.

The one plan decision that needs pixels: the validity masks (nodata, NaN, internal
masks, off-raster) of the named modalities' windows (default: the reference) are read
once, and patches whose valid fraction is below the threshold in any of them are not
planned. In ``resample`` mode the fraction is that of the source window read for the
warp. Data values are read but not kept.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from geoharmony.io.raster_info import RasterInfo
from geoharmony.io.reader import RasterReader

#: Patches read per batch (bounds memory).
BATCH = 256


def valid_fractions(
    table: pd.DataFrame, sources: Mapping[str, Mapping[str, RasterInfo]], name: str
) -> np.ndarray:
    """Valid fraction of modality ``name``'s window of every row."""
    out = np.zeros(len(table))
    regions = table["region"].to_numpy()
    readers: dict[str, RasterReader] = {}
    try:
        for rid in pd.unique(regions):
            pos = np.flatnonzero(regions == rid)
            info = sources[str(rid)][name]
            if info.missing:  # on_missing = "masked": no file, every pixel masked
                continue
            key = str(info.path)
            reader = readers.get(key) or readers.setdefault(key, RasterReader(info))
            sub = table.iloc[pos]
            c0 = sub[f"{name}_col_off"].to_numpy()
            r0 = sub[f"{name}_row_off"].to_numpy()
            w = sub[f"{name}_width"].to_numpy()
            h = sub[f"{name}_height"].to_numpy()
            for s in range(0, len(pos), BATCH):
                sl = slice(s, s + BATCH)
                blocks = reader.read_group(c0[sl], r0[sl], w[sl], h[sl])
                out[pos[sl]] = [b.valid.mean() for b in blocks]
    finally:
        for r in readers.values():
            r.close()
    return out


def keep_valid(
    table: pd.DataFrame,
    sources: Mapping[str, Mapping[str, RasterInfo]],
    names: list[str],
    threshold: float,
) -> tuple[np.ndarray, dict[str, int]]:
    """Rows whose valid fraction reaches ``threshold`` in every one of ``names``."""
    keep = np.ones(len(table), dtype=bool)
    dropped: dict[str, int] = {}
    for name in names:
        ok = valid_fractions(table, sources, name) >= threshold - 1e-12
        dropped[name] = int(np.sum(keep & ~ok))
        keep &= ok
    return keep, dropped
