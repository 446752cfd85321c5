"""Zarr passes the writer contract."""

from __future__ import annotations

from geoharmony.writers.zarr_writer import ZarrWriter
from writers.contract import WriterContract


class TestZarrWriter(WriterContract):
    writer_cls = ZarrWriter
