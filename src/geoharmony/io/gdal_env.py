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

Remote inputs (URLs, ``/vsicurl/``, ``/vsis3/`` COGs), measured against nginx on
loopback with and without 20 ms of added latency per request (``bench/http_options.py``;
table in ``docs/national.md``):

``GDAL_DISABLE_READDIR_ON_OPEN = EMPTY_DIR`` while a remote raster is opened
    With ``TRUE`` GDAL probes nine sidecar names (``.aux.xml``, ``.msk``, ``.aux``, ``.xml``
    in both cases) with one ``HEAD`` each when the plan reads a header: 9 of the 11
    requests of opening a COG, 10-100 ms each on an object store; GDAL's default
    (``FALSE``) lists the folder instead (one more request, refused by most servers).
    Remote sidecars are therefore not read (a COG carries its mask inside).
``GDAL_INGESTED_BYTES_AT_OPEN = 32768``
    The COG header and tile index come in the first ranged GET (one request at open).
``GDAL_HTTP_MERGE_CONSECUTIVE_RANGES``, ``VSI_CACHE``
    The block-aligned rectangles of a task (:mod:`geoharmony.io.reader`) already ask for
    runs of adjacent tiles, which GDAL fetches as ranged requests: 0.29 requests per
    224 px patch of a 256 px-tiled COG, 0.37 of the file's bytes for a region covering
    ~30 % of it (the tiles the windows touch, never a full file). ``GDAL_HTTP_MULTIRANGE``
    = ``YES`` (multipart) changed nothing; ``SERIAL`` saved one request in nine but
    fetched 1.5x the bytes; ``CPL_VSIL_CURL_CHUNK_SIZE`` = 1 MiB changed nothing. They are
    left at GDAL's defaults.
``GDAL_HTTP_MULTIPLEX``, ``GDAL_HTTP_VERSION = 2``
    Parallel ranges of one worker share one HTTP/2 connection where the server speaks
    it (object stores over https); harmless over plain HTTP/1.1.
``GDAL_HTTP_MAX_RETRY = 3``, ``GDAL_HTTP_RETRY_DELAY = 0.5``
    429/5xx answers are retried with growing delays; once they are exhausted the region
    fails with the reason (``failures.json``) and a rerun retries it.
``GDAL_HTTP_TIMEOUT = 60``, ``GDAL_HTTP_CONNECTTIMEOUT = 15``
    A stalled server fails the read instead of hanging the worker (curl has no timeout
    by default).

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
    "GDAL_HTTP_RETRY_DELAY": "0.5",
    "GDAL_HTTP_TIMEOUT": "60",
    "GDAL_HTTP_CONNECTTIMEOUT": "15",
    "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
}

#: Options added while a *remote* raster is opened (see the module docstring).
REMOTE_OPEN_OPTIONS: dict[str, Any] = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}


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


def decode_thread_count(decode_threads: str | None = None) -> int:
    """How many threads decode: the user's ``GDAL_NUM_THREADS``, else ``decode_threads``.

    ``ALL_CPUS`` is the number of cores; no setting or an unreadable one is 1 (GDAL's
    default). A single-process run reads modalities concurrently only when this is over 1.
    """
    value = os.environ.get("GDAL_NUM_THREADS", decode_threads)
    if value is None:
        return 1
    if value.strip().upper() == "ALL_CPUS":
        return os.cpu_count() or 1
    try:
        return max(int(value), 1)
    except ValueError:
        return 1


def open_raster(path: str, *, remote: bool) -> Any:
    """``rasterio.open(path)``; a remote raster under :data:`REMOTE_OPEN_OPTIONS`.

    Call it inside :func:`gdal_env` (the HTTP options apply to every later read too).
    """
    if not remote:
        return rasterio.open(path)
    extra = {k: v for k, v in REMOTE_OPEN_OPTIONS.items() if k not in os.environ}
    with rasterio.Env(**extra):
        return rasterio.open(path)
