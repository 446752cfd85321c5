"""Public path of the PyTorch loader (``geoharmony.reading.torch``); needs the ``torch`` extra."""

from geoharmony.reading.torch import PatchDataset

__all__ = ["PatchDataset"]
