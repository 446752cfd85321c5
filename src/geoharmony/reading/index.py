"""Reading only the index columns a loader needs (pyarrow, no footprint geometries)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from geoharmony.errors import DatasetError
from geoharmony.io.manifest import INDEX


def read_columns(root: Path, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """Columns of ``index.parquet`` as numpy arrays (absent ones are omitted).

    The index holds every patch's footprint polygons; a loader needs only a few plain
    columns (split, region), so it reads those alone instead of the GeoDataFrame.

    Raises
    ------
    DatasetError
        If the dataset has no index.
    """
    path = Path(root) / INDEX
    if not path.is_file():
        raise DatasetError(f"{root}: no {INDEX}; is this a complete geoharmony dataset?")
    present = set(pq.read_schema(path).names)
    table = pq.read_table(path, columns=[c for c in columns if c in present])
    return {c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names}


def split_positions(
    root: Path, cols: dict[str, np.ndarray], split: str | None, n: int
) -> np.ndarray:
    """Store positions of a split (all positions for None).

    Raises
    ------
    geoharmony.errors.ConfigError
        If the split has no patches.
    """
    from geoharmony.errors import ConfigError

    if split is None:
        return np.arange(n)
    splits = cols.get("split", np.full(n, "all", dtype=object))
    present = sorted({str(s) for s in splits})
    if split not in present:
        raise ConfigError(f"{root}: split {split!r} has no patches; present: {present}")
    return np.flatnonzero(splits == split)
