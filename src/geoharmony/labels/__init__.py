"""Labels: vector layers burned per patch; conditioned D8, accumulation and streams per region."""

from geoharmony.geometry.d8codes import D8_CODES, D8_NEIGHBOURS, remap_d8
from geoharmony.labels.d8 import d8_flow_direction
from geoharmony.labels.hydro import conditioned_d8, d8_qa, fill_depressions, flow_accumulation
from geoharmony.labels.vector import (
    VectorLayer,
    burn,
    coverage_geometry,
    coverage_mask,
    load_vector_layers,
)

__all__ = [
    "D8_CODES",
    "D8_NEIGHBOURS",
    "VectorLayer",
    "burn",
    "conditioned_d8",
    "coverage_geometry",
    "coverage_mask",
    "d8_flow_direction",
    "d8_qa",
    "fill_depressions",
    "flow_accumulation",
    "load_vector_layers",
    "remap_d8",
]
