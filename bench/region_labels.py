"""``make bench-labels`` (also run by ``make bench``): a 300 Mpx region's flow labels.

Synthesises a 17,321 x 17,321 px DEM (300 Mpx: a large HUC8 at 10 m) with a regional
tilt, hills, noise and 0.25 m quantisation (so flats and nested depressions everywhere)
and a nodata corner, then times the conditioned D8 (fill, steepest descent, flats) and
the flow accumulation in km², and prints the peak resident memory of the process. Not a
timed test: the numbers are for docs/performance.md.

Usage: ``python bench/region_labels.py [--size N]`` (N px per side; default 17321).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from geoharmony.labels.hydro import BYTES_PER_CELL, conditioned_d8, flow_accumulation


def synthetic_dem(n: int) -> tuple[np.ndarray, np.ndarray]:
    """A float32 DEM (rows written in blocks, so generation needs little extra memory)."""
    rng = np.random.default_rng(0)
    dem = np.empty((n, n), dtype=np.float32)
    xs = np.arange(n, dtype=np.float64)
    for r0 in range(0, n, 512):
        y = np.arange(r0, min(n, r0 + 512), dtype=np.float64)[:, None]
        z = 0.002 * xs[None, :] + 0.001 * y + 20 * np.sin(xs[None, :] / 700) * np.cos(y / 900)
        z += rng.normal(0, 0.2, z.shape)
        dem[r0 : r0 + len(y)] = np.round(z * 4) / 4
    valid = np.ones((n, n), dtype=bool)
    valid[: n // 20, : n // 20] = False
    return dem, valid


def peak_gib() -> float:
    """Peak resident memory of this process so far, GiB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    """Run once and print the timings and the peak memory."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=17321)
    n = ap.parse_args().size
    t0 = time.perf_counter()
    dem, valid = synthetic_dem(n)
    t1 = time.perf_counter()
    code = conditioned_d8(dem, valid, 10.0, 10.0)
    t2 = time.perf_counter()
    acc, cycles = flow_accumulation(code, valid, units="km2", dx=10.0, dy=10.0)
    t3 = time.perf_counter()
    undefined = int(np.count_nonzero((code == 0) & valid))
    peak = peak_gib()
    print(f"region {n} x {n} px = {n * n / 1e6:.1f} Mpx (synthesis {t1 - t0:.0f} s)")
    print(f"conditioned D8 {t2 - t1:.0f} s, accumulation {t3 - t2:.0f} s")
    print(f"undefined {undefined}, cycle cells {cycles}, largest area {np.nanmax(acc):.1f} km2")
    print(
        f"peak RSS {peak:.2f} GiB = {peak * 2**30 / (n * n):.1f} B/cell including the DEM (4) "
        f"and mask (1); documented budget {BYTES_PER_CELL} B/cell + 5"
    )


if __name__ == "__main__":
    main()
