"""Fault injection for crash tests: ``GEOHARMONY_FAULT=<point>[:<n>]`` kills the process.

At each instrumented point the code calls :func:`point`; when the environment variable
names that point, the process sends itself ``SIGKILL`` at the ``n``-th time it gets there
(default the first): no ``finally`` block, no atexit handler runs, exactly like a power
cut or ``kill -9``. Tests use it to check that every intermediate state on disk resumes
(or is cleaned up) to the same content as an uninterrupted run. Unset, :func:`point` costs
one dictionary lookup. ``GEOHARMONY_DELAY=<point>:<seconds>`` sleeps there instead (to make
two runs overlap in tests).
"""

from __future__ import annotations

import os
import signal
import time

ENV = "GEOHARMONY_FAULT"
DELAY_ENV = "GEOHARMONY_DELAY"
_SEEN: dict[str, int] = {}


def point(name: str) -> None:
    """Die here (SIGKILL) when ``$GEOHARMONY_FAULT`` names this point."""
    delay = os.environ.get(DELAY_ENV)
    if delay:
        where, _, secs = delay.partition(":")
        if where == name:
            time.sleep(float(secs or 1))
    spec = os.environ.get(ENV)
    if not spec:
        return
    want, _, nth = spec.partition(":")
    if want != name:
        return
    _SEEN[name] = _SEEN.get(name, 0) + 1
    if _SEEN[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
