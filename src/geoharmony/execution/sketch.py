"""Mergeable quantile sketches: exact histograms for small integers, log buckets otherwise.

Percentiles are computed in the same single pass as the moments, per task, and merged
exactly across tasks by adding bucket counts, so they cost no second read of the data.

* **Integers of at most 16 bits** (``uint8``, ``int8``, ``uint16``, ``int16``): one bucket
  per value (``kind = "exact"``): the percentiles are exact.
* **Everything else** (``kind = "log"``, after DDSketch, Masson et al. 2019): a value
  ``x`` with ``|x| >= MIN_ABS`` falls in bucket ``k = ceil(log_gamma |x|)`` of its sign,
  ``gamma = (1 + ALPHA) / (1 - ALPHA)``; ``|x| < MIN_ABS`` counts as 0. A bucket is
  represented by ``2 gamma^k / (gamma + 1)``, which lies within a relative ``ALPHA`` of
  every value in the bucket.

**Error bound.** :func:`quantile` returns, for ``q`` in [0, 100], an estimate of the
element of rank ``r = floor(q / 100 * (n - 1))`` of the sorted valid values (numpy's
``np.percentile(v, q, method="lower")``) with ``|estimate - v[r]| <= ALPHA * |v[r]|
+ MIN_ABS``; exact for ``kind = "exact"``. Estimates are clamped to ``[min, max]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

#: Relative accuracy of the log-bucket sketch.
ALPHA = 0.005
#: Magnitudes below this count as zero (absolute error bound near 0).
MIN_ABS = 1e-9
_GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LN_GAMMA = math.log(_GAMMA)

Sketch = dict[str, Any]  # {"kind": "exact"|"log", "v"|"p"/"n"/"z": counts}


def sketch_kind(dtype: np.dtype[Any]) -> str:
    """``"exact"`` for integers of at most 16 bits, else ``"log"``."""
    dtype = np.dtype(dtype)
    return "exact" if dtype.kind in "iub" and dtype.itemsize <= 2 else "log"


def empty(kind: str) -> Sketch:
    """A sketch of no values."""
    return {"kind": kind, "v": {}} if kind == "exact" else {"kind": kind, "p": {}, "n": {}, "z": 0}


def _add_counts(acc: dict[int, int], keys: np.ndarray) -> None:
    if not len(keys):
        return
    lo = int(keys.min())
    counts = np.bincount(keys - lo)
    for k in np.flatnonzero(counts).tolist():
        acc[k + lo] = acc.get(k + lo, 0) + int(counts[k])


def update(sk: Sketch, values: np.ndarray) -> None:
    """Add ``values`` (1-D, all valid) to a sketch, in place."""
    if not len(values):
        return
    if sk["kind"] == "exact":
        _add_counts(sk["v"], values.astype(np.int64))
        return
    v = np.asarray(values, dtype=np.float64)
    a = np.abs(v)
    big = a >= MIN_ABS
    sk["z"] += int(len(v) - np.count_nonzero(big))
    keys = np.ceil(np.log(a[big]) / _LN_GAMMA).astype(np.int64)
    pos = v[big] > 0
    _add_counts(sk["p"], keys[pos])
    _add_counts(sk["n"], keys[~pos])


def merge(a: Sketch, b: Sketch) -> Sketch:
    """The sketch of the union of both value sets (exact: counts add)."""
    out: Sketch = {k: (dict(v) if isinstance(v, dict) else v) for k, v in a.items()}
    if a["kind"] != b["kind"]:
        raise ValueError(f"cannot merge a {a['kind']!r} sketch with a {b['kind']!r} one")
    for part in ("v", "p", "n"):
        if part in b:
            acc = out[part]
            for k, c in b[part].items():
                acc[int(k)] = acc.get(int(k), 0) + int(c)
    if "z" in b:
        out["z"] = int(out["z"]) + int(b["z"])
    return out


def from_json(raw: Mapping[str, Any]) -> Sketch:
    """A sketch from its JSON form (keys are strings there)."""
    out: Sketch = {"kind": raw["kind"]}
    for part in ("v", "p", "n"):
        if part in raw:
            out[part] = {int(k): int(c) for k, c in raw[part].items()}
    if "z" in raw:
        out["z"] = int(raw["z"])
    return out


def to_json(sk: Sketch) -> dict[str, Any]:
    """JSON-ready form."""
    out: dict[str, Any] = {"kind": sk["kind"]}
    for part in ("v", "p", "n"):
        if part in sk:
            out[part] = {str(k): c for k, c in sorted(sk[part].items())}
    if "z" in sk:
        out["z"] = sk["z"]
    return out


def _buckets(sk: Sketch) -> Iterable[tuple[float, int]]:
    """(representative value, count) in increasing value order."""
    if sk["kind"] == "exact":
        for k in sorted(sk["v"]):
            yield float(k), sk["v"][k]
        return
    rep = 2.0 / (_GAMMA + 1.0)
    for k in sorted(sk["n"], reverse=True):
        yield -rep * _GAMMA**k, sk["n"][k]
    if sk["z"]:
        yield 0.0, sk["z"]
    for k in sorted(sk["p"]):
        yield rep * _GAMMA**k, sk["p"][k]


def quantile(sk: Sketch, q: float, lo: float, hi: float) -> float | None:
    """Estimate of the ``q``-th percentile (see the module docstring for the bound).

    ``lo``/``hi`` are the exact min and max (the estimate is clamped to them); None when
    the sketch holds no value.
    """
    n = sum(c for _, c in _buckets(sk))
    if n == 0:
        return None
    rank = math.floor(q / 100.0 * (n - 1))
    seen = 0
    for value, c in _buckets(sk):
        seen += c
        if seen > rank:
            return float(min(max(value, lo), hi))
    return float(hi)  # pragma: no cover - counts always reach n
