"""Seeded synthesiser of a realistic multi-sensor study area (the public entry points).

:func:`synthesize_study_area` writes a DEM, SAR, Landsat-like optical and thermal rasters,
a boundary, streams, lakes and a ``pipeline.toml`` (see :mod:`geoharmony.demo.scene`);
one module per thing it makes:

==================  =====================================================================
``layout``          file names, CRSs, resolutions, nodata, the scene's grids, RNG streams
``fields``          random fields (fBm by spectral synthesis, blobs, upsampling)
``terrain``         relief, streams carved into valleys, lakes, boundary, DEM voids
``landcover``       PLSS fields, roads, towns, riparian forest, water (internal, 10 m)
``landsat``         6-band optical reflectance and thermal LST at 30 m
``sar``             C-band VV backscatter on the Albers grid (terrain, speckle)
``vectors``         boundary, streams and lakes as GeoJSON
``scene``           the whole scene in order, the rasters' files, ``pipeline.toml``
==================  =====================================================================
"""

from geoharmony.demo.layout import (
    BOUNDARY_NAME,
    CONFIG_NAME,
    DEM_NAME,
    OPTICAL_NAME,
    SAR_NAME,
    STREAMS_NAME,
    THERMAL_NAME,
    WATERBODIES_NAME,
)
from geoharmony.demo.scene import synthesize_study_area, write_config

__all__ = [
    "BOUNDARY_NAME",
    "CONFIG_NAME",
    "DEM_NAME",
    "OPTICAL_NAME",
    "SAR_NAME",
    "STREAMS_NAME",
    "THERMAL_NAME",
    "WATERBODIES_NAME",
    "synthesize_study_area",
    "write_config",
]
