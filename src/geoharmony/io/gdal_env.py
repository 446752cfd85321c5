"""The GDAL configuration every extraction worker reads rasters under, chosen deliberately.

Each option, and why (measurements in ``docs/performance.md``):

``GDAL_NUM_THREADS = 1`` in workers, ``ALL_CPUS`` in a single-process run
    Under a pool or Dask, parallelism comes from worker processes (one per core), each
    decoding its own task, and decoding threads would only oversubscribe the cores. A
    single-process run (``--workers 1``) lets GDAL decode the blocks of each rectangle on
    every core: on a quiet 2-core machine that is 1.4-1.6x faster.
``GDAL_CACHEMAX = 128 MiB`` (per process)
    Reads are planned so that each block of a task is decoded once without relying on
    GDAL's cache; the cache only has to hold the blocks of one rectangle in flight (a
    pixel-interleaved multi-band block is split into per-band cache blocks) and lets the
    next task of the same worker reuse blocks on their shared border. A fixed cap keeps a
    worker's memory bounded by its task, not by GDAL's default of 5 % of RAM per process.
``GDAL_DISABLE_READDIR_ON_OPEN = TRUE``
    Opening a file does not list its directory (slow when it holds thousands of tiles or
    is on a network file system); sidecar files (``.msk``, ``.aux.xml``, ``.ovr``) are
    still found by probing their exact names. (``EMPTY_DIR`` would skip them, changing
    masks.)
``VSI_CACHE``, ``GDAL_HTTP_MERGE_CONSECUTIVE_RANGES``, ``GDAL_HTTP_MULTIPLEX``,
``GDAL_HTTP_VERSION = 2``, ``GDAL_HTTP_MAX_RETRY``, ``GDAL_HTTP_RETRY_DELAY``,
``GDAL_INGESTED_BYTES_AT_OPEN``
    Only for remote inputs (``/vsicurl/``, ``/vsis3/`` COGs): a rectangle of adjacent
    blocks becomes one ranged request, several requests share one HTTP/2 connection,
    headers are fetched in one request at open, and transient errors are retried.

Options the user already set in the environment win over these defaults.
"""

from __future__ import annotations

import os
from typing import Any

import rasterio

#: GDAL configuration options of extraction workers (see the module docstring).
GDAL_OPTIONS: dict[str, Any] = {
    "GDAL_NUM_THREADS": "1",
    "GDAL_CACHEMAX": 128 * 2**20,
    "GDAL_DISABLE_READDIR_ON_OPEN": "TRUE",
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": str(32 * 2**20),
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
}


def gdal_options() -> dict[str, Any]:
    """:data:`GDAL_OPTIONS`, less those the user set in the process environment."""
    return {k: v for k, v in GDAL_OPTIONS.items() if k not in os.environ}


def gdal_env(decode_threads: str | None = None) -> rasterio.Env:
    """A ``rasterio.Env`` with :func:`gdal_options` (enter it around raster reads).

    ``decode_threads`` overrides ``GDAL_NUM_THREADS`` (e.g. ``"ALL_CPUS"`` when this
    process is the only worker), unless the user set it in the environment.
    """
    options = gdal_options()
    if decode_threads is not None and "GDAL_NUM_THREADS" not in os.environ:
        options["GDAL_NUM_THREADS"] = decode_threads
    return rasterio.Env(**options)
