"""Exceptions and warnings.

Every error caused by user input derives from :class:`GeoharmonyError` and from the
matching builtin, so callers can catch either. The CLI maps ``GeoharmonyError`` to exit
code 2 and prints its message, which always names *where* (file, config key, modality),
*what rule* was broken, *what was found* and, when there is one, *the fix*.
"""

from __future__ import annotations


class GeoharmonyError(Exception):
    """Root of all geoharmony errors caused by bad input or configuration."""


class ConfigError(GeoharmonyError, ValueError):
    """The configuration file is invalid (unknown key, wrong type, impossible value)."""


class InputError(GeoharmonyError, OSError):
    """An input file is missing, unreadable or lacks what geoharmony needs (e.g. a CRS)."""


class CRSMismatchError(GeoharmonyError, ValueError):
    """Geometries or grids in different CRSs were combined without a transformation."""


class FootprintError(ConfigError):
    """``footprint`` mode would need a non-whole number of pixels for some modality."""


class DatasetError(GeoharmonyError, ValueError):
    """A written dataset is missing, incomplete or inconsistent with its manifest."""


class DamagedDatasetError(DatasetError):
    """A dataset folder's manifest, plan or index exists but cannot be read."""


class OutputExistsError(GeoharmonyError, FileExistsError):
    """The output folder exists and holds a different, complete dataset."""


class GeoharmonyWarning(UserWarning):
    """Base class of geoharmony warnings."""


class GeometryRepairedWarning(GeoharmonyWarning):
    """An invalid boundary geometry was repaired with ``shapely.make_valid``."""


class CoverageWarning(GeoharmonyWarning):
    """A modality's raster does not reach a region at all: its patches there are all invalid."""


class TransformWarning(GeoharmonyWarning):
    """A CRS transformation's accuracy is unknown or worse than a quarter of a pixel."""


class OutputLockedError(GeoharmonyError, BlockingIOError):
    """Another ``extract`` run holds the output's lock."""


class ExtractInterrupted(KeyboardInterrupt):
    """An extraction was interrupted (Ctrl-C, SIGTERM); the message says what was kept."""


class DiskFullError(GeoharmonyError, OSError):
    """The disk filled up while writing; what was written is kept for a resumed run."""
