"""A Lightning ``LightningDataModule`` over a written dataset (optional extra: ``lightning``).

>>> from geoharmony.lightning import PatchDataModule                          # doctest: +SKIP
>>> dm = PatchDataModule("out/pine_lake", batch_size=32, num_workers=2,
...                      normalize="region")                                 # doctest: +SKIP
>>> trainer.fit(model, datamodule=dm)                                        # doctest: +SKIP

Train, validation and test sets are the ``train``, ``val`` and ``test`` values of the
index's ``split`` column (``[split]`` in the configuration). The training loader visits
shards in random order through a bounded shuffle (:class:`ShardSampler`; Lightning calls
its ``set_epoch``); the others read in store order. With workers, ``persistent_workers``
keeps them (and their open store handles) across epochs; ``pin_memory`` defaults to
True when CUDA is available.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

try:
    import lightning.pytorch as pl
except ImportError:  # pragma: no cover - the older package name
    try:
        import pytorch_lightning as pl  # type: ignore[no-redef]
    except ImportError as exc:
        raise ImportError(
            "geoharmony.lightning needs Lightning; install it with "
            "`pip install geoharmony[lightning]` (CPU: pip install torch==2.13.0 first)"
        ) from exc

import numpy as np
import torch

from geoharmony.errors import ConfigError
from geoharmony.reading.index import read_columns
from geoharmony.reading.torch import PatchDataset

SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ()}


class PatchDataModule(pl.LightningDataModule):
    """Train/val/test loaders of a geoharmony dataset, from its ``split`` column.

    Parameters
    ----------
    path
        Dataset folder.
    batch_size, num_workers
        Of every loader.
    outputs, transform, normalize, fill
        As :class:`geoharmony.torch.PatchDataset` (``transform`` applies to training only).
    shuffle_buffer
        Shuffle buffer (samples) of the training sampler.
    pin_memory
        Default: ``torch.cuda.is_available()``.
    persistent_workers
        Default: True when ``num_workers > 0``.
    seed
        Seed of the training order (the epoch is added to it).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        batch_size: int = 32,
        num_workers: int = 0,
        outputs: Sequence[str] | None = None,
        transform: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
        normalize: str | dict[str, tuple[Sequence[float], Sequence[float]]] | None = None,
        fill: float = 0.0,
        shuffle_buffer: int = 256,
        pin_memory: bool | None = None,
        persistent_workers: bool | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.batch_size, self.num_workers = batch_size, num_workers
        self.outputs, self.transform, self.normalize = outputs, transform, normalize
        self.fill = float(fill)
        self.shuffle_buffer, self.seed = shuffle_buffer, seed
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.persistent_workers = (
            num_workers > 0 if persistent_workers is None else persistent_workers
        )
        self.datasets: dict[str, PatchDataset] = {}

    def splits(self) -> list[str]:
        """Split names present in the dataset's index."""
        cols = read_columns(self.path, ["split"])
        return sorted({str(s) for s in cols.get("split", [])})

    def setup(self, stage: str | None = None) -> None:
        """Open the datasets of a stage (all three when ``stage`` is None).

        Raises
        ------
        ConfigError
            If a split the stage needs has no patches.
        """
        wanted = ("train", "val", "test") if stage is None else SPLITS.get(stage, ())
        present = self.splits()
        for split in wanted:
            if split in self.datasets:
                continue
            if split not in present:
                if stage is None:
                    continue
                raise ConfigError(
                    f"{self.path}: the {stage!r} stage needs split {split!r}, which has no "
                    f"patches; present: {present} (set [split] fractions in the config)"
                )
            self.datasets[split] = PatchDataset(
                self.path,
                split=split,
                outputs=self.outputs,
                transform=self.transform if split == "train" else None,
                normalize=self.normalize,
                fill=self.fill,
            )

    def _loader(self, split: str, *, train: bool) -> torch.utils.data.DataLoader[Any]:
        if split not in self.datasets:
            self.setup(None)
        if split not in self.datasets:
            raise ConfigError(f"{self.path}: split {split!r} has no patches")
        ds = self.datasets[split]
        sampler = ds.shard_sampler(shuffle=train, buffer=self.shuffle_buffer, seed=self.seed)
        return torch.utils.data.DataLoader(
            ds,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers and self.num_workers > 0,
            drop_last=False,
        )

    def train_dataloader(self) -> torch.utils.data.DataLoader[Any]:
        """Training batches: shards in random order, bounded shuffle."""
        return self._loader("train", train=True)

    def val_dataloader(self) -> torch.utils.data.DataLoader[Any]:
        """Validation batches in store order."""
        return self._loader("val", train=False)

    def test_dataloader(self) -> torch.utils.data.DataLoader[Any]:
        """Test batches in store order."""
        return self._loader("test", train=False)
