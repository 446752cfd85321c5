"""What the figures draw from: a plan, with its patch index, and the dataset if written.

A configuration (before extraction) and a dataset folder (after) both come down to the
same :class:`~geoharmony.planning.plan.Plan`: computed from the configuration, or read
from the dataset's ``plan.json``. :class:`Source` is a thin adapter over it (names the
figures use, lookups by patch and region); it re-reads nothing: no boundary file, no
raster header. Only :func:`read_patch` reads pixels: from the store when there is one,
else from the input rasters through :mod:`geoharmony.io`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import CRS

from geoharmony.errors import GeoharmonyError, InputError
from geoharmony.geometry.grid import Grid
from geoharmony.geometry.window import Window, Windows
from geoharmony.io.manifest import MANIFEST
from geoharmony.io.raster_info import RasterInfo
from geoharmony.planning.config import Config, StudyAreaConfig, load_config
from geoharmony.planning.plan import OutputSpec, Plan
from geoharmony.planning.study_area import Region
from geoharmony.planning.windows import output_grid, patch_grid, patch_window
from geoharmony.qa.fmt import fmt_m

WGS84 = CRS.from_epsg(4326)
__all__ = ["WGS84", "Source", "VizInputError", "fmt_m", "load_source", "read_patch"]


class VizInputError(GeoharmonyError, ValueError):
    """A figure was asked for something the source does not have (patch, modality, region)."""


@dataclass(frozen=True, eq=False)
class Source:
    """A plan seen by the figures (read only).

    ``index`` has one row per patch (EPSG:4326): the plan's table plus ``<m>_footprint``
    polygons; for a dataset also ``<name>_valid_fraction``. ``dataset`` is the written
    :class:`~geoharmony.reading.dataset.Dataset` (None before extraction).
    """

    plan: Plan
    index: Any
    label: str
    dataset: Any = None

    # -- the plan, by the names the figures use -----------------------------------------
    @property
    def kind(self) -> str:
        """``"dataset"`` after extraction, ``"config"`` before."""
        return "config" if self.dataset is None else "dataset"

    @property
    def manifest(self) -> Mapping[str, Any]:
        """The dataset's manifest (empty before extraction)."""
        return {} if self.dataset is None else self.dataset.manifest

    @property
    def config(self) -> Config:
        """The resolved configuration."""
        return self.plan.config

    @property
    def regions(self) -> tuple[Region, ...]:
        """The regions (polygons as planned)."""
        return self.plan.regions

    @property
    def study_area(self) -> StudyAreaConfig:
        """The ``[study_area]`` table."""
        return self.plan.config.study_area

    @property
    def reference(self) -> str:
        """The reference modality."""
        return self.plan.reference

    @property
    def mode(self) -> str:
        """The harmonisation mode."""
        return self.plan.mode

    @property
    def patch_size(self) -> int:
        """Reference patch size (pixels)."""
        return self.plan.config.grid.patch_size

    @property
    def stride(self) -> int:
        """Lattice stride (reference pixels)."""
        return self.plan.config.grid.stride

    @property
    def keep(self) -> str:
        """The ``[grid].keep`` rule."""
        return self.plan.config.grid.keep

    @property
    def inputs(self) -> Mapping[str, Mapping[str, RasterInfo]]:
        """Region id -> modality -> input raster."""
        return self.plan.sources

    @property
    def outputs(self) -> Mapping[str, OutputSpec]:
        """Every output (modalities, then labels)."""
        return self.plan.outputs

    @property
    def n_candidates(self) -> int:
        """Lattice points considered before the keep rule."""
        return self.plan.candidates

    # -- selections -------------------------------------------------------------------
    @property
    def modalities(self) -> list[str]:
        """Modality names (outputs of kind ``raster``), in configuration order."""
        return [n for n, o in self.outputs.items() if o.kind == "raster"]

    @property
    def labels(self) -> list[str]:
        """Label names (vector burns and D8)."""
        return [n for n, o in self.outputs.items() if o.kind != "raster"]

    def region(self, rid: str) -> Region:
        """The region with id ``rid``."""
        for r in self.regions:
            if r.id == rid:
                return r
        raise VizInputError(
            f"{self.label}: no region {rid!r}; regions: {_some(r.id for r in self.regions)}"
        )

    def select_regions(self, rid: str | None) -> list[Region]:
        """One region by id, or all of them."""
        return list(self.regions) if rid is None else [self.region(rid)]

    def check_modality(self, name: str | None, *, labels: bool = False) -> str:
        """``name`` validated (default: the reference modality)."""
        if name is None:
            return self.reference
        names = self.modalities + (self.labels if labels else [])
        if name not in names:
            raise VizInputError(
                f"{self.label}: no modality {name!r}; modalities: {', '.join(names)}"
            )
        return name

    def patch_position(self, patch: int | str) -> int:
        """Row position of a patch given by position (``3``, ``-1``) or ``patch_id``."""
        n = len(self.index)
        if n == 0:
            raise VizInputError(f"{self.label}: has no patches (nothing inside the study area)")
        if isinstance(patch, str) and not _is_int(patch):
            hits = np.flatnonzero(self.index["patch_id"].to_numpy() == patch)
            if not len(hits):
                ex = self.index["patch_id"].iloc[0]
                raise VizInputError(
                    f"{self.label}: no patch with patch_id {patch!r}; "
                    f"give a position 0..{n - 1} or a patch_id such as {ex!r}"
                )
            return int(hits[0])
        k = int(patch)
        if not -n <= k < n:
            raise VizInputError(
                f"{self.label}: patch {k} out of range; it has {n} patches (0..{n - 1})"
            )
        return k % n

    # -- geometry of patches: the plan's one answer --------------------------------------
    def window(self, name: str, k: int) -> tuple[Grid, Window]:
        """The grid output ``name`` of patch ``k`` lies on and the patch's window on it."""
        return patch_window(self.plan, name, k)

    def patch_grid(self, name: str, k: int) -> Grid:
        """The grid of output ``name``'s pixels in patch ``k``."""
        return patch_grid(self.plan, name, k)

    def footprint(self, name: str, k: int) -> Any:
        """Footprint polygon (EPSG:4326) of output ``name`` for patch ``k`` (from the index)."""
        base = name if name in self.modalities else self.outputs[name].grid_of
        return self.index[f"{base}_footprint"].iloc[k]

    def resolution_m(self, name: str, rid: str | None = None) -> tuple[float, float]:
        """Ground pixel size of an output's grid (metres)."""
        return output_grid(self.plan, name, rid).resolution_m


def _is_int(s: str) -> bool:
    try:
        int(s)
    except ValueError:
        return False
    return True


def _some(items: Any, n: int = 8) -> str:
    items = list(items)
    more = f", ... ({len(items)} in all)" if len(items) > n else ""
    return ", ".join(map(str, items[:n])) + more


# -- construction -------------------------------------------------------------------
def load_source(obj: Any) -> Source:
    """A :class:`Source` from a config file, dataset folder, Config, Dataset or Plan.

    Raises
    ------
    InputError
        The path is neither a configuration file nor a dataset folder.
    """
    from geoharmony.planning.frame import plan_frame
    from geoharmony.planning.plan import compute_plan
    from geoharmony.reading.dataset import Dataset, open_dataset

    if isinstance(obj, Source):
        return obj
    if isinstance(obj, Dataset):
        return Source(obj.plan, obj.index, str(obj.root), obj)
    if isinstance(obj, Config):
        obj = compute_plan(obj)
    if isinstance(obj, Plan):
        return Source(obj, plan_frame(obj), str(obj.config.source))
    path = Path(obj).expanduser()
    if path.is_dir():
        return load_source(open_dataset(path))  # raises DatasetError with the resume hint
    if path.is_file():
        return load_source(load_config(path))
    raise InputError(
        f"{path}: not found; give a configuration file (pipeline.toml) or a dataset folder "
        f"(one with a {MANIFEST})"
    )


# -- pixels -----------------------------------------------------------------------------
def read_patch(src: Source, k: int, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Arrays of patch ``k``: ``{name: (bands, h, w), name_mask: (h, w)}``.

    From the store for a dataset; for a configuration, read from the input rasters
    (``native`` and ``footprint`` modes; labels are only available after extraction).
    """
    names = list(names) if names is not None else list(src.outputs)
    if src.dataset is not None:
        sample = src.dataset[k]
        return {key: sample[key] for n in names for key in (n, f"{n}_mask")}
    if src.mode == "resample":
        raise VizInputError(
            f"{src.label}: in resample mode the patch pixels exist only after extraction; "
            "run geoharmony extract and plot the dataset folder"
        )
    from geoharmony.io.reader import RasterReader

    out: dict[str, np.ndarray] = {}
    rid = str(src.index["region"].iloc[k])
    for n in names:
        if n not in src.modalities:
            continue
        _, win = src.window(n, k)
        with RasterReader(src.inputs[rid][n]) as reader:
            (block,) = reader.read_windows(Windows.from_window(win))
        out[n], out[f"{n}_mask"] = block.data, block.valid
    return out
