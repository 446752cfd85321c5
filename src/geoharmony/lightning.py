"""Public path of the Lightning data module (``geoharmony.reading.lightning``).

Needs the ``lightning`` extra: ``pip install geoharmony[lightning]``.
"""

from geoharmony.reading.lightning import PatchDataModule

__all__ = ["PatchDataModule"]
