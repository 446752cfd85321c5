"""QA figures: pyplot-free matplotlib (safe under Agg), each function returns a Figure.

Every function takes a configuration (file or Config: the plan, before extraction) or a
dataset (folder or Dataset); see :func:`~geoharmony.viz.source.load_source`.

>>> from geoharmony.viz import plot_footprints, save_figure      # doctest: +SKIP
>>> save_figure(plot_footprints("out/pine_lake", patch=0), "fp.png")  # doctest: +SKIP

=====================  ===============================================================
``plot_study_area``    boundary, buffered boundary, bounding box over a hillshade
``plot_centers``       all lattice centres vs kept centres over the reference raster
``plot_footprints``    one patch's ground footprint per modality (local metric CRS)
``plot_grid``          all patch footprints of one modality, in that raster's CRS
``plot_patch``         one patch, every output: real extent, pixels, common extent
``plot_valid_fractions`` / ``plot_offsets``   dataset-wide histograms
=====================  ===============================================================
"""

from geoharmony.viz.centers import plot_centers
from geoharmony.viz.figures import sample_patches, save_figure
from geoharmony.viz.footprints import plot_footprints
from geoharmony.viz.grid import plot_grid
from geoharmony.viz.patch import plot_patch
from geoharmony.viz.source import Source, load_source
from geoharmony.viz.stats import plot_offsets, plot_valid_fractions
from geoharmony.viz.study_area import plot_study_area

__all__ = [
    "Source",
    "load_source",
    "plot_centers",
    "plot_footprints",
    "plot_grid",
    "plot_offsets",
    "plot_patch",
    "plot_study_area",
    "plot_valid_fractions",
    "sample_patches",
    "save_figure",
]
