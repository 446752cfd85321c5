"""D8 flow-direction codes: the one vocabulary shared by planning, labels and augmentation.

ESRI codes: 1 = east, then clockwise: 2 SE, 4 S, 8 SW, 16 W, 32 NW, 64 N, 128 NE
(row 0 is north in every stored patch); 0 = undefined.
"""

from __future__ import annotations

import numpy as np

D8_CODES = {
    "east": 1,
    "southeast": 2,
    "south": 4,
    "southwest": 8,
    "west": 16,
    "northwest": 32,
    "north": 64,
    "northeast": 128,
}
# (drow, dcol, code) in ESRI order
D8_NEIGHBOURS = (
    (0, 1, 1),
    (1, 1, 2),
    (1, 0, 4),
    (1, -1, 8),
    (0, -1, 16),
    (-1, -1, 32),
    (-1, 0, 64),
    (-1, 1, 128),
)


def remap_d8(codes: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """Apply a code permutation (used by augmentations that flip or rotate)."""
    lut = np.arange(256, dtype=np.uint8)
    for a, b in mapping.items():
        lut[a] = b
    return lut[codes]
