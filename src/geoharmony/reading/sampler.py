"""A shard-aware sampler: whole shards in random order, then a bounded in-memory shuffle.

Random access over a sharded store (Zarr shards, tar or TFRecord shards) touches a
different file for almost every sample. :class:`ShardSampler` visits the shards in a
random order and yields each shard's patches consecutively through a shuffle buffer of
``buffer`` patches (as WebDataset's ``shuffle(n)``): reads stay within a few shards
(sequential, page-cache friendly) while the order is still random within the buffer.
Call :meth:`ShardSampler.set_epoch` each epoch for a new order (same seed, same order).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


class ShardSampler:
    """Indices of a loader's samples, shard by shard (a ``torch`` ``Sampler``).

    Parameters
    ----------
    positions
        Store position of each sample (sample ``k`` is ``positions[k]``), e.g.
        ``PatchDataset.positions``.
    patches_per_shard
        Shard size of the store (``manifest["store"]["patches_per_shard"]``).
    shuffle
        Shuffle shard order and samples (False: store order).
    buffer
        Shuffle buffer size in samples (memory bound: ``buffer`` indices, no data).
    seed
        Base seed; the epoch is added to it.
    """

    def __init__(
        self,
        positions: Sequence[int] | np.ndarray,
        patches_per_shard: int,
        *,
        shuffle: bool = True,
        buffer: int = 256,
        seed: int = 0,
    ) -> None:
        pos = np.asarray(positions, dtype=np.int64)
        shard = pos // max(int(patches_per_shard), 1)
        order = np.argsort(shard, kind="stable")
        bounds = np.flatnonzero(np.diff(shard[order])) + 1
        self.shards = [g for g in np.split(order, bounds) if len(g)]
        self.shuffle, self.buffer, self.seed = shuffle, max(int(buffer), 1), seed
        self.epoch = 0
        self._n = len(pos)

    def set_epoch(self, epoch: int) -> None:
        """Select the order of epoch ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            for g in self.shards:
                yield from g.tolist()
            return
        rng = np.random.default_rng([self.seed, self.epoch])
        buf: list[int] = []
        for s in rng.permutation(len(self.shards)).tolist():
            for k in self.shards[s].tolist():
                if len(buf) < self.buffer:
                    buf.append(k)
                    continue
                j = int(rng.integers(len(buf)))
                buf[j], k = k, buf[j]
                yield k
        while buf:
            j = int(rng.integers(len(buf)))
            buf[j], buf[-1] = buf[-1], buf[j]
            yield buf.pop()
