"""Mergeable quantile sketches: exact histograms for small integers, log buckets otherwise.

Percentiles are computed in the same single pass as the moments, per task, and merged
exactly across tasks by adding bucket counts, so they cost no second read of the data.

* **Integers of at most 16 bits** (``uint8``, ``int8``, ``uint16``, ``int16``): one bucket
  per value (``kind = "exact"``): the percentiles are exact.
* **Everything else** (``kind = "log"``, a log-linear bucketing after DDSketch, Masson et
  al. 2019): a value ``x`` with ``|x| >= MIN_ABS`` falls in bucket ``k`` of its sign, the
  top bits of the IEEE-754 float64 pattern of ``|x|`` (11 exponent bits and the first
  ``MANTISSA_BITS`` mantissa bits: one integer shift, no logarithm); ``|x| < MIN_ABS``
  counts as 0. A bucket spans ``[lo, hi)`` with ``hi / lo <= 1 + 2**-MANTISSA_BITS`` and is
  represented by its midpoint, which lies within a relative ``2**-MANTISSA_BITS / (2 +
  2**-MANTISSA_BITS)`` (0.39 %) of every value in it, below ``ALPHA``.

**Error bound.** :func:`quantile` returns, for ``q`` in [0, 100], an estimate of the
element of rank ``r = floor(q / 100 * (n - 1))`` of the sorted valid values (numpy's
``np.percentile(v, q, method="lower")``) with ``|estimate - v[r]| <= ALPHA * |v[r]|
+ MIN_ABS``; exact for ``kind = "exact"``. Estimates are clamped to ``[min, max]``.
"""

from __future__ import annotations

import base64
import math
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

#: Relative accuracy of the log-bucket sketch.
ALPHA = 0.005
#: Magnitudes below this count as zero (absolute error bound near 0).
MIN_ABS = 1e-9
#: Mantissa bits kept in a log bucket's key (bucket width 2**-7 = 0.78 % of its values).
MANTISSA_BITS = 7
_SHIFT = 52 - MANTISSA_BITS


class Counts:
    """Bucket counts of one sign (or of the exact values): dense from bucket ``lo`` on.

    Dense ``int64`` arrays keep updates and merges vectorised (a ``bincount`` and an
    add); the span of a band's buckets is small (a few thousand at most for 16-bit
    integers or log buckets of one cell's values).
    """

    __slots__ = ("c", "lo")

    def __init__(self, lo: int = 0, c: np.ndarray | None = None) -> None:
        self.lo = int(lo)
        self.c = np.zeros(0, np.int64) if c is None else np.asarray(c, np.int64)

    def add_keys(self, keys: np.ndarray) -> None:
        """Count every bucket number in ``keys`` (int64)."""
        if not len(keys):
            return
        lo = int(keys.min())
        self.add(Counts(lo, np.bincount(keys - lo)))

    def add(self, other: Counts) -> None:
        """Add another's counts (exact)."""
        if not len(other.c):
            return
        if not len(self.c):
            self.lo, self.c = other.lo, other.c.copy()
            return
        lo = min(self.lo, other.lo)
        hi = max(self.lo + len(self.c), other.lo + len(other.c))
        if lo != self.lo or hi != self.lo + len(self.c):
            grown = np.zeros(hi - lo, np.int64)
            grown[self.lo - lo : self.lo - lo + len(self.c)] = self.c
            self.lo, self.c = lo, grown
        self.c[other.lo - lo : other.lo - lo + len(other.c)] += other.c

    def _trimmed(self) -> tuple[int, np.ndarray]:
        if len(self.c) and self.c[0] and self.c[-1]:  # already trimmed (the usual case)
            return self.lo, self.c
        nz = np.flatnonzero(self.c)
        if not len(nz):
            return 0, self.c[:0]
        return self.lo + int(nz[0]), self.c[nz[0] : nz[-1] + 1]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Counts):
            return NotImplemented
        (a, x), (b, y) = self._trimmed(), other._trimmed()
        return a == b and np.array_equal(x, y)

    def copy(self) -> Counts:
        """An independent copy."""
        return Counts(self.lo, self.c.copy())

    def to_json(self) -> list[Any]:
        """``[lo, base64(zlib(counts)), dtype]``: compact and fast to encode and decode.

        The counts are stored little-endian in the narrowest unsigned type that holds the
        largest (``"<u1"`` to ``"<u4"``, else ``"<i8"``): a 16-bit band's histogram spans
        tens of thousands of buckets, and zlib's time goes with the bytes.
        """
        lo, c = self._trimmed()
        top = int(c.max()) if len(c) else 0
        dtype = next(d for d, cap in _COUNT_TYPES if top <= cap)
        raw = zlib.compress(c.astype(dtype).tobytes(), 1)
        return [lo, base64.b64encode(raw).decode("ascii"), dtype]

    @classmethod
    def from_json(cls, raw: Any) -> Counts:
        """Counts from :meth:`to_json`'s form (``[lo, data]``: int64, the older form)."""
        lo, data, dtype = (*raw, "<i8") if len(raw) == 2 else raw
        if dtype not in _COUNT_DTYPES:
            raise ValueError(f"sketch counts of unknown type {dtype!r}")
        c = np.frombuffer(zlib.decompress(base64.b64decode(data)), dtype).astype(np.int64)
        return cls(int(lo), c)


#: Stored types of sketch counts, narrowest first, with the largest count each holds.
_COUNT_TYPES = (("<u1", 0xFF), ("<u2", 0xFFFF), ("<u4", 0xFFFFFFFF), ("<i8", 2**63 - 1))
_COUNT_DTYPES = {d for d, _ in _COUNT_TYPES}


Sketch = dict[str, Any]  # {"kind": "exact"|"log", "v"|"p"/"n": Counts, "z": int}
_PARTS = ("v", "p", "n")


def sketch_kind(dtype: np.dtype[Any]) -> str:
    """``"exact"`` for integers of at most 16 bits, else ``"log"``."""
    dtype = np.dtype(dtype)
    return "exact" if dtype.kind in "iub" and dtype.itemsize <= 2 else "log"


def empty(kind: str) -> Sketch:
    """A sketch of no values."""
    if kind == "exact":
        return {"kind": kind, "v": Counts()}
    return {"kind": kind, "p": Counts(), "n": Counts(), "z": 0}


#: Values per step of :func:`update`: its temporaries stay in the CPU cache and are reused
#: (fresh multi-MB temporaries cost more in page faults than the arithmetic).
_STEP = 1 << 15


def update(sk: Sketch, values: np.ndarray) -> None:
    """Add ``values`` (1-D, all valid) to a sketch, in place."""
    if not len(values):
        return
    if sk["kind"] == "exact":
        if values.dtype.kind in "ub":
            sk["v"].add(Counts(0, np.bincount(values)))  # no shift needed: values >= 0
        else:
            sk["v"].add_keys(values.astype(np.int64))
        return
    n = min(len(values), _STEP)
    a, f = np.empty(n), np.empty(n, np.int64)
    for s in range(0, len(values), _STEP):
        v = values[s : s + _STEP]
        m = len(v)
        x = a[:m]
        np.abs(v, out=x, dtype=np.float64, casting="unsafe")
        big = x >= MIN_ABS
        nbig = int(np.count_nonzero(big))
        sk["z"] += m - nbig
        if nbig != m:
            v, x = v[big], x[big]
        keys = f[: len(x)]
        np.right_shift(x.view(np.int64), _SHIFT, out=keys)  # float bits: monotone in |x|
        pos = v > 0
        npos = int(np.count_nonzero(pos))
        if npos == len(v):
            sk["p"].add_keys(keys)
        elif npos == 0:
            sk["n"].add_keys(keys)
        else:
            sk["p"].add_keys(keys[pos])
            sk["n"].add_keys(keys[~pos])


# -- float32: the same buckets from the top 16 bits of each value, no float64 pass ----------
#: A float32 value's top 16 bits: sign, 8 exponent bits and the first 7 mantissa bits, the
#: bits a float64 bucket key keeps (the exponent re-biased): 65,536 possible keys.
F32_KEYS = 1 << 16
_F32_TO_F64 = (1023 - 127) << MANTISSA_BITS  # key offset between the two exponent biases
_F32_MAG = 1 << 15  # keys from here on are negative values
_F32_INF = 0xFF << MANTISSA_BITS  # magnitudes from here on: inf or NaN (exponent 255)
#: The float32 key whose bucket holds MIN_ABS (values on both sides of the threshold).
_F32_MIN = (int(np.array(MIN_ABS).view(np.int64)) >> _SHIFT) - _F32_TO_F64


def f32_keys(values: np.ndarray) -> np.ndarray:
    """The 16-bit bucket keys of float32 ``values`` (a strided view: no copy, no pass)."""
    v = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    half = v.view(np.uint16)
    return half[1::2] if np.little_endian else half[0::2]


def f32_counts(values: np.ndarray, counts: Counts | None) -> Counts:
    """``counts`` plus float32 ``values``' key counts (in place; a new Counts for None).

    The counts span the keys seen only (from the smallest): a cell of DEM heights touches
    a few hundred of the 65,536 keys, and zero-filling all of them per batch would cost
    more than counting.
    """
    keys = f32_keys(values)
    if not len(keys):
        return counts if counts is not None else Counts()
    lo = int(keys.min())
    new = Counts(lo, np.bincount(np.subtract(keys, lo, dtype=np.uint16)))
    if counts is None:
        return new
    counts.add(new)
    return counts


def _keys(counts: Counts, a: int, b: int) -> np.ndarray:
    """The counts of keys ``a .. b - 1`` that ``counts`` holds (a view; maybe empty)."""
    lo, hi = max(a, counts.lo), min(b, counts.lo + len(counts.c))
    return counts.c[lo - counts.lo : hi - counts.lo] if hi > lo else counts.c[:0]


def f32_exact(counts: Counts) -> bool:
    """Whether :func:`from_f32_counts` gives exactly :func:`update`'s sketch.

    False when some value is inf or NaN (exponent 255) or shares MIN_ABS's bucket: there
    the top bits do not tell which side of the rule a value is on, and the caller runs
    :func:`update` on the values instead.
    """
    for base in (0, _F32_MAG):
        odd = _keys(counts, base + _F32_INF, base + _F32_MAG)
        if odd.any() or _keys(counts, base + _F32_MIN, base + _F32_MIN + 1).any():
            return False
    return True


def from_f32_counts(counts: Counts) -> Sketch:
    """The sketch :func:`update` makes of the values counted (needs :func:`f32_exact`).

    Magnitudes below MIN_ABS's bucket (zeros, subnormals, tiny values) count as zero;
    every other key is the float64 key of the same bucket (exponent re-biased).
    """
    out = empty("log")
    for part, base in (("p", 0), ("n", _F32_MAG)):
        first = base + _F32_MIN + 1
        c = _keys(counts, first, base + _F32_INF)
        nz = np.flatnonzero(c)
        if len(nz):
            start = max(first, counts.lo) + int(nz[0])  # its float32 key
            out[part] = Counts(start - base + _F32_TO_F64, c[nz[0] : nz[-1] + 1].copy())
        out["z"] += int(_keys(counts, base, base + _F32_MIN).sum())
    return out


def merge(a: Sketch, b: Sketch) -> Sketch:
    """The sketch of the union of both value sets (exact: counts add)."""
    return merge_all([a, b])


def merge_all(sketches: list[Sketch]) -> Sketch:
    """The sketch of the union of all value sets (exact: counts are integers).

    Each part's counts are added into one array: no copy per pairwise step.
    """
    if not sketches:
        raise ValueError("merge_all needs at least one sketch")
    kinds = {sk["kind"] for sk in sketches}
    if len(kinds) > 1:
        raise ValueError(f"cannot merge sketches of kinds {sorted(kinds)}")
    out: Sketch = {"kind": sketches[0]["kind"]}
    for part in _PARTS:
        parts = [sk[part] for sk in sketches if part in sk]
        if not parts:
            continue
        full = [c for c in parts if len(c.c)]
        if not full:
            out[part] = Counts()
            continue
        lo = min(c.lo for c in full)
        hi = max(c.lo + len(c.c) for c in full)
        acc = np.zeros(hi - lo, np.int64)
        for c in full:
            acc[c.lo - lo : c.lo - lo + len(c.c)] += c.c
        out[part] = Counts(lo, acc)
    if any("z" in sk for sk in sketches):
        out["z"] = sum(int(sk.get("z", 0)) for sk in sketches)
    return out


def from_json(raw: Mapping[str, Any]) -> Sketch:
    """A sketch from its JSON form (:func:`to_json`)."""
    out: Sketch = {"kind": raw["kind"]}
    for part in _PARTS:
        if part in raw:
            out[part] = Counts.from_json(raw[part])
    if "z" in raw:
        out["z"] = int(raw["z"])
    return out


def to_json(sk: Sketch) -> dict[str, Any]:
    """JSON-ready form: each part ``[lo, base64 of zlib'd int64 counts]``."""
    out: dict[str, Any] = {"kind": sk["kind"]}
    for part in _PARTS:
        if part in sk:
            out[part] = sk[part].to_json()
    if "z" in sk:
        out["z"] = sk["z"]
    return out


def _midpoint(keys: np.ndarray) -> np.ndarray:
    """Midpoint of each log bucket: between the floats whose top bits are ``k``, ``k + 1``."""
    k = np.asarray(keys, dtype=np.int64)
    lo = np.left_shift(k, _SHIFT).view(np.float64)
    hi = np.left_shift(k + 1, _SHIFT).view(np.float64)
    return np.asarray((lo + hi) / 2.0)


def quantile(sk: Sketch, q: float, lo: float, hi: float) -> float | None:
    """Estimate of the ``q``-th percentile (see the module docstring for the bound).

    ``lo``/``hi`` are the exact min and max (the estimate is clamped to them); None when
    the sketch holds no value.
    """
    return quantiles(sk, (q,), lo, hi)[0]


def quantiles(sk: Sketch, qs: tuple[float, ...], lo: float, hi: float) -> list[float | None]:
    """:func:`quantile` for each of ``qs``, from one cumulative sum of the dense counts.

    No gather of the non-empty buckets: only the buckets found get a value.
    """
    if sk["kind"] == "exact":
        c = sk["v"]
        cum = np.cumsum(c.c)
    else:  # in value order: negative magnitudes descending, zeros, positive ascending
        neg, pos = sk["n"], sk["p"]
        cum = np.cumsum(np.concatenate([neg.c[::-1], [int(sk["z"])], pos.c]))
    n = int(cum[-1]) if len(cum) else 0
    if n == 0:
        return [None] * len(qs)
    ranks = [math.floor(q / 100.0 * (n - 1)) for q in qs]
    found = np.searchsorted(cum, ranks, side="right").tolist()  # first bucket with cum > rank
    out: list[float | None] = []
    for i in found:
        if sk["kind"] == "exact":
            v = float(c.lo + i)
        elif i < len(neg.c):
            v = -float(_midpoint(np.array([neg.lo + len(neg.c) - 1 - i]))[0])
        elif i == len(neg.c):
            v = 0.0
        else:
            v = float(_midpoint(np.array([pos.lo + i - len(neg.c) - 1]))[0])
        out.append(float(min(max(v, lo), hi)))
    return out
