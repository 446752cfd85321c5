"""Public path of the sample augmentations (``geoharmony.reading.augment``)."""

from geoharmony.reading.augment import DEFAULT_D8_KEYS, flip_lr, flip_ud, rot90

__all__ = ["DEFAULT_D8_KEYS", "flip_lr", "flip_ud", "rot90"]
