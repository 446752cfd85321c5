"""The floors: what any extractor must at least spend, measured beside it.

Decode floor
    Every source block that some patch window touches, of every raster, decoded exactly
    once, as fast as GDAL can: each raster opened once, each maximal run of needed
    blocks along a block row read in one plain call (measured as fast as block-by-block
    reads), no copies into patches, no masks. Run with ``GDAL_NUM_THREADS=1`` and with
    ``ALL_CPUS``; the faster counts.
End-to-end floor
    The decode floor, plus compressing every patch (and its masks) with the store's
    chosen codec, plus one plain file write of the compressed bytes, split evenly over
    ``n`` processes that start together (wall time = the slower one).

Window geometry comes from geoharmony's plan (not timed), computed independently here
from the windows into block runs (no geoharmony reading code is used).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window


@dataclass(frozen=True)
class Run:
    """A run of needed blocks along one block row of one raster."""

    path: str
    bands: tuple[int, ...]
    col_off: int
    row_off: int
    width: int
    height: int

    @property
    def pixels(self) -> int:
        """Pixels in the run."""
        return self.width * self.height


def needed_runs(plan: Any) -> list[Run]:
    """Runs of blocks touched by any window of the plan, per raster (each block once)."""
    t = plan.table
    grids: dict[tuple[str, tuple[int, ...]], tuple[np.ndarray, int, int, int, int]] = {}
    for rid in t["region"].unique():
        sub = t[t["region"] == rid]
        for name, info in plan.sources[str(rid)].items():
            key = (str(info.path), tuple(info.bands))
            if key not in grids:
                with rasterio.open(info.path) as ds:
                    W, H = ds.width, ds.height
                    bh, bw = ds.block_shapes[info.bands[0] - 1]
                grids[key] = (np.zeros((-(-H // bh), -(-W // bw)), dtype=bool), W, H, bw, bh)
            grid, W, H, bw, bh = grids[key]
            c0 = sub[f"{name}_col_off"].to_numpy()
            r0 = sub[f"{name}_row_off"].to_numpy()
            c1 = np.clip(c0 + sub[f"{name}_width"].to_numpy(), 0, W)
            r1 = np.clip(r0 + sub[f"{name}_height"].to_numpy(), 0, H)
            c0, r0 = np.clip(c0, 0, W), np.clip(r0, 0, H)
            for a, b, c, d in zip(c0, c1, r0, r1, strict=True):
                if b > a and d > c:
                    grid[c // bh : (d - 1) // bh + 1, a // bw : (b - 1) // bw + 1] = True
    runs: list[Run] = []
    for (path, bands), (grid, W, H, bw, bh) in grids.items():
        for br in range(grid.shape[0]):
            edges = np.diff(np.r_[0, grid[br].astype(np.int8), 0])
            for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
                x0, y0 = int(s) * bw, br * bh
                runs.append(
                    Run(path, bands, x0, y0, min(int(e) * bw, W) - x0, min(y0 + bh, H) - y0)
                )
    return runs


def decode(runs: list[Run], threads: str = "1") -> int:
    """Decode every run once (files opened once); return the bytes decoded."""
    total = 0
    with rasterio.Env(GDAL_NUM_THREADS=threads, GDAL_CACHEMAX=128 * 2**20):
        handles: dict[str, Any] = {}
        try:
            for r in runs:
                ds = handles.get(r.path)
                if ds is None:
                    ds = handles[r.path] = rasterio.open(r.path)
                a = ds.read(list(r.bands), window=Window(r.col_off, r.row_off, r.width, r.height))
                total += a.nbytes
        finally:
            for ds in handles.values():
                ds.close()
    return total


def split_runs(runs: list[Run], n: int) -> list[list[Run]]:
    """Split runs into ``n`` parts of about equal pixel count (largest first)."""
    parts: list[list[Run]] = [[] for _ in range(n)]
    load = [0] * n
    for r in sorted(runs, key=lambda r: -r.pixels * len(r.bands)):
        k = load.index(min(load))
        parts[k].append(r)
        load[k] += r.pixels * len(r.bands)
    return parts


# -- end-to-end floor -------------------------------------------------------------------------
def _codecs(compression: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    from numcodecs import Blosc

    from geoharmony.writers.zarr_writer import BLOSC_SETTINGS

    if compression == "none":
        return {k: None for k in arrays}
    cname, clevel = BLOSC_SETTINGS[compression]
    return {
        k: Blosc(cname=cname, clevel=clevel, shuffle=Blosc.BITSHUFFLE, typesize=a.dtype.itemsize)
        for k, a in arrays.items()
    }


def _e2e_worker(
    conn: Any, runs: list[Run], patches: str, lo: int, hi: int, compression: str, out: str
) -> None:
    import numcodecs.blosc

    numcodecs.blosc.use_threads = False
    with np.load(patches) as z:
        arrays = {k: np.ascontiguousarray(z[k][lo:hi]) for k in z.files}
    codecs = _codecs(compression, arrays)
    conn.send("ready")
    start_at = conn.recv()
    while time.monotonic() < start_at:
        time.sleep(0.0005)
    t0 = time.monotonic()
    decode(runs)
    t1 = time.monotonic()
    parts: list[bytes] = []
    for k, a in arrays.items():
        c = codecs[k]
        for i in range(len(a)):
            raw = a[i].reshape(-1).view(np.uint8)
            parts.append(c.encode(raw) if c is not None else raw.tobytes())
    t2 = time.monotonic()
    payload = b"".join(parts)
    with open(out, "wb") as f:
        f.write(payload)
    t3 = time.monotonic()
    os.unlink(out)
    conn.send(
        {"end": t3, "decode": t1 - t0, "compress": t2 - t1, "write": t3 - t2, "bytes": len(payload)}
    )
    conn.close()


def e2e_floor(
    runs: list[Run], patches: Path, n_patches: int, compression: str, workers: int, tmp: Path
) -> dict[str, Any]:
    """Decode + compress + plain write, split over ``workers`` processes started together."""
    ctx = mp.get_context("spawn")
    parts = split_runs(runs, workers)
    bounds = np.linspace(0, n_patches, workers + 1).round().astype(int)
    procs, conns = [], []
    for k in range(workers):
        a, b = ctx.Pipe()
        p = ctx.Process(
            target=_e2e_worker,
            args=(
                b,
                parts[k],
                str(patches),
                int(bounds[k]),
                int(bounds[k + 1]),
                compression,
                str(tmp / f"floor_{k}.bin"),
            ),
        )
        p.start()
        procs.append(p)
        conns.append(a)
    for c in conns:
        assert c.recv() == "ready"
    start = time.monotonic() + 0.05
    for c in conns:
        c.send(start)
    res = [c.recv() for c in conns]
    for p in procs:
        p.join()
    wall = max(r["end"] for r in res) - start
    return {
        "wall": wall,
        "decode": sum(r["decode"] for r in res),
        "compress": sum(r["compress"] for r in res),
        "write": sum(r["write"] for r in res),
        "bytes": sum(r["bytes"] for r in res),
    }
