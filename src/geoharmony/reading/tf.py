"""TensorFlow ``tf.data`` access to a written dataset (optional extra: ``geoharmony[tf]``).

>>> from geoharmony.reading.tf import to_tf_dataset                     # doctest: +SKIP
>>> ds = to_tf_dataset("out/pine_lake", split="train").batch(8)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

try:
    import tensorflow as tf
except ImportError as exc:  # pragma: no cover - exercised only without TensorFlow
    raise ImportError(
        "geoharmony.reading.tf needs TensorFlow; install it with `pip install geoharmony[tf]`"
    ) from exc

from geoharmony.errors import ConfigError
from geoharmony.reading.dataset import open_dataset
from geoharmony.reading.normalize import apply_normalize, check_normalize


def to_tf_dataset(
    path: str | Path,
    *,
    split: str | None = None,
    outputs: Sequence[str] | None = None,
    normalize: dict[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    channels_last: bool = False,
    parallel: int | None = None,
    transform: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
    fill: float = 0.0,
) -> Any:
    """A ``tf.data.Dataset`` of dicts ``{name: (bands, h, w), name_mask: (h, w), "index"}``.

    Parameters
    ----------
    path
        Dataset folder.
    split
        Keep only patches of this split; None: all.
    outputs
        Modalities/labels to include (default: all), each with its mask.
    normalize
        ``{name: (mean, std)}`` per band; normalised data are float32; unknown names and
        wrong lengths are refused.
    channels_last
        Return data as ``(h, w, bands)`` (Keras' default layout).
    parallel
        Parallel reads (default: ``tf.data.AUTOTUNE``).
    transform
        Called on the numpy sample dict (every output and mask) before normalisation,
        e.g. ``RandomFlipRotate.for_dataset(ds)`` from :mod:`geoharmony.reading.augment`
        (D8 outputs found from the manifest). It must keep the arrays' shapes and dtypes
        (square patches for rotations).
    fill
        Value of masked pixels after normalisation (default 0, the mean).
    """
    ds = open_dataset(path)
    idx = ds.index
    if split is not None:
        present = sorted(idx["split"].unique())
        if split not in present:
            raise ConfigError(f"{path}: split {split!r} has no patches; present: {present}")
        positions = np.flatnonzero(idx["split"].to_numpy() == split)
    else:
        positions = np.arange(len(ds))
    names = list(outputs or ds.outputs)
    meta = ds.specs
    bad = [n for n in names if n not in meta]
    if bad:
        raise ConfigError(f"{path}: unknown outputs {bad}; available: {list(meta)}")
    norm = check_normalize(normalize, meta, str(path))
    keys: list[str] = []
    dtypes: list[Any] = []
    shapes: list[tuple[int, ...]] = []
    for n in names:
        b, h, w = meta[n].bands, meta[n].height, meta[n].width
        keys += [n, f"{n}_mask"]
        dt = np.float32 if n in norm else np.dtype(meta[n].dtype)
        dtypes += [tf.as_dtype(dt), tf.bool]
        shapes += [(b, h, w), (h, w)]

    def read(i: np.ndarray) -> list[np.ndarray]:
        pos = int(i)
        sample = {}
        for n in names:
            sample[n] = ds.store.read(n, pos)
            sample[f"{n}_mask"] = ds.store.read(f"{n}_mask", pos)
        if transform is not None:
            sample = transform(sample)
        out = []
        for n in names:
            a = np.ascontiguousarray(sample[n])
            mask = np.ascontiguousarray(sample[f"{n}_mask"])
            if n in norm:
                a = apply_normalize(a, mask, norm[n], fill)
            out += [a, mask]
        return out

    def to_dict(i: Any) -> dict[str, Any]:
        arrays = tf.numpy_function(read, [i], dtypes)
        sample: dict[str, Any] = {"index": i}
        for k, a, shp in zip(keys, arrays, shapes, strict=True):
            a.set_shape(shp)
            if channels_last and len(shp) == 3:
                a = tf.transpose(a, (1, 2, 0))
            sample[k] = a
        return sample

    base = tf.data.Dataset.from_tensor_slices(positions.astype(np.int64))
    return base.map(to_dict, num_parallel_calls=parallel or tf.data.AUTOTUNE, deterministic=True)
