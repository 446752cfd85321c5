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
from geoharmony.reading.index import read_columns, split_positions
from geoharmony.reading.stats_select import Normalizer, scales


def to_tf_dataset(
    path: str | Path,
    *,
    split: str | None = None,
    outputs: Sequence[str] | None = None,
    normalize: str | dict[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    channels_last: bool = False,
    parallel: int | None = None,
    transform: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
    fill: float = 0.0,
    scale: bool = False,
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
        ``{name: (mean, std)}`` per band (unknown names and wrong lengths are refused), or
        a mode: ``"region"`` (each patch's region), ``"split"`` (this split) or ``"global"``
        (every patch), from the manifest (:mod:`geoharmony.reading.stats_select`);
        normalised data are float32.
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
    scale
        Return physical values ``scale * stored + offset`` (float32) of modalities that
        declare ``[modalities.x] scale``/``offset``; statistics follow.
    """
    ds = open_dataset(path)
    cols = read_columns(ds.root, ["split", "region"])  # not the footprints
    positions = split_positions(ds.root, cols, split, len(ds))
    regions = cols.get("region", np.full(len(ds), "all", dtype=object)).astype(str)
    names = list(outputs or ds.outputs)
    meta = ds.specs
    bad = [n for n in names if n not in meta]
    if bad:
        raise ConfigError(f"{path}: unknown outputs {bad}; available: {list(meta)}")
    scaled = scales(ds.manifest, names) if scale else {}
    normalizer = Normalizer(ds.manifest, normalize, split, names, scaled=scaled, where=str(path))
    norm = normalizer.names() | set(scaled)
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
            ms = normalizer(n, str(regions[pos]))
            if n in norm:
                a = a.astype(np.float32)
            if n in scaled:
                a = a * np.float32(scaled[n][0]) + np.float32(scaled[n][1])
            if ms is not None:
                mean, std = ms
                a = np.asarray((a - mean) / std, dtype=np.float32)
                a[..., ~mask.astype(bool)] = np.float32(fill)
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
