"""WebDataset store: POSIX tar shards of ``.npy`` members, with offset indexes.

Layout of ``patches.wds/``::

    _store.json                  arrays (shape, dtype, fill value), patch count, shard size
    shard-000000.tar             patches 0 .. patches_per_shard - 1
    shard-000000.idx.json        byte offset and size of every member's data
    shard-000001.tar ...

Inside a shard, each patch is one WebDataset sample: its members are consecutive and
named ``<key>.<array>.npy`` where ``<key>`` is the patch's store position, zero padded
(``index.parquet``'s ``patch_index``; ``patch_id`` is in the index). Members hold the
patch's array as a NumPy ``.npy`` file, masks as ``bool``. Shards are plain tar (no
``webdataset`` package needed) with fixed member metadata, so the same patches give the
same bytes; they are uncompressed, since a compressed tar cannot be read at an offset
(``compression`` is recorded but not applied).

Reading with the ``webdataset`` package::

    wds.WebDataset("patches.wds/shard-{000000..000009}.tar").decode()

and ``geoharmony.open_dataset`` reads one patch with one seek through the ``.idx.json``
index (rebuilt by scanning the tar headers when it is missing).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from geoharmony.writers._common import StoreMeta, atomic_file, shard_name, write_atomic
from geoharmony.writers._sharded import ShardedStore, ShardedWriter
from geoharmony.writers.base import PatchStore

_FORMAT: Literal[2] = tarfile.PAX_FORMAT
_ENCODING = "utf-8"


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def _key_width(n_patches: int) -> int:
    return max(6, len(str(max(n_patches - 1, 0))))


class WebDatasetWriter(ShardedWriter):
    """Writes ``patches.wds``: tar shards of ``.npy`` members (WebDataset layout)."""

    format = "webdataset"
    store_name = "patches.wds"
    suffix = ".tar"

    def _extra(self, n_patches: int) -> dict[str, Any]:
        return {"key_width": _key_width(n_patches), "member": "<key>.<array>.npy"}

    def _write_shard(
        self, meta: StoreMeta, shard: int, first: int, arrays: Mapping[str, np.ndarray]
    ) -> None:
        width = int(meta.extra.get("key_width", _key_width(meta.n_patches)))
        n = len(next(iter(arrays.values())))
        members: dict[str, list[list[int]]] = {name: [] for name in meta.specs}
        path = self.path / shard_name(shard, self.suffix)
        with (
            atomic_file(path) as f,
            tarfile.open(fileobj=f, mode="w", format=_FORMAT, encoding=_ENCODING) as tar,
        ):
            for k in range(n):
                key = f"{first + k:0{width}d}"
                for name in meta.specs:
                    data = _npy_bytes(arrays[name][k])
                    info = tarfile.TarInfo(f"{key}.{name}.npy")
                    info.size = len(data)
                    info.mtime = 0
                    info.mode = 0o644
                    info.uname = info.gname = ""
                    header = info.tobuf(_FORMAT, _ENCODING, "surrogateescape")
                    members[name].append([tar.offset + len(header), len(data)])
                    tar.addfile(info, io.BytesIO(data))
        index = {"first": first, "count": n, "members": members}
        write_atomic(path.with_name(shard_name(shard, ".idx.json")), json.dumps(index).encode())

    @classmethod
    def reader(cls, root: Path) -> PatchStore:
        """Open ``patches.wds`` for reading."""
        return WebDatasetStore(Path(root) / cls.store_name)


class WebDatasetStore(ShardedStore):
    """Reads a ``patches.wds`` folder (random access through the shard indexes)."""

    suffix = ".tar"

    def _load_index(self, shard: int, path: Path) -> dict[str, np.ndarray]:
        idx_path = path.with_name(shard_name(shard, ".idx.json"))
        if idx_path.is_file():
            raw = json.loads(idx_path.read_text(encoding="utf-8"))
            first = int(raw["first"])
            members = {
                name: np.asarray(spans, dtype=np.int64).reshape(-1, 2)
                for name, spans in raw["members"].items()
            }
        else:
            first, members = self._scan(shard, path)
        expected = shard * self.meta.patches_per_shard
        if first != expected:
            raise ValueError(f"{path}: starts at patch {first}, expected {expected}")
        return members

    def _scan(self, shard: int, path: Path) -> tuple[int, dict[str, np.ndarray]]:
        """Rebuild a shard's index from its tar headers."""
        first = shard * self.meta.patches_per_shard
        count = min(self.meta.patches_per_shard, len(self) - first)
        spans = {name: np.full((count, 2), -1, dtype=np.int64) for name in self.meta.specs}
        with tarfile.open(path, mode="r:", encoding=_ENCODING) as tar:
            for m in tar:
                key, _, rest = m.name.partition(".")
                name = rest.removesuffix(".npy")
                if m.isfile() and key.isdigit() and name in spans:
                    local = int(key) - first
                    if 0 <= local < count:
                        spans[name][local] = (m.offset_data, m.size)
        return first, spans

    def _read_one(self, name: str, shard: int, local: int, index: Any) -> np.ndarray:
        spans = index.get(name)
        if spans is None or local >= len(spans) or spans[local][0] < 0:
            return self.meta.fill(name)
        offset, size = (int(x) for x in spans[local])
        a = np.lib.format.read_array(
            io.BytesIO(self.read_bytes(shard, offset, size)), allow_pickle=False
        )
        return np.asarray(a, dtype=np.dtype(self.meta.specs[name].dtype))
