"""Geometric augmentations of a whole sample, consistent across modalities.

Each function flips or rotates every array of a sample (``(bands, h, w)`` data and
``(h, w)`` masks) together, and remaps D8 flow-direction codes so arrows still point
downhill. Which entries hold D8 codes is given by ``d8_keys`` (default: the names in
:data:`DEFAULT_D8_KEYS`; a dataset knows its own: ``Dataset.d8_outputs``).

Rotations and flips are only geometric truths for square patches whose pixels are square
on the ground; for ``native`` mode they apply per modality about each patch's centre.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from geoharmony.geometry.d8codes import D8_NEIGHBOURS, remap_d8

#: Names treated as D8 codes when no ``d8_keys`` are given.
DEFAULT_D8_KEYS = ("flowdir", "flow_direction", "d8")
_ORDER = tuple(code for _, _, code in D8_NEIGHBOURS)  # ESRI codes, clockwise from east
_FLIP_LR = {1: 16, 16: 1, 2: 8, 8: 2, 128: 32, 32: 128}
_FLIP_UD = {64: 4, 4: 64, 128: 2, 2: 128, 32: 8, 8: 32}


def _rot_map(k: int) -> dict[int, int]:
    # np.rot90 turns counter-clockwise: each direction moves 2 steps anticlockwise per turn.
    return {c: _ORDER[(i - 2 * k) % 8] for i, c in enumerate(_ORDER)}


def _apply(
    sample: Mapping[str, np.ndarray],
    op: object,
    mapping: dict[int, int],
    d8_keys: Iterable[str] | None,
) -> dict[str, np.ndarray]:
    keys = set(DEFAULT_D8_KEYS if d8_keys is None else d8_keys)
    out: dict[str, np.ndarray] = {}
    for name, arr in sample.items():
        a = np.asarray(arr)
        if a.ndim < 2:
            out[name] = a
            continue
        moved = np.ascontiguousarray(op(a))  # type: ignore[operator]
        out[name] = remap_d8(moved, mapping) if name in keys else moved
    return out


def flip_lr(
    sample: Mapping[str, np.ndarray], *, d8_keys: Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """Mirror left-right (east <-> west)."""
    return _apply(sample, lambda a: a[..., ::-1], _FLIP_LR, d8_keys)


def flip_ud(
    sample: Mapping[str, np.ndarray], *, d8_keys: Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """Mirror up-down (north <-> south)."""
    return _apply(sample, lambda a: a[..., ::-1, :], _FLIP_UD, d8_keys)


def rot90(
    sample: Mapping[str, np.ndarray], k: int = 1, *, d8_keys: Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """Rotate by ``k`` quarter turns counter-clockwise (as :func:`numpy.rot90`)."""
    k %= 4
    return _apply(sample, lambda a: np.rot90(a, k, axes=(-2, -1)), _rot_map(k), d8_keys)
