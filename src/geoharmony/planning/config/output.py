"""``[output]``: where and how the dataset is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoharmony.planning.config._reader import TableReader
from geoharmony.planning.config.npz import NpzOptions, parse_npz

FORMATS = ("zarr", "hdf5", "webdataset", "tfrecord", "geotiff", "npz")
#: A task holds at least one shard of patches in memory: keep it bounded.
MAX_PATCHES_PER_SHARD = 4096


@dataclass(frozen=True, slots=True)
class OutputConfig:
    """``[output]``: where and how the dataset is written."""

    path: Path
    format: str = "zarr"
    compression: str = "lz4"
    patches_per_shard: int = 16
    #: ``[output.npz]`` (``format = "npz"`` only; defaults when the table is absent).
    npz: NpzOptions | None = None


def parse_output(source: Path, base: Path, table: Any) -> OutputConfig:
    """Validate the ``[output]`` table."""
    o = TableReader(
        source, "output", table, ("path", "format", "compression", "patches_per_shard", "npz")
    )
    fmt = o.choice("format", FORMATS, "zarr")
    npz = None
    if "npz" in o.data and fmt != "npz":
        o.fail("npz", f'applies only to format = "npz", found format = {fmt!r}; remove the table')
    if fmt == "npz":
        npz = parse_npz(source, o.data["npz"]) if "npz" in o.data else NpzOptions()
    return OutputConfig(
        path=o.path("path", base),  # type: ignore[arg-type]
        format=fmt,
        compression=o.choice("compression", ("lz4", "zstd", "none"), "lz4"),
        patches_per_shard=o.positive_int("patches_per_shard", 16, maximum=MAX_PATCHES_PER_SHARD),
        npz=npz,
    )
