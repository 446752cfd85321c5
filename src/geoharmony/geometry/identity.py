"""Values derived from objects passed again and again, cached by the objects' identity.

A pyproj ``CRS`` hashes and compares through its WKT (~30 us a call), yet a plan or a task
passes the same few CRS objects thousands of times. Keying by ``id`` skips that; each
entry keeps its objects alive, so their ids cannot be reused by other objects while
cached. Bounded: the cache empties when it grows past ``bound`` entries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class IdentityCache(Generic[V]):
    """``get(objects, make)``: ``make()``'s value for these very objects, made once."""

    def __init__(self, bound: int) -> None:
        self._bound = bound
        self._entries: dict[tuple[int, ...], tuple[tuple[object, ...], V]] = {}

    def get(self, objects: tuple[object, ...], make: Callable[[], V]) -> V:
        """The value cached for ``objects`` (by identity), made by ``make`` on a miss."""
        key = tuple(id(o) for o in objects)
        hit = self._entries.get(key)
        if hit is not None and all(a is b for a, b in zip(hit[0], objects, strict=True)):
            return hit[1]
        if len(self._entries) >= self._bound:
            self._entries.clear()
        value = make()
        self._entries[key] = (objects, value)
        return value
