"""Geometric augmentations of a whole sample, consistent across modalities.

Each function flips or rotates every array of a sample (``(bands, h, w)`` data and
``(h, w)`` masks) together, and remaps D8 flow-direction codes so arrows still point
downhill. Which entries hold D8 codes, and in which encoding (``"esri"`` 1..128 or
``"class"`` 0..7), comes from the dataset's manifest: pass ``d8=ds.d8_encodings`` (or use
:class:`RandomFlipRotate.for_dataset`); nothing is guessed from names. A sequence of
names means ESRI codes.

Rotations and flips are only geometric truths for square patches whose pixels are square
on the ground. On a geographic raster (e.g. 8.3 m x 10.3 m pixels at 36° N) a flip stays
exact, but an odd quarter turn swaps the pixel's width and height: the remapped D8 codes
still point to the same neighbour cells, yet the rotated DEM no longer has the slopes the
codes were computed from, so a steepest-descent check on the rotated sample may differ
where two directions were nearly tied. Use ``rotations = (0, 2)`` there if that matters.
For ``native`` mode the operations apply per modality about each patch's centre.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from geoharmony.geometry.d8codes import D8_NEIGHBOURS, remap_d8

_ORDER = tuple(code for _, _, code in D8_NEIGHBOURS)  # ESRI codes, clockwise from east
_FLIP_LR = {1: 16, 16: 1, 2: 8, 8: 2, 128: 32, 32: 128}
_FLIP_UD = {64: 4, 4: 64, 128: 2, 2: 128, 32: 8, 8: 32}

D8Spec = Mapping[str, str] | Iterable[str] | None


def _rot_map(k: int) -> dict[int, int]:
    # np.rot90 turns counter-clockwise: each direction moves 2 steps anticlockwise per turn.
    return {c: _ORDER[(i - 2 * k) % 8] for i, c in enumerate(_ORDER)}


def _as_class(mapping: dict[int, int]) -> dict[int, int]:
    """An ESRI code permutation as a permutation of class indices (code = 2**class)."""
    return {int(a).bit_length() - 1: int(b).bit_length() - 1 for a, b in mapping.items()}


def _encodings(d8: D8Spec) -> dict[str, str]:
    if d8 is None:
        return {}
    if isinstance(d8, Mapping):
        return {str(k): str(v) for k, v in d8.items()}
    return dict.fromkeys(map(str, d8), "esri")


def _apply(
    sample: Mapping[str, np.ndarray], op: object, mapping: dict[int, int], d8: D8Spec
) -> dict[str, np.ndarray]:
    enc = _encodings(d8)
    out: dict[str, np.ndarray] = {}
    for name, arr in sample.items():
        a = np.asarray(arr)
        if a.ndim < 2:
            out[name] = a
            continue
        moved = np.ascontiguousarray(op(a))  # type: ignore[operator]
        e = enc.get(name)
        if e is None:
            out[name] = moved
        elif e == "class":
            out[name] = remap_d8(moved, _as_class(mapping))
        else:
            out[name] = remap_d8(moved, mapping)
    return out


def flip_lr(sample: Mapping[str, np.ndarray], *, d8: D8Spec = None) -> dict[str, np.ndarray]:
    """Mirror left-right (east <-> west); ``d8``: D8 outputs and their encodings."""
    return _apply(sample, lambda a: a[..., ::-1], _FLIP_LR, d8)


def flip_ud(sample: Mapping[str, np.ndarray], *, d8: D8Spec = None) -> dict[str, np.ndarray]:
    """Mirror up-down (north <-> south); ``d8``: D8 outputs and their encodings."""
    return _apply(sample, lambda a: a[..., ::-1, :], _FLIP_UD, d8)


def rot90(
    sample: Mapping[str, np.ndarray], k: int = 1, *, d8: D8Spec = None
) -> dict[str, np.ndarray]:
    """Rotate by ``k`` quarter turns counter-clockwise (as :func:`numpy.rot90`)."""
    k %= 4
    return _apply(sample, lambda a: np.rot90(a, k, axes=(-2, -1)), _rot_map(k), d8)


def d8_encodings(manifest: Mapping[str, Any]) -> dict[str, str]:
    """``{output: encoding}`` of a dataset's D8 outputs, read from its manifest."""
    out = {}
    for name, o in manifest.get("outputs", {}).items():
        enc = o.get("d8_encoding") or ("esri" if o.get("kind") == "d8" else None)
        if enc:
            out[name] = str(enc)
    return out


class RandomFlipRotate:
    """A ``transform=`` for loaders: a random flip and quarter turn per sample.

    Parameters
    ----------
    d8
        D8 outputs and encodings (``Dataset.d8_encodings``).
    rotations
        Quarter turns to draw from (``(0, 2)`` keeps non-square pixels exact).
    seed
        Seed of the generator (per process: each loader worker gets a copy).
    """

    def __init__(
        self, d8: D8Spec, *, rotations: tuple[int, ...] = (0, 1, 2, 3), seed: int | None = None
    ) -> None:
        self.d8 = _encodings(d8)
        self.rotations = rotations
        self.rng = np.random.default_rng(seed)

    @classmethod
    def for_dataset(cls, ds: Any, **kwargs: Any) -> RandomFlipRotate:
        """From a :class:`~geoharmony.reading.dataset.Dataset` (its manifest's D8 outputs)."""
        return cls(d8_encodings(ds.manifest), **kwargs)

    def __call__(self, sample: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Augment one sample."""
        out = dict(sample)
        if self.rng.random() < 0.5:
            out = flip_lr(out, d8=self.d8)
        k = int(self.rng.choice(self.rotations))
        return rot90(out, k, d8=self.d8) if k else out
