"""What the figures draw from: a configuration (before extraction) or a written dataset.

Both are turned into one read-only :class:`Source`: the regions (boundary and buffered
polygon), every input raster's grid and path, the patch table with footprints (the plan's
GeoDataFrame or the dataset's index) and the outputs' descriptions. Figures never care
which of the two they were given, except :func:`read_patch`, which reads pixels from the
store when there is one and from the input rasters otherwise.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from pyproj import CRS

from geoharmony.errors import GeoharmonyError, InputError
from geoharmony.geometry.grid import Grid
from geoharmony.io.manifest import MANIFEST
from geoharmony.io.remote import is_remote
from geoharmony.planning.config import Config, StudyAreaConfig, load_config
from geoharmony.planning.study_area import Region, load_regions

WGS84 = CRS.from_epsg(4326)


class VizInputError(GeoharmonyError, ValueError):
    """A figure was asked for something the source does not have (patch, modality, region)."""


@dataclass(frozen=True, slots=True)
class Input:
    """One input raster as the figures need it."""

    name: str
    region: str
    path: Path | str  # str: a remote raster (URL or /vsi path)
    grid: Grid
    dtype: str
    nodata: float | None
    bands: tuple[int, ...]
    count: int
    size: int | None = None

    @property
    def file_name(self) -> str:
        """The file's name (the last part of a URL for a remote raster)."""
        if isinstance(self.path, str):
            return self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return self.path.name


@dataclass(frozen=True, slots=True)
class OutputInfo:
    """One output array family (a modality or a label)."""

    name: str
    kind: str  # "raster" | "vector" | "d8"
    dtype: str
    bands: int
    height: int
    width: int
    grid_of: str
    codes: Mapping[str, int] | None = None


@dataclass(frozen=True)
class Source:
    """A configuration or dataset, seen by the figures (read only).

    ``index`` has one row per patch (EPSG:4326) with ``center_x``/``center_y`` in the
    region's reference CRS, each modality's window columns and ``<m>_footprint``
    polygons; for a dataset also ``<name>_valid_fraction``.
    """

    kind: str  # "config" | "dataset"
    label: str
    regions: tuple[Region, ...]
    study_area: StudyAreaConfig
    reference: str
    mode: str
    patch_size: int
    stride: int
    keep: str
    inputs: Mapping[str, Mapping[str, Input]]  # region id -> modality -> input
    outputs: Mapping[str, OutputInfo]
    index: Any
    n_candidates: int
    config: Config | None = None
    dataset: Any = None
    manifest: Mapping[str, Any] = field(default_factory=dict)

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

    def window(self, name: str, k: int) -> tuple[Grid, int, int, int, int]:
        """``(grid, col_off, row_off, width, height)`` of output ``name`` for patch ``k``.

        Labels use the window of the modality whose grid they share; in ``resample`` mode
        every output lies on the reference window.
        """
        row = self.index.iloc[k]
        rid = str(row["region"])
        out = self.outputs[name]
        if self.mode == "resample":
            g = self.inputs[rid][self.reference].grid
            p, s = self.patch_size, self.stride
            return g, int(row["lattice_j"]) * s, int(row["lattice_i"]) * s, p, p
        base = out.grid_of
        g = self.inputs[rid][base].grid
        return (
            g,
            int(row[f"{base}_col_off"]),
            int(row[f"{base}_row_off"]),
            int(row[f"{base}_width"]),
            int(row[f"{base}_height"]),
        )

    def footprint(self, name: str, k: int) -> Any:
        """Footprint polygon (EPSG:4326) of output ``name`` for patch ``k`` (from the index)."""
        base = name if name in self.modalities else self.outputs[name].grid_of
        return self.index[f"{base}_footprint"].iloc[k]

    def resolution_m(self, name: str, rid: str | None = None) -> tuple[float, float]:
        """Ground pixel size of an output's grid (metres)."""
        rid = rid or self.regions[0].id
        base = name if name in self.modalities else self.outputs[name].grid_of
        if self.mode == "resample":
            base = self.reference
        return self.inputs[rid][base].grid.resolution_m


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
    from geoharmony.planning.plan import Plan
    from geoharmony.reading.dataset import Dataset

    if isinstance(obj, Source):
        return obj
    if isinstance(obj, Dataset):
        return _from_dataset(obj)
    if isinstance(obj, Config):
        from geoharmony.planning.plan import compute_plan

        return _from_plan(compute_plan(obj))
    if isinstance(obj, Plan):
        return _from_plan(obj)
    path = Path(obj).expanduser()
    if path.is_dir():
        if not (path / MANIFEST).is_file():
            from geoharmony.reading.dataset import open_dataset

            open_dataset(path)  # raises DatasetError with the resume hint
        from geoharmony.reading.dataset import open_dataset

        return _from_dataset(open_dataset(path))
    if path.is_file():
        from geoharmony.planning.plan import compute_plan

        return _from_plan(compute_plan(load_config(path)))
    raise InputError(
        f"{path}: not found; give a configuration file (pipeline.toml) or a dataset folder"
    )


def _local_size(path: Path | str) -> int | None:
    """Size of a local input file; None for a remote one or a missing file."""
    if isinstance(path, str) or not path.exists():
        return None
    return path.stat().st_size


def _from_plan(plan: Any) -> Source:
    from geoharmony.planning.plan import plan_frame

    cfg = plan.config
    inputs = {
        rid: {
            name: Input(
                name=name,
                region=rid,
                path=info.path,
                grid=info.grid,
                dtype=info.dtype,
                nodata=info.nodata,
                bands=tuple(info.bands),
                count=info.count,
                size=_local_size(info.path),
            )
            for name, info in infos.items()
        }
        for rid, infos in plan.sources.items()
    }
    outputs = {
        n: OutputInfo(n, o.kind, o.dtype, o.bands, o.height, o.width, o.grid_of, o.codes)
        for n, o in plan.outputs.items()
    }
    return Source(
        kind="config",
        label=str(cfg.source),
        regions=tuple(plan.regions),
        study_area=cfg.study_area,
        reference=plan.reference,
        mode=plan.mode,
        patch_size=cfg.grid.patch_size,
        stride=cfg.grid.stride,
        keep=cfg.grid.keep,
        inputs=inputs,
        outputs=outputs,
        index=plan_frame(plan),
        n_candidates=plan.candidates,
        config=cfg,
    )


def _study_area_cfg(d: Mapping[str, Any]) -> StudyAreaConfig:
    names = {f.name for f in dataclasses.fields(StudyAreaConfig)}
    kw = {k: v for k, v in d.items() if k in names}
    kw["boundary"] = Path(kw["boundary"])
    return StudyAreaConfig(**kw)


def _from_dataset(ds: Any) -> Source:
    m = ds.manifest
    cfg_d = m["config"]
    sa = _study_area_cfg(cfg_d["study_area"])
    if not sa.boundary.exists():
        raise InputError(
            f"{sa.boundary}: the dataset's boundary file no longer exists ({ds.root}/{MANIFEST} "
            "config.study_area.boundary); the figures draw it: restore it or re-extract"
        )
    regions = tuple(load_regions(sa))
    inputs: dict[str, dict[str, Input]] = {}
    for name, per_region in m["inputs"]["modalities"].items():
        for rid, rec in per_region.items():
            crs = (
                CRS.from_wkt(rec["crs_wkt"])
                if rec.get("crs_wkt")
                else CRS.from_user_input(rec["crs"])
            )
            grid = Grid(crs, Affine(*rec["transform"][:6]), int(rec["width"]), int(rec["height"]))
            nod = rec.get("nodata")
            inputs.setdefault(rid, {})[name] = Input(
                name=name,
                region=rid,
                path=rec["path"] if is_remote(rec["path"]) else Path(rec["path"]),
                grid=grid,
                dtype=str(rec["dtype"]),
                nodata=None if nod is None else float(nod),
                bands=tuple(int(b) for b in rec.get("bands", [1])),
                count=int(rec.get("count", len(rec.get("bands", [1])))),
                size=rec.get("size"),
            )
    outputs = {}
    for name, o in m["outputs"].items():
        b, h, w = (int(v) for v in o["shape"])
        outputs[name] = OutputInfo(
            name, o["kind"], o["dtype"], b, h, w, o.get("grid_of", name), o.get("codes")
        )
    p = m["plan"]
    return Source(
        kind="dataset",
        label=str(ds.root),
        regions=regions,
        study_area=sa,
        reference=p["reference"],
        mode=p["mode"],
        patch_size=int(p["patch_size"]),
        stride=int(p["stride"]),
        keep=str(p["keep"]),
        inputs=inputs,
        outputs=outputs,
        index=ds.index,
        n_candidates=int(p.get("n_candidates", 0)),
        dataset=ds,
        manifest=m,
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
    from geoharmony.io.raster_info import RasterInfo
    from geoharmony.io.reader import RasterReader

    out: dict[str, np.ndarray] = {}
    rid = str(src.index["region"].iloc[k])
    for n in names:
        if n not in src.modalities:
            continue
        inp = src.inputs[rid][n]
        _, c0, r0, w, h = src.window(n, k)
        info = RasterInfo(
            inp.path, inp.grid, inp.count, inp.dtype, inp.nodata, inp.bands, (1, 1), False
        )
        with RasterReader(info) as reader:
            block = reader.read_block(c0, r0, w, h)
        out[n], out[f"{n}_mask"] = block.data, block.valid
    return out


def ground_size(src: Source, name: str, rid: str | None = None) -> tuple[float, float]:
    """Nominal ground size (metres) of one patch of output ``name``: pixels x resolution."""
    o = src.outputs[name]
    rx, ry = src.resolution_m(name, rid)
    return (o.width * rx, o.height * ry)


def fmt_m(v: float) -> str:
    """A length for people: ``"320 m"``, ``"2.24 km"``."""
    if not math.isfinite(v):
        return "?"
    if abs(v) >= 1000:
        return f"{v / 1000:.3g} km" if abs(v) < 100_000 else f"{v / 1000:,.0f} km"
    return f"{v:.3g} m" if abs(v) < 100 else f"{v:.0f} m"
