"""Labels: vector layers burned per patch and D8 flow direction from a DEM."""

from geoharmony.geometry.d8codes import D8_CODES, D8_NEIGHBOURS, remap_d8
from geoharmony.labels.d8 import d8_flow_direction
from geoharmony.labels.vector import VectorLayer, burn, load_vector_layers

__all__ = [
    "D8_CODES",
    "D8_NEIGHBOURS",
    "VectorLayer",
    "burn",
    "d8_flow_direction",
    "load_vector_layers",
    "remap_d8",
]
