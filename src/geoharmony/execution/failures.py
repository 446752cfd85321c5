"""Failure isolation: a region whose raster cannot be read fails alone.

When a task's read of one region's raster fails (unreadable, truncated or corrupt file,
an unreachable server, HTTP errors after GDAL's retries), that region's patches of the
task are written as fill values with masks all false, and the task's record lists the
failure (region, input, path, reason) and is stored as ``NNNNNN.failed.json`` instead of
``NNNNNN.json``, so a resumed run does not count it as done and retries it. Every other
region of the run completes. (A region is failed task by task: its patches in tasks
whose reads succeeded -- e.g. the tiles before a truncation -- are kept.)

When the run ends with failures, the dataset is published with ``complete: false``, a
``failures.json`` beside the manifest and the task records kept, and the command exits
with :data:`EXIT_FAILURES` (3). Rerunning ``extract`` retries only the tasks that had
failures (the rest of the store is kept) and, when they succeed, completes the dataset.
``--fail-fast`` (``fail_fast=True``) stops at the first failure instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import rasterio.errors
from rasterio._err import CPLE_BaseError  # GDAL errors rasterio raises from reads

from geoharmony.errors import InputError
from geoharmony.io.raster_info import RasterInfo
from geoharmony.io.remote import failure_reason

#: File (in the dataset folder) listing the regions that failed.
FAILURES = "failures.json"
#: Exit code of ``geoharmony extract`` when the run completed with failed regions.
EXIT_FAILURES = 3
#: Errors of reading one raster that fail its region only (anything else is a bug and
#: stops the run).
READ_ERRORS: tuple[type[BaseException], ...] = (
    rasterio.errors.RasterioError,
    CPLE_BaseError,
    OSError,
)


#: Reads of a remote raster are retried this many times (after GDAL's own retries) ...
REMOTE_RETRIES = 3
#: ... waiting this long before the first retry, doubling each time (0.5, 1, 2 s).
REMOTE_RETRY_DELAY = 0.5


def with_retries(info: RasterInfo, read: Callable[[], None]) -> None:
    """Run ``read``; for a remote raster, retry it on a read error before giving up.

    Measured against nginx answering 503 for a moment: GDAL retries a plain ranged
    request, but its parallel multi-range path (used for a block-aligned rectangle of
    several tiles) gave up at the first 503 and the tile failed to decode. A retry here
    reopens the raster (the pool never reuses a handle whose read failed) and reads the
    rectangle again; a server still failing after the retries fails the region.
    """
    for attempt in range(REMOTE_RETRIES + 1):
        try:
            read()
            return
        except READ_ERRORS:
            if not info.remote or attempt == REMOTE_RETRIES:
                raise
            time.sleep(REMOTE_RETRY_DELAY * 2**attempt)


def _messages(exc: BaseException) -> list[str]:
    out: list[str] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        msg = str(cur).strip().splitlines()[0] if str(cur).strip() else type(cur).__name__
        if msg not in out:
            out.append(msg)
        cur = cur.__cause__ or cur.__context__
    return out


def reason(info: RasterInfo, exc: BaseException) -> str:
    """Why reading ``info`` failed, in one line.

    For an HTTP source the server is asked once more, so the reason says whether it
    answers with an error status or drops the connection; for a file, GDAL's first and
    deepest messages (e.g. "Read failed ... TIFFFillTile: Read error at row ..., got 0
    bytes").
    """
    msgs = [m.replace(" See previous exception for details.", "") for m in _messages(exc)]
    detail = msgs[0] if len(msgs) == 1 else f"{msgs[0]} ({msgs[-1]})"
    if info.remote:
        return failure_reason(info.path, detail)
    return detail


def failure(region: str, name: str, info: RasterInfo, exc: BaseException) -> dict[str, Any]:
    """The record of one failed read."""
    return {
        "region": region,
        "input": name,
        "path": str(info.path),
        "error": type(exc).__name__,
        "reason": reason(info, exc),
    }


def fail_fast_error(record: Mapping[str, Any]) -> InputError:
    """The error that stops a ``--fail-fast`` run at its first failed read."""
    if record.get("stage") == "plan":  # the reason already names file and rule
        return InputError(
            f"{record['reason']} (region {record['region']!r}, [modalities.{record['input']}]);"
            " stopped at the first failure (--fail-fast); without it the other regions "
            "would complete"
        )
    return InputError(
        f"{record['path']}: reading [modalities.{record['input']}] for region "
        f"{record['region']!r} failed: {record['reason']}; stopped at the first failure "
        "(--fail-fast); without it the other regions would complete"
    )


def task_record_name(index: int, failed: bool) -> str:
    """File name of a task's record: ``.failed.json`` ones are retried by a rerun."""
    return f"{index:06d}.failed.json" if failed else f"{index:06d}.json"


def collect(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every failure of the task records, one per (region, input), sorted."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in records:
        for f in rec.get("failures", ()):
            key = (str(f["region"]), str(f["input"]))
            entry = seen.setdefault(key, {**f, "tasks": []})
            entry["tasks"].append(int(rec["task"]))
    return [seen[k] for k in sorted(seen)]


def read_failures(root: Path) -> list[dict[str, Any]]:
    """The failures listed in a dataset folder (empty when it has none)."""
    p = Path(root) / FAILURES
    if not p.is_file():
        return []
    data = json.loads(p.read_text(encoding="utf-8"))
    return list(data.get("failures", []))


def summary(failures: Sequence[Mapping[str, Any]], limit: int = 5) -> str:
    """One line naming the failed regions and why (the first ``limit``)."""
    regions = sorted({str(f["region"]) for f in failures})
    parts = [f"{f['region']} ({f['input']}: {f['reason']})" for f in failures[:limit]]
    more = f"; and {len(failures) - limit} more" if len(failures) > limit else ""
    return f"{len(regions)} region(s) failed: " + "; ".join(parts) + more
