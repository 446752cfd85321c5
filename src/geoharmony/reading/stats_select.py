"""Which statistics a loader normalises with: given, per region, per split or global.

``normalize`` of the torch and TF loaders is one of

* ``{name: (mean, std)}``: per-band values given by the caller, validated by
  :func:`geoharmony.reading.normalize.check_normalize` (unknown or label keys and
  wrong-length mean/std are refused);
* ``"global"``: the manifest's statistics over every patch (``stats[name]["all"]``);
* ``"split"``: those of the split being loaded (``stats[name][split]``; every patch
  when no split is selected);
* ``"region"``: those of each patch's own region (``stats_by_region[name][region]``),
  as models trained "per watershed" expect.

Only raster modalities are normalised (labels have no statistics). A band with no valid
pixel in its group (all its pixels masked) is left as is (mean 0, std 1). Masked pixels
are set to the loader's ``fill`` after normalisation (:mod:`geoharmony.reading.normalize`).

``scale=True`` in the loaders first maps stored values to physical ones,
``scale * stored + offset`` (``[modalities.x] scale, offset``, recorded in the manifest's
``outputs``: quantised embeddings); the manifest's statistics, computed on stored values,
are mapped the same way (``mean' = scale * mean + offset``, ``std' = |scale| * std``);
given ``{name: (mean, std)}`` are taken as physical.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from geoharmony.errors import ConfigError, DatasetError
from geoharmony.reading.normalize import check_normalize

MODES = ("region", "split", "global")
Pair = tuple[np.ndarray, np.ndarray]


def scales(manifest: Mapping[str, Any], outputs: Sequence[str]) -> dict[str, tuple[float, float]]:
    """``{name: (scale, offset)}`` of the outputs that declare a scale or an offset."""
    out = {}
    for n in outputs:
        o = manifest["outputs"][n]
        s, off = o.get("scale"), o.get("offset")
        if o["kind"] == "raster" and (s is not None or off is not None):
            out[n] = (1.0 if s is None else float(s), 0.0 if off is None else float(off))
    return out


def _pair(entry: Mapping[str, Any], so: tuple[float, float] = (1.0, 0.0)) -> Pair:
    s, off = so
    mean = np.asarray([0.0 if v is None else s * v + off for v in entry["mean"]], np.float32)
    std = np.asarray([1.0 if v is None else abs(s) * v for v in entry["std"]], np.float32)
    return mean[:, None, None], std[:, None, None]


class Normalizer:
    """Per-output ``(mean, std)`` of shape ``(bands, 1, 1)``, per region when asked.

    Parameters
    ----------
    manifest
        The dataset's manifest.
    normalize
        See the module docstring (None: no normalisation).
    split
        The split the loader reads (for ``"split"``).
    outputs
        The outputs the loader returns.
    scaled
        ``{name: (scale, offset)}`` applied to the data before normalising (see above).
    where
        Prefix of error messages (the dataset path).
    """

    def __init__(
        self,
        manifest: Mapping[str, Any],
        normalize: str | Mapping[str, tuple[Sequence[float], Sequence[float]]] | None,
        split: str | None,
        outputs: Sequence[str],
        scaled: Mapping[str, tuple[float, float]] | None = None,
        where: str = "normalize",
    ) -> None:
        self.mode = normalize if isinstance(normalize, str) else "given"
        self.static: dict[str, Pair] = {}
        self.by_region: dict[str, dict[str, Pair]] = {}
        if normalize is None:
            return
        if not isinstance(normalize, str):
            self.static = check_normalize(normalize, manifest["outputs"], where)
            return
        if normalize not in MODES:
            raise ConfigError(
                f"normalize = {normalize!r} is not a mode; use one of {', '.join(MODES)} "
                "or a {name: (mean, std)} mapping"
            )
        rasters = [n for n in outputs if manifest["outputs"][n]["kind"] == "raster"]
        if normalize == "region":
            stats = manifest.get("stats_by_region")
            if not stats:
                raise DatasetError(
                    'normalize = "region": the dataset has no per-region statistics '
                    "(written by geoharmony before issue 12); re-extract it"
                )
            so = dict(scaled or {})
            self.by_region = {
                n: {r: _pair(e, so.get(n, (1.0, 0.0))) for r, e in stats[n].items()}
                for n in rasters
            }
            return
        group = "all" if normalize == "global" or split is None else split
        stats = manifest.get("stats", {})
        for n in rasters:
            if group not in stats.get(n, {}):
                raise DatasetError(f"no statistics of {n!r} for split {group!r}")
            self.static[n] = _pair(stats[n][group], dict(scaled or {}).get(n, (1.0, 0.0)))

    def __call__(self, name: str, region: str) -> Pair | None:
        """``(mean, std)`` for output ``name`` of a patch of ``region``, or None."""
        if self.by_region:
            per = self.by_region.get(name)
            return None if per is None else per.get(region)
        return self.static.get(name)

    def names(self) -> set[str]:
        """Outputs this normaliser changes."""
        return set(self.by_region) | set(self.static)
