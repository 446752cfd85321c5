"""Public path of the sample augmentations (``geoharmony.reading.augment``)."""

from geoharmony.reading.augment import RandomFlipRotate, d8_encodings, flip_lr, flip_ud, rot90

__all__ = ["RandomFlipRotate", "d8_encodings", "flip_lr", "flip_ud", "rot90"]
