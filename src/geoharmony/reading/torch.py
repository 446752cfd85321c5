"""PyTorch access to a written dataset (optional extra: ``pip install geoharmony[torch]``).

>>> from geoharmony.reading.torch import PatchDataset          # doctest: +SKIP
>>> ds = PatchDataset("out/pine_lake", split="train")  # doctest: +SKIP
>>> loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=2)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

try:
    import torch
    from torch.utils.data import Dataset as _TorchDataset
    from torch.utils.data import Sampler, get_worker_info
    from torch.utils.data._utils import collate as _collate
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "geoharmony.reading.torch needs PyTorch; install it with `pip install geoharmony[torch]` "
        "(CPU build: pip install torch==2.13.0)"
    ) from exc

from geoharmony.errors import ConfigError
from geoharmony.reading.dataset import open_dataset
from geoharmony.reading.index import read_columns, split_positions
from geoharmony.reading.sampler import ShardSampler as _ShardSampler
from geoharmony.reading.stats_select import Normalizer, scales


class PatchDataset(_TorchDataset):
    """A map-style torch Dataset over a written geoharmony dataset.

    Parameters
    ----------
    path
        Dataset folder.
    split
        Keep only patches of this split (``train``, ``val``, ``test``); None: all.
    outputs
        Modalities/labels to return (default: all); each comes with its ``_mask``.
    transform
        Called on the numpy sample dict before conversion (e.g. ``geoharmony.reading.augment``).
    normalize
        ``{name: (mean, std)}`` per-band statistics applied to float conversions of data
        (unknown names and wrong lengths are refused), or a mode: ``"region"`` (each
        patch's region), ``"split"`` (this split) or ``"global"`` (every patch), from the
        manifest (:mod:`geoharmony.reading.stats_select`).
    fill
        Value of masked pixels after normalisation (default 0, the mean).
    scale
        Return physical values ``scale * stored + offset`` of modalities that declare
        ``[modalities.x] scale``/``offset`` (quantised data; statistics follow).
    float32
        False: modalities that are neither normalised nor scaled keep their stored dtype
        (``uint16`` optical, ``int8`` embeddings...): fewer bytes per batch and no CPU
        conversion; convert on the GPU (``batch["optical"].to(device).float()``).
    batched
        Read whole batches in :meth:`__getitems__` (see there); False for a custom
        ``collate_fn`` that expects a list of samples.

    Each item is ``{name: float32 or integer tensor (bands, h, w), name_mask: bool (h, w),
    "index": int}``; integer label codes stay integer (``int64``).

    Only the ``split`` and ``region`` columns of the index are read (not the footprints).
    The store is opened lazily in each process that reads (each ``DataLoader`` worker opens
    its own handles). Batches are read through ``__getitems__``: one call per batch.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        split: str | None = None,
        outputs: Sequence[str] | None = None,
        transform: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
        normalize: str | dict[str, tuple[Sequence[float], Sequence[float]]] | None = None,
        fill: float = 0.0,
        batched: bool = True,
        scale: bool = False,
        float32: bool = True,
    ) -> None:
        self.ds = open_dataset(path)
        self.batched = batched
        cols = read_columns(self.ds.root, ["split", "region"])
        self.positions = split_positions(self.ds.root, cols, split, len(self.ds))
        regions = cols.get("region", np.full(len(self.ds), "all", dtype=object))
        names, codes = np.unique(regions.astype(str), return_inverse=True)
        self._region_names = names.tolist()
        self._region_codes = codes.astype(np.int32)
        known = self.ds.outputs
        self.outputs = list(outputs or known)
        bad = [o for o in self.outputs if o not in known]
        if bad:
            raise ConfigError(f"{path}: unknown outputs {bad}; available: {known}")
        self.labels = {n for n, o in self.ds.specs.items() if o.kind != "raster"}
        self.transform = transform
        self.scales = scales(self.ds.manifest, self.outputs) if scale else {}
        self.normalizer = Normalizer(
            self.ds.manifest, normalize, split, self.outputs, scaled=self.scales, where=str(path)
        )
        self.fill = float(fill)
        converted = self.normalizer.names() | set(self.scales)
        self._stored = {
            n for n in self.outputs if not float32 and n not in self.labels and n not in converted
        }
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.positions)

    def _store(self) -> Any:
        if self._pid != os.getpid():  # a new worker: its own handles, never the parent's
            self._pid = os.getpid()
            self.ds._store = None
        return self.ds.store

    def region_of(self, i: int) -> str:
        """Region id of sample ``i``."""
        return str(self._region_names[self._region_codes[int(self.positions[i])]])

    def shard_sampler(self, *, shuffle: bool = True, buffer: int = 256, seed: int = 0) -> Any:
        """A :class:`ShardSampler` over this dataset (whole shards, bounded shuffle)."""
        per = int(self.ds.manifest["store"].get("patches_per_shard", 1))
        return ShardSampler(self.positions, per, shuffle=shuffle, buffer=buffer, seed=seed)

    def _normalize_into(
        self, key: str, a: np.ndarray, region: str, mask: np.ndarray | None = None
    ) -> None:
        """Scale and normalise float32 data ``a`` (bands, h, w) of ``key`` in place.

        Normalised data: pixels masked in ``mask`` (False; nodata, off-raster) are set
        to ``fill`` (:mod:`geoharmony.reading.normalize`).
        """
        if key in self.scales:
            s, off = self.scales[key]
            np.multiply(a, np.float32(s), out=a)
            np.add(a, np.float32(off), out=a)
        norm = self.normalizer(key, region)
        if norm is not None:
            mean, std = norm
            np.subtract(a, mean, out=a)
            np.divide(a, std, out=a)
            if mask is not None:
                a[..., ~np.asarray(mask, dtype=bool)] = self.fill

    def __getitem__(self, i: int) -> dict[str, Any]:
        pos = int(self.positions[i])
        store = self._store()
        sample = {}
        for name in self.outputs:
            sample[name] = store.read(name, pos)
            sample[f"{name}_mask"] = store.read(f"{name}_mask", pos)
        if self.transform is not None:
            sample = self.transform(sample)
        region = self._region_names[self._region_codes[pos]]
        out: dict[str, Any] = {"index": pos}
        for key, arr in sample.items():
            if key.endswith("_mask"):
                out[key] = torch.from_numpy(np.ascontiguousarray(arr, dtype=bool))
            elif key in self.labels:
                out[key] = torch.from_numpy(np.ascontiguousarray(arr).astype(np.int64))
            elif key in self._stored:
                out[key] = torch.from_numpy(np.ascontiguousarray(arr))
            else:
                a = np.array(arr, dtype=np.float32)  # a copy: normalised in place
                self._normalize_into(key, a, region, sample.get(f"{key}_mask"))
                out[key] = torch.from_numpy(a)
        return out

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        """One batch (``DataLoader`` calls this once per batch, then collates).

        With ``batched`` (the default, no ``transform``) the batch is read straight into
        its final tensors, allocated in shared memory inside a worker as ``default_collate``
        would, converted and normalised there: no per-sample tensors, no stacking copy,
        and no multi-threaded ``torch.stack`` in the main process. ``default_collate``
        passes it through unchanged (the same keys, dtypes and shapes as collating
        :meth:`__getitem__` samples). Pass ``batched=False`` for a custom ``collate_fn``.
        """
        if not self.batched or self.transform is not None:
            return [self[i] for i in indices]
        pos = self.positions[np.asarray(indices, dtype=np.int64)]
        store = self._store()
        specs = self.ds.specs
        n = len(pos)
        regions = [self._region_names[c] for c in self._region_codes[pos].tolist()]
        batch: dict[str, Any] = {"index": torch.from_numpy(pos.astype(np.int64))}
        for name in self.outputs:
            spec = specs[name]
            b, h, w = spec.bands, spec.height, spec.width
            label = name in self.labels
            if label:
                dtype = torch.int64
            elif name in self._stored:
                dtype = torch.from_numpy(np.empty(0, spec.dtype)).dtype
            else:
                dtype = torch.float32
            data = _alloc((n, b, h, w), dtype)
            mask = _alloc((n, h, w), torch.bool)
            d, m = data.numpy(), mask.numpy()
            for k, p in enumerate(pos.tolist()):
                store.read_into(name, p, d[k])  # decoded in place, or cast: one pass
                store.read_into(f"{name}_mask", p, m[k])
                if not label and name not in self._stored:
                    self._normalize_into(name, d[k], regions[k], m[k])
            batch[name], batch[f"{name}_mask"] = data, mask
        return [Batch(batch)]


class Batch:
    """A batch already collated by :meth:`PatchDataset.__getitems__`."""

    __slots__ = ("data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data


def _collate_batch(batch: Sequence[Batch], *, collate_fn_map: Any = None) -> dict[str, Any]:
    if len(batch) != 1:
        raise TypeError("a geoharmony Batch is collated alone (one per DataLoader batch)")
    return batch[0].data


# default_collate's documented extension point: a type -> collate function map.
_collate.default_collate_fn_map[Batch] = _collate_batch


def _alloc(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An empty tensor, in shared memory inside a DataLoader worker (as default_collate)."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    numel = int(np.prod(shape))
    proto = torch.empty(0, dtype=dtype)
    storage = proto._typed_storage()._new_shared(numel, device=proto.device)
    return proto.new(storage).resize_(*shape)


class ShardSampler(_ShardSampler, Sampler[int]):
    """:class:`geoharmony.reading.sampler.ShardSampler` as a ``torch`` ``Sampler``."""
