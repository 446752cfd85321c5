"""glibc ``malloc`` settings for task processes: big arrays reused, not mapped afresh.

A task allocates arrays of several MB (patch stacks, the union of its windows,
temporaries of the statistics). glibc serves an allocation above ``M_MMAP_THRESHOLD``
with a fresh ``mmap`` and unmaps it on ``free``, so the next task page-faults it in
again. The threshold normally grows with use (up to 32 MiB), but setting any malloc
tunable fixes it, and Dask's nanny starts every worker with
``MALLOC_TRIM_THRESHOLD_=65536``: a task then runs at about half speed (8.9 ms per patch
in a plain process, 17.4 with that variable; ``bench/national.py``'s Dask rows).

:func:`tune` (called by every task, acting once per process) sets the mmap threshold to
its 32 MiB maximum and keeps up to :data:`TRIM_BYTES` of free heap for the next task.
Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import os

#: Free heap kept for the next task before glibc returns memory to the system.
TRIM_BYTES = 256 * 2**20
_MMAP_BYTES = 32 * 2**20  # glibc's maximum for M_MMAP_THRESHOLD on 64-bit systems
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_TUNED_PID = 0


def tune() -> bool:
    """Set this process's malloc thresholds (once per process); whether they were set."""
    global _TUNED_PID
    if os.getpid() == _TUNED_PID:
        return True
    _TUNED_PID = os.getpid()
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc (macOS, Windows, musl)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    ok = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_BYTES))
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES)) and ok
