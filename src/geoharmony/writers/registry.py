"""Find writers by format name: built-ins plus ``geoharmony.writers`` entry points."""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import entry_points

from geoharmony.errors import ConfigError
from geoharmony.writers.base import PatchWriter

_BUILTIN = {
    "zarr": "geoharmony.writers.zarr_writer:ZarrWriter",
    "hdf5": "geoharmony.writers.hdf5_writer:HDF5Writer",
    "webdataset": "geoharmony.writers.webdataset_writer:WebDatasetWriter",
    "tfrecord": "geoharmony.writers.tfrecord_writer:TFRecordWriter",
    "geotiff": "geoharmony.writers.geotiff_writer:GeoTIFFWriter",
    "npz": "geoharmony.writers.npz_writer:NpzWriter",
}


@functools.cache
def _targets() -> dict[str, str]:
    # Cached: scanning the installed distributions' entry points costs ~15 ms per call.
    found = dict(_BUILTIN)
    for ep in entry_points(group="geoharmony.writers"):
        found.setdefault(ep.name, ep.value)
    return found


def available_formats() -> list[str]:
    """Format names a writer is registered for."""
    return sorted(_targets())


def get_writer(fmt: str) -> type[PatchWriter]:
    """The writer class of a format.

    Raises
    ------
    ConfigError
        If no writer is registered for ``fmt``.
    """
    targets = _targets()
    if fmt not in targets:
        raise ConfigError(
            f"[output].format = {fmt!r} has no writer installed; available: "
            f"{', '.join(sorted(targets))}"
        )
    module, _, attr = targets[fmt].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, PatchWriter)):
        raise ConfigError(f"writer {targets[fmt]!r} for format {fmt!r} is not a PatchWriter")
    return cls
