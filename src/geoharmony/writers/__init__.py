"""Patch store writers: one interface (:class:`PatchWriter`), one module per format."""

from geoharmony.writers.base import ArraySpec, Georef, PatchLayout, PatchStore, PatchWriter
from geoharmony.writers.registry import available_formats, get_writer

__all__ = [
    "ArraySpec",
    "Georef",
    "PatchLayout",
    "PatchStore",
    "PatchWriter",
    "available_formats",
    "get_writer",
]
