"""Frozen values <-> JSON, driven by the dataclasses' own type hints.

Any frozen dataclass made of the types below round-trips without a hand-written
serialiser, so a field added to a dataclass (``Plan``, ``Grid``, ``OutputSpec``, a config
table ...) is stored and read back with no change here:

===========================  =============================================================
type hint                    JSON form
===========================  =============================================================
dataclass                    object of its fields (every field, by name)
``str``/``int``/``bool``     itself
``float``                    number; ``{"$float": "NaN"}`` (or ``"Infinity"``, ``"-Infinity"``)
``Path``                     string
``pyproj.CRS``               WKT2 string
``affine.Affine``            the six coefficients ``[a, b, c, d, e, f]``
``tuple[X, ...]``/``list``   array
``Mapping[str, X]``/``dict`` object (key order kept)
``X | None``                 ``null`` or X
``Enum``/``Literal``         the value
``frozenset[X]``/``set``     sorted array
``Any``                      JSON as is; a shapely geometry as ``{"$wkb": base64}``
===========================  =============================================================

Other types (a ``pandas.DataFrame`` ...) go through ``hooks``: ``{type: (encode, decode)}``.
A field missing from the JSON (written before the field existed) takes its default; a
field without a default is an error naming it. :func:`same` compares values as the
round trip preserves them (NaN equals NaN, frames by content and dtypes).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import enum
import math
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from pyproj import CRS

#: ``{type: (encode(value) -> JSON, decode(JSON) -> value)}`` for types the codec lacks.
Hooks = Mapping[type, tuple[Callable[[Any], Any], Callable[[Any], Any]]]

_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class CodecError(ValueError):
    """A JSON value does not fit the type it is decoded into."""


def _float(v: float) -> Any:
    if math.isfinite(v):
        return float(v)
    return {"$float": "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")}


def _is_geometry(v: Any) -> bool:
    import shapely

    return isinstance(v, shapely.Geometry)


# -- encode ------------------------------------------------------------------------------
def encode(value: Any, hooks: Hooks | None = None) -> Any:
    """The JSON form of ``value`` (see the module docstring)."""
    hooks = hooks or {}
    for t, (enc, _) in hooks.items():
        if isinstance(value, t):
            return enc(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name), hooks) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return encode(value.value, hooks)
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _float(float(value))
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime.date | datetime.time):  # TOML dates in a raw config
        return value.isoformat()
    if isinstance(value, CRS):
        return value.to_wkt()
    if isinstance(value, Affine):
        return [float(v) for v in tuple(value)[:6]]
    if isinstance(value, Mapping):
        return {str(k): encode(v, hooks) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray | frozenset | set):
        if isinstance(value, frozenset | set):
            value = sorted(value)
        return [encode(v, hooks) for v in value]
    if _is_geometry(value):
        import shapely

        return {"$wkb": base64.b64encode(shapely.to_wkb(value)).decode("ascii")}
    raise CodecError(f"cannot encode a {type(value).__name__} as JSON; add a hook for it")


# -- decode ------------------------------------------------------------------------------
def decode(tp: Any, data: Any, hooks: Hooks | None = None, *, where: str = "") -> Any:
    """The value of type ``tp`` that :func:`encode` turned into ``data``."""
    hooks = hooks or {}
    if isinstance(tp, type) and tp in hooks:
        return hooks[tp][1](data)
    if tp is Any or tp is object:
        return _decode_any(data)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        _need(data in typing.get_args(tp), data, tp, where)
        return data
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(data)
    if origin in (frozenset, set):
        (arg,) = typing.get_args(tp) or (Any,)
        _need(isinstance(data, list), data, tp, where)
        return origin(decode(arg, v, hooks, where=where) for v in data)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if data is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return decode(a, data, hooks, where=where)
            except (CodecError, TypeError, ValueError, KeyError) as exc:
                errors.append(str(exc))
        raise CodecError(f"{where or 'value'}: {data!r} fits none of {tp} ({'; '.join(errors)})")
    if origin is tuple:
        args = typing.get_args(tp)
        _need(isinstance(data, list), data, tp, where)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], v, hooks, where=where) for v in data)
        _need(len(args) == len(data), data, tp, where)
        return tuple(decode(a, v, hooks, where=where) for a, v in zip(args, data, strict=True))
    if origin in (list, typing.Sequence, typing.get_origin(typing.Sequence[int])):
        (arg,) = typing.get_args(tp) or (Any,)
        _need(isinstance(data, list), data, tp, where)
        return [decode(arg, v, hooks, where=where) for v in data]
    if origin in (dict, Mapping, typing.get_origin(Mapping[str, int])):
        _, arg = typing.get_args(tp) or (str, Any)
        _need(isinstance(data, dict), data, tp, where)
        return {k: decode(arg, v, hooks, where=f"{where}.{k}") for k, v in data.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _decode_dataclass(tp, data, hooks, where)
    if tp is bool:
        _need(isinstance(data, bool), data, tp, where)
        return data
    if tp is int:
        _need(isinstance(data, int) and not isinstance(data, bool), data, tp, where)
        return data
    if tp is float:
        if isinstance(data, dict):
            _need(data.get("$float") in _FLOATS, data, tp, where)
            return _FLOATS[data["$float"]]
        _need(isinstance(data, int | float) and not isinstance(data, bool), data, tp, where)
        return float(data)
    if tp is str:
        _need(isinstance(data, str), data, tp, where)
        return data
    if tp is Path:
        _need(isinstance(data, str), data, tp, where)
        return Path(data)
    if tp is CRS:
        _need(isinstance(data, str), data, tp, where)
        return CRS.from_wkt(data)
    if tp is Affine:
        _need(isinstance(data, list) and len(data) == 6, data, tp, where)
        return Affine(*(float(v) for v in data))
    raise CodecError(f"{where or 'value'}: cannot decode type {tp}; add a hook for it")


def _need(ok: bool, data: Any, tp: Any, where: str) -> None:
    if not ok:
        raise CodecError(f"{where or 'value'}: expected {tp}, found {data!r}"[:300])


def _decode_any(data: Any) -> Any:
    if isinstance(data, dict):
        if set(data) == {"$wkb"}:
            import shapely

            return shapely.from_wkb(base64.b64decode(data["$wkb"]))
        if set(data) == {"$float"}:
            return _FLOATS[data["$float"]]
        return {k: _decode_any(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_decode_any(v) for v in data]
    return data


def _decode_dataclass(tp: type, data: Any, hooks: Hooks, where: str) -> Any:
    _need(isinstance(data, dict), data, tp, where)
    hints = typing.get_type_hints(tp)
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(tp):
        if not f.init:
            continue
        here = f"{where}.{f.name}" if where else f.name
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise CodecError(f"{here}: missing (written by another version?)")
            continue
        kw[f.name] = decode(hints[f.name], data[f.name], hooks, where=here)
    return tp(**kw)


# -- compare -----------------------------------------------------------------------------
def same(a: Any, b: Any) -> bool:
    """Deep equality as a JSON round trip preserves it.

    Dataclasses field by field, mappings by keys and values, sequences item by item,
    floats with NaN equal to NaN, numpy arrays with ``equal_nan``, pandas frames by
    columns, dtypes and values; anything else with ``==``.
    """
    if a is b:
        return True
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        if type(a) is not type(b):
            return False
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a_, b_ = np.asarray(a), np.asarray(b)
        return a_.shape == b_.shape and bool(
            np.array_equal(a_, b_, equal_nan=a_.dtype.kind in "fc" and b_.dtype.kind in "fc")
        )
    if hasattr(a, "equals") and hasattr(a, "dtypes"):  # pandas DataFrame / Series
        if type(a) is not type(b) or not hasattr(b, "dtypes"):
            return False
        cols_a = list(getattr(a, "columns", []))
        if cols_a != list(getattr(b, "columns", [])):
            return False
        return bool(a.equals(b)) and [str(t) for t in np.atleast_1d(a.dtypes)] == [
            str(t) for t in np.atleast_1d(b.dtypes)
        ]
    return bool(a == b)
