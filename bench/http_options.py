"""GDAL HTTP options measured: requests, bytes and time of geoharmony's reads of a remote COG.

Serves a COG with nginx on 127.0.0.1 (``tests/infra/nginx.py``), with and without
``--delay`` seconds added to every request, and reads a round region of 224 px windows
(tasks of 16) through :class:`geoharmony.io.reader.RasterReader` -- the block-aligned
rectangles extraction reads -- under each option set; every run uses a fresh URL (no
cache shared between runs). Prints time, patches/s, requests (per patch), bytes fetched
per byte of the file and the HTTP statuses. ``GDAL_OPTIONS`` in
:mod:`geoharmony.io.gdal_env` are the result (see the table in ``docs/national.md``).

Usage: ``python bench/http_options.py [COG] [--delay 0.02] [--block 256]`` (default: the
real 10 m NED DEM of ``../shared/data/nm_huc12_ned10m`` converted to a COG).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import numpy as np  # noqa: E402

DEFAULT = (
    HERE.parents[1] / "shared" / "data" / "nm_huc12_ned10m" / "USGS_NED_13_n37w108_Clipped.tif"
)
BASE = {"GDAL_NUM_THREADS": "1", "GDAL_CACHEMAX": 128 * 2**20}
SETS: dict[str, dict[str, str]] = {
    "GDAL defaults": {"GDAL_DISABLE_READDIR_ON_OPEN": "FALSE"},
    "readdir TRUE (sidecar probes)": {"GDAL_DISABLE_READDIR_ON_OPEN": "TRUE"},
    "EMPTY_DIR": {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"},
    "EMPTY_DIR + merge": {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    },
    "+ ingest 32 KiB": {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
    },
    "+ multirange YES": {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
        "GDAL_HTTP_MULTIRANGE": "YES",
    },
    "+ multirange SERIAL": {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
        "GDAL_HTTP_MULTIRANGE": "SERIAL",
    },
    "+ chunk 1 MiB": {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
        "CPL_VSIL_CURL_CHUNK_SIZE": str(2**20),
    },
    "geoharmony (gdal_env)": {},  # filled from GDAL_OPTIONS + REMOTE_OPEN_OPTIONS
}
P, TASK = 224, 16


def windows(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a round region in the middle (sparse ranges, like a HUC in a big COG)."""
    cs, rs = np.arange(0, width - P + 1, P), np.arange(0, height - P + 1, P)
    rr, cc = np.meshgrid(rs, cs, indexing="ij")
    cc, rr = cc.ravel(), rr.ravel()
    keep = np.hypot(cc + P / 2 - width * 0.55, rr + P / 2 - height * 0.45) < 0.3 * min(
        width, height
    )
    return cc[keep], rr[keep]


def read_all(path: str, options: dict[str, object], local: str) -> tuple[float, int, float]:
    """Seconds, patches and a checksum of reading every window (tasks of 16) of ``path``.

    The options are set as environment variables for the run: geoharmony's own defaults
    (``gdal_env``, ``REMOTE_OPEN_OPTIONS``) give way to those, so each set is measured as
    written. The header is the local copy's (same grid); the reads are ``path``'s.
    """
    import dataclasses
    import os

    from geoharmony.io.raster_info import read_info
    from geoharmony.io.reader import RasterReader

    saved = {k: os.environ.get(k) for k in {**BASE, **options}}
    os.environ.update({k: str(v) for k, v in {**BASE, **options}.items()})
    try:
        info = read_info(local, bands=None, nodata=None, where="bench")
        if path != local:
            info = dataclasses.replace(info, path=path)  # a str: opened as remote
        t0 = time.perf_counter()
        reader = RasterReader(info)
        c, r = windows(info.grid.width, info.grid.height)
        total = 0.0
        for k in range(0, len(c), TASK):
            n = len(c[k : k + TASK])
            data = np.empty((n, len(info.bands), P, P), dtype=info.dtype)
            valid = np.empty((n, P, P), dtype=bool)
            reader.read_into(c[k : k + TASK], r[k : k + TASK], data, valid)
            total += float(np.where(valid[:, None], data, 0).sum(dtype=np.float64))
        reader.close()
        return time.perf_counter() - t0, len(c), total
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main() -> None:
    from rasterio.shutil import copy

    from geoharmony.io.gdal_env import GDAL_OPTIONS, REMOTE_OPEN_OPTIONS
    from infra import nginx

    ap = argparse.ArgumentParser()
    ap.add_argument("cog", nargs="?", default=str(DEFAULT))
    ap.add_argument("--delay", type=float, default=0.02)
    ap.add_argument("--block", type=int, default=256)
    a = ap.parse_args()
    SETS["geoharmony (gdal_env)"] = {**GDAL_OPTIONS, **REMOTE_OPEN_OPTIONS}
    tmp = Path(tempfile.mkdtemp(prefix="gh-http-"))
    www = tmp / "www"
    www.mkdir()
    copy(
        a.cog, www / "x.tif", driver="COG", BLOCKSIZE=a.block, COMPRESS="DEFLATE", OVERVIEWS="NONE"
    )
    size = (www / "x.tif").stat().st_size
    server = nginx.start(www, tmp / "srv", delay=a.delay)
    try:
        local = str(www / "x.tif")
        dt, n, ref = read_all(local, {}, local)
        print(
            f"COG {size / 2**20:.1f} MiB, {a.block} px tiles; "
            f"{n} windows of {P} px, tasks of {TASK}"
        )
        print(f"{'local file':32s}          {dt:6.2f} s {n / dt:7.1f} patch/s")
        run = 0
        for name, opts in SETS.items():
            for prefix in ["", "slow/"] if server.has_delay else [""]:
                run += 1
                off = server.log_offset()
                url = f"/vsicurl/{server.url}/{prefix}x.tif?run={run}"
                dt, n, tot = read_all(url, opts, local)
                assert abs(tot - ref) <= 1e-6 * max(abs(ref), 1), (name, tot, ref)
                reqs = server.requests(off)
                fetched = sum(q.bytes_sent for q in reqs) / size
                lat = f"+{a.delay * 1000:g}ms" if prefix else "0 ms"
                print(
                    f"{name:32s} {lat:>7s}  {dt:6.2f} s {n / dt:7.1f} patch/s {len(reqs):4d} req "
                    f"({len(reqs) / n:4.2f}/patch) {fetched:5.2f} x file  "
                    f"{sorted({q.status for q in reqs})}"
                )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
