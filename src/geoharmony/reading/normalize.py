"""Loader normalisation: per-band ``(x - mean) / std`` on valid pixels only.

Masked pixels (nodata, off-raster) are not data: normalising them would turn a DEM's
-9999 into -399.5, a value a network learns from. They are set to ``fill`` (default 0,
the mean after normalisation). Keys must name raster outputs of the dataset, and mean
and std must have one value per band; anything else is refused.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from geoharmony.errors import ConfigError

Stats = tuple[np.ndarray, np.ndarray]


def check_normalize(
    normalize: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None,
    outputs: Mapping[str, Any],
    where: str,
) -> dict[str, Stats]:
    """Validated ``{name: (mean (b,1,1), std (b,1,1))}`` float32 arrays.

    Raises
    ------
    ConfigError
        An unknown or label key, a mean/std of the wrong length, or a zero/negative std.
    """
    out: dict[str, Stats] = {}
    for name, pair in (normalize or {}).items():
        if name not in outputs:
            near = difflib.get_close_matches(name, list(outputs), n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"available: {', '.join(outputs)}"
            raise ConfigError(f"{where}: normalize key {name!r} is not an output; {hint}")
        kind, bands = _kind_bands(outputs[name])
        if kind != "raster":
            raise ConfigError(
                f"{where}: normalize key {name!r} is a label ({kind}); labels are codes, "
                "never normalised"
            )
        try:
            mean, std = pair
        except (TypeError, ValueError):
            raise ConfigError(
                f"{where}: normalize[{name!r}] must be (mean, std), found {pair!r}"
            ) from None
        m = np.atleast_1d(np.asarray(mean, dtype=np.float32))
        s = np.atleast_1d(np.asarray(std, dtype=np.float32))
        if m.shape != (bands,) or s.shape != (bands,):
            raise ConfigError(
                f"{where}: normalize[{name!r}] needs {bands} mean and {bands} std values (one per "
                f"band), found {m.size} and {s.size}"
            )
        if not np.all(s > 0):
            raise ConfigError(f"{where}: normalize[{name!r}] std must be positive, found {s}")
        out[name] = (m[:, None, None], s[:, None, None])
    return out


def _kind_bands(o: Any) -> tuple[str, int]:
    """Kind and band count of an output: a plan's ``OutputSpec`` or a manifest entry."""
    if isinstance(o, Mapping):
        return str(o.get("kind", "raster")), int(o["shape"][0])
    return str(o.kind), int(o.bands)


def apply_normalize(
    a: np.ndarray, mask: np.ndarray | None, stats: Stats, fill: float
) -> np.ndarray:
    """``(a - mean) / std`` as float32, masked pixels (``mask`` False) set to ``fill``."""
    mean, std = stats
    out = (np.asarray(a, dtype=np.float32) - mean) / std
    if mask is not None:
        out[..., ~np.asarray(mask, dtype=bool)] = fill
    return np.asarray(out, dtype=np.float32)
