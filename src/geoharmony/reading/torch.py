"""PyTorch access to a written dataset (optional extra: ``pip install geoharmony[torch]``).

>>> from geoharmony.reading.torch import PatchDataset          # doctest: +SKIP
>>> ds = PatchDataset("out/pine_lake", split="train")  # doctest: +SKIP
>>> loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=2)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

try:
    import torch
    from torch.utils.data import Dataset as _TorchDataset
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "geoharmony.reading.torch needs PyTorch; install it with `pip install geoharmony[torch]` "
        "(CPU build: pip install torch==2.13.0)"
    ) from exc

from geoharmony.errors import ConfigError
from geoharmony.reading.dataset import open_dataset
from geoharmony.reading.normalize import apply_normalize, check_normalize


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
        ``{name: (mean, std)}`` per-band statistics applied to float conversions of data;
        unknown names and wrong lengths are refused.
    fill
        Value of masked pixels after normalisation (default 0, the mean).

    Each item is ``{name: float32 or integer tensor (bands, h, w), name_mask: bool (h, w),
    "index": int}``; integer label codes stay integer (``int64``).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        split: str | None = None,
        outputs: Sequence[str] | None = None,
        transform: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
        normalize: dict[str, tuple[Sequence[float], Sequence[float]]] | None = None,
        fill: float = 0.0,
    ) -> None:
        self.ds = open_dataset(path)
        idx = self.ds.index
        if split is not None:
            splits = sorted(idx["split"].unique())
            if split not in splits:
                raise ConfigError(f"{path}: split {split!r} has no patches; present: {splits}")
            self.positions = np.flatnonzero(idx["split"].to_numpy() == split)
        else:
            self.positions = np.arange(len(self.ds))
        known = self.ds.outputs
        self.outputs = list(outputs or known)
        bad = [o for o in self.outputs if o not in known]
        if bad:
            raise ConfigError(f"{path}: unknown outputs {bad}; available: {known}")
        self.labels = {n for n, o in self.ds.specs.items() if o.kind != "raster"}
        self.transform = transform
        self.normalize = check_normalize(normalize, self.ds.manifest["outputs"], str(path))
        self.fill = float(fill)

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int) -> dict[str, Any]:
        pos = int(self.positions[i])
        sample = {}
        for name in self.outputs:
            sample[name] = self.ds.store.read(name, pos)
            sample[f"{name}_mask"] = self.ds.store.read(f"{name}_mask", pos)
        if self.transform is not None:
            sample = self.transform(sample)
        out: dict[str, Any] = {"index": pos}
        for key, arr in sample.items():
            if key.endswith("_mask"):
                out[key] = torch.from_numpy(np.ascontiguousarray(arr, dtype=bool))
            elif key in self.labels:
                out[key] = torch.from_numpy(np.ascontiguousarray(arr).astype(np.int64))
            else:
                a = np.ascontiguousarray(arr, dtype=np.float32)
                if key in self.normalize:
                    a = apply_normalize(
                        a, sample.get(f"{key}_mask"), self.normalize[key], self.fill
                    )
                out[key] = torch.from_numpy(a)
        return out
