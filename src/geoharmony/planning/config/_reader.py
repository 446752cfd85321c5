"""Reading one TOML table: types checked, unknown keys refused with the nearest name."""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any

from geoharmony.errors import ConfigError

#: The longest file or folder name most file systems take (bytes).
MAX_NAME_BYTES = 255


class TableReader:
    """Reads one TOML table, checking types and refusing unknown keys."""

    def __init__(self, file: Path, table: str, data: Any, allowed: tuple[str, ...]) -> None:
        self.file, self.table = file, table
        if not isinstance(data, dict):
            self.fail("", f"must be a table, found {type(data).__name__} {data!r}")
        self.data: dict[str, Any] = data
        for key in data:
            if key not in allowed:
                near = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean {near[0]!r}?" if near else f"valid keys: {', '.join(allowed)}"
                self.fail(key, f"is not a known key; {hint}")

    def where(self, key: str) -> str:
        if not self.table:  # the top level: its keys are table names
            return f"{self.file}: [{key}]" if key else f"{self.file}:"
        return f"{self.file}: [{self.table}]" + (f".{key}" if key else "")

    def fail(self, key: str, msg: str) -> None:
        raise ConfigError(f"{self.where(key)} {msg}")

    def get(
        self,
        key: str,
        kind: type | tuple[type, ...],
        default: Any = None,
        *,
        required: bool = False,
    ) -> Any:
        if key not in self.data:
            if required:
                self.fail(key, "is required but missing")
            return default
        v = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int subclass: refuse it where a number is wanted
        if (isinstance(v, bool) and bool not in kinds) or not isinstance(v, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            self.fail(key, f"must be {names}, found {type(v).__name__} {v!r}")
        return v

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        v = self.get(key, str, default)
        if v not in choices:
            near = difflib.get_close_matches(v, choices, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            self.fail(key, f"must be one of {', '.join(choices)}, found {v!r}{hint}")
        return str(v)

    def positive_int(
        self,
        key: str,
        default: int | None = None,
        *,
        required: bool = False,
        maximum: int | None = None,
    ) -> int:
        v = self.get(key, int, default, required=required)
        if v is None or v <= 0:
            self.fail(key, f"must be a positive integer, found {v!r}")
        if maximum is not None and v > maximum:
            self.fail(key, f"must be at most {maximum}, found {v!r}")
        return int(v)

    def path(self, key: str, base: Path, *, required: bool = True) -> Path | None:
        v = self.get(key, str, None, required=required)
        if v is None:
            return None
        self.check_path(key, v)
        p = Path(v).expanduser()
        return p if p.is_absolute() else (base / p)

    def check_path(self, key: str, v: str) -> None:
        """Refuse a path no file system takes: empty, NUL, too long, a too-long name."""
        if not v.strip() or "\x00" in v:
            self.fail(key, f"must be a file path, found {v!r}")
        if len(v) > 4096:
            self.fail(key, f"is {len(v)} characters long; a path has at most 4096")
        long = max(Path(v).parts, key=lambda part: len(part.encode()), default="")
        if len(long.encode()) > MAX_NAME_BYTES:
            self.fail(
                key,
                f"has a file or folder name of {len(long.encode())} bytes "
                f"({long[:24]!r}...); a name has at most {MAX_NAME_BYTES}",
            )


def number(r: TableReader, key: str, default: float | None) -> float | None:
    """A finite number (int or float) or ``default``."""
    v = r.get(key, (int, float), default)
    if v is None:
        return None
    try:
        f = float(v)
    except OverflowError:
        f = math.inf
    if not math.isfinite(f):
        r.fail(key, f"must be a finite number, found {v!r}")
    return f
