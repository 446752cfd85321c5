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


# -- encodings ---------------------------------------------------------------------------
#: Direction names in ESRI order (code 2**k is ``DIRECTIONS[k]``).
DIRECTIONS = ("E", "SE", "S", "SW", "W", "NW", "N", "NE")
#: Published flow-direction vocabularies: value of each direction (``DIRECTIONS`` order).
CODE_SYSTEMS: dict[str, tuple[int, ...]] = {
    "esri": (1, 2, 4, 8, 16, 32, 64, 128),  # ArcGIS, NHDPlus (HR) FDR, pysheds
    "whitebox": (2, 4, 8, 16, 32, 64, 128, 1),  # WhiteboxTools D8Pointer (NE = 1)
    "taudem": (1, 8, 7, 6, 5, 4, 3, 2),  # TauDEM D8FlowDir (E = 1, counter-clockwise)
    "grass": (8, 7, 6, 5, 4, 3, 2, 1),  # GRASS r.watershed (NE = 1, counter-clockwise)
    "class": (0, 1, 2, 3, 4, 5, 6, 7),  # geoharmony's class indices
}
ENCODINGS = ("esri", "class")
#: Value of a class-encoded D8 label where no direction exists (ignore index).
CLASS_IGNORE = 255


def to_esri(values: np.ndarray, system: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert a flow-direction raster of a published vocabulary to ESRI codes.

    Returns ``(codes uint8, known)``: values outside the vocabulary become 0 (not known).
    """
    if system not in CODE_SYSTEMS:
        raise ValueError(f"codes must be one of {sorted(CODE_SYSTEMS)}, found {system!r}")
    v = np.asarray(values)
    out = np.zeros(v.shape, dtype=np.uint8)
    known = np.zeros(v.shape, dtype=bool)
    for k, val in enumerate(CODE_SYSTEMS[system]):
        hit = v == val
        out[hit] = np.uint8(1 << k)
        known |= hit
    return out, known


def encode(codes: np.ndarray, encoding: str) -> np.ndarray:
    """ESRI codes to the stored encoding: ``"esri"`` as is; ``"class"`` 0..7, 255 undefined."""
    if encoding == "esri":
        return np.asarray(codes, dtype=np.uint8)
    if encoding != "class":
        raise ValueError(f"encoding must be one of {ENCODINGS}, found {encoding!r}")
    lut = np.full(256, CLASS_IGNORE, dtype=np.uint8)
    for k in range(8):
        lut[1 << k] = k
    return lut[np.asarray(codes, dtype=np.uint8)]


def decode(stored: np.ndarray, encoding: str) -> np.ndarray:
    """Stored D8 values back to ESRI codes (0 where undefined)."""
    if encoding == "esri":
        return np.asarray(stored, dtype=np.uint8)
    if encoding != "class":
        raise ValueError(f"encoding must be one of {ENCODINGS}, found {encoding!r}")
    lut = np.zeros(256, dtype=np.uint8)
    for k in range(8):
        lut[k] = 1 << k
    return lut[np.asarray(stored, dtype=np.uint8)]


def code_map(encoding: str) -> dict[str, int]:
    """Direction name -> stored value, plus the value of 'undefined' (for the manifest)."""
    names = ("east", "southeast", "south", "southwest", "west", "northwest", "north", "northeast")
    if encoding == "esri":
        return {**{n: 1 << k for k, n in enumerate(names)}, "undefined": 0}
    return {**{n: k for k, n in enumerate(names)}, "undefined": CLASS_IGNORE}
