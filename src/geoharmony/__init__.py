"""geoharmony: aligned multi-resolution patch datasets from a boundary and co-located rasters.

>>> import geoharmony as gh
>>> cfg = gh.load_config("pipeline.toml")   # doctest: +SKIP
>>> centers = gh.plan(cfg)                  # doctest: +SKIP
>>> gh.extract(cfg)                         # doctest: +SKIP
>>> ds = gh.open_dataset("out/pine_lake")   # doctest: +SKIP
"""

from geoharmony.errors import ConfigError, GeoharmonyError
from geoharmony.execution.extract import extract
from geoharmony.planning.config import Config, load_config
from geoharmony.planning.frame import plan
from geoharmony.reading.dataset import Dataset, open_dataset

__version__ = "0.1.0"
__all__ = [
    "Config",
    "ConfigError",
    "Dataset",
    "GeoharmonyError",
    "extract",
    "load_config",
    "open_dataset",
    "plan",
]
