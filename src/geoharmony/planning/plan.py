"""The plan: every decision made before a pixel is read.

``compute_plan(cfg)`` reads raster headers and the boundary, then decides, per region,
the kept lattice centres and, per modality, each patch's window (nearest-centred on that
raster's own lattice, after transforming the centre into its CRS) and its residual
offset. It also orders patches spatially and cuts them into tasks (the unit of execution
and of resume). :mod:`.frame` shows a plan as a GeoDataFrame with footprints,
:mod:`.windows` answers which grid and window each output of a patch uses and
:mod:`.persist` stores a plan beside the dataset made from it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geoharmony.errors import (
    ConfigError,
    CoverageWarning,
    CRSMismatchError,
    InputError,
    TransformWarning,
)
from geoharmony.geometry.d8codes import code_map
from geoharmony.geometry.footprint import to_crs, transform_points, window_polygons
from geoharmony.geometry.grid import Grid
from geoharmony.geometry.lattice import Lattice
from geoharmony.geometry.modes import finest, window_sizes
from geoharmony.geometry.transforms import crs_name, describe, transformer
from geoharmony.geometry.window import nearest_windows
from geoharmony.io.codec import same
from geoharmony.io.inputs import source_files, stat_key
from geoharmony.io.mosaic import mosaic_vrt
from geoharmony.io.raster_info import RasterInfo, read_info
from geoharmony.io.remote import RemoteStamp, is_remote
from geoharmony.io.stac import StacAsset, assets_for_region, load_assets
from geoharmony.io.stack import stack_vrt
from geoharmony.planning.config import Config
from geoharmony.planning.config.labels import BYTES_PER_CELL, FLOW_KINDS, FLOW_RULES
from geoharmony.planning.coverage import keep_valid
from geoharmony.planning.ownership import lattice_key, owners, regions_touched
from geoharmony.planning.splits import (
    SPLITS,
    apply_guard,
    assign_splits,
    check_not_empty,
    leaking,
    split_lines,
)
from geoharmony.planning.study_area import Region, _densify, load_regions

WGS84 = CRS.from_epsg(4326)
#: Lattice points per side of one spatial tile: patches are ordered tile by tile.
TILE = 8
#: Resampling kernel radius in source pixels (at scale 1); the margin read around a warped
#: window is this times the downsampling ratio, plus one pixel.
KERNEL_RADIUS = {"nearest": 1, "bilinear": 1, "cubic": 2, "average": 1, "mode": 1}


def warp_margin(resampling: str, ratio: float) -> int:
    """Source pixels to read around a warped window: kernel radius x downsampling + 1."""
    return math.ceil(KERNEL_RADIUS.get(resampling, 3) * max(float(ratio), 1.0)) + 1


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """One output array family (a modality or a label): what every patch holds."""

    name: str
    kind: str  # "raster" | "vector" | "d8"
    dtype: str
    bands: int
    width: int
    height: int
    fill_value: float
    grid_of: str  # the modality whose window this output uses
    categorical: bool = False
    resampling: str = "nearest"
    codes: Mapping[str, int] | None = None
    params: Mapping[str, Any] | None = None
    d8_encoding: str | None = None  # "esri" | "class" when the output holds D8 codes


@dataclass(frozen=True, slots=True)
class LabelWindow:
    """Where a region-level label is computed: a window of its grid (pixels).

    The region's buffered area plus every patch window of the region, plus ``margin``
    pixels on each side. ``grid_of`` names the modality whose grid it lies on.
    """

    grid_of: str
    col_off: int
    row_off: int
    width: int
    height: int

    @property
    def megapixels(self) -> float:
        """Cells of the window, in millions."""
        return self.width * self.height / 1e6

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the manifest)."""
        return {
            "grid_of": self.grid_of,
            "col_off": self.col_off,
            "row_off": self.row_off,
            "width": self.width,
            "height": self.height,
        }


@dataclass(frozen=True)
class Plan:
    """Everything ``extract`` executes, as data.

    ``table`` holds one row per patch (row ``k`` is store position ``k``); per modality
    ``m`` it has ``m_col_off``, ``m_row_off``, ``m_width``, ``m_height`` (the source
    window read), ``m_dcol``/``m_drow`` (window centre minus patch centre, in pixels of
    that raster) and ``m_offset_m``.
    """

    config: Config
    reference: str
    mode: str
    regions: tuple[Region, ...]
    sources: Mapping[str, Mapping[str, RasterInfo]]  # region id -> modality -> info
    outputs: Mapping[str, OutputSpec]
    table: pd.DataFrame
    task_size: int
    candidates: int
    notes: tuple[str, ...] = ()  # what the plan decided that a user should read
    transforms: tuple[dict[str, Any], ...] = ()  # CRS operations used, with accuracy
    #: region id -> modality -> ground pixel size (m) at the region's centroid
    ground: Mapping[str, Mapping[str, tuple[float, float]]] = field(default_factory=dict)
    #: label -> region id -> window of that label's region raster on its grid
    label_windows: Mapping[str, Mapping[str, LabelWindow]] = field(default_factory=dict)
    #: label -> region id -> header of a ``kind = "raster"`` label's source raster
    label_sources: Mapping[str, Mapping[str, RasterInfo]] = field(default_factory=dict)
    #: Regions left out because one of their own rasters (``{id}`` path or STAC item)
    #: could not be opened at plan time: ``{region, input, path, reason, stage}``.
    failed: tuple[Mapping[str, Any], ...] = ()
    #: Regions left out by ``on_missing = "skip_region"``: region id -> missing modalities.
    skipped: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        """Field by field: the table by content and dtypes, NaN equal to NaN."""
        if not isinstance(other, Plan):
            return NotImplemented
        return same(self, other)

    @property
    def n_patches(self) -> int:
        """Number of patches."""
        return len(self.table)

    @property
    def n_tasks(self) -> int:
        """Number of tasks."""
        return len(self.task_bounds) - 1

    @functools.cached_property
    def task_bounds(self) -> np.ndarray:
        """Store position where each task starts, then ``n_patches`` (see :func:`task_bounds`)."""
        return task_bounds(self.n_patches, self.task_size, self.config.output.patches_per_shard)

    def input_files(self) -> dict[str, list[Path]]:
        """Every file of every input, by role.

        Roles are ``boundary``, ``modalities.NAME.REGION``, ``labels.NAME.K`` and
        ``labels.NAME.coverage``: rasters, boundary and label sources with all their
        sidecars or folder contents (a stacked modality's VRT with its member files). The
        fingerprint, the manifest and the output's safety check use this (listed once per
        plan). Files absent by ``on_missing = "masked"`` are not inputs and not listed.
        """
        return self._input_files

    @staticmethod
    def input_key(role: str) -> str:
        """The config table of an :meth:`input_files` role (``[modalities.dem]``), for messages."""
        return "[" + ".".join(role.split(".")[:2]) + "]"

    @functools.cached_property
    def _input_files(self) -> dict[str, list[Path]]:
        out = {"boundary": source_files(self.config.study_area.boundary)}
        seen: dict[str, list[Path]] = {}  # a raster shared by every region: looked up once
        for rid in sorted(self.sources):
            for name, info in sorted(self.sources[rid].items()):
                if info.missing:  # on_missing = "masked": absent, by design
                    continue
                if not info.remote:  # remote rasters: see ``fingerprint``
                    key = str(info.path)
                    if key not in seen:
                        seen[key] = source_files(Path(info.path))
                    out[f"modalities.{name}.{rid}"] = seen[key]
        for name, lab in self.config.labels.items():
            for k, src in enumerate(lab.sources if lab.kind == "vector" else ()):
                out[f"labels.{name}.{k}"] = source_files(src.path)
            if lab.kind == "vector" and lab.coverage not in ("bbox", "boundary"):
                out[f"labels.{name}.coverage"] = source_files(Path(lab.coverage))
        for name, per in self.label_sources.items():  # kind = "raster" label sources
            for rid, info in per.items():
                out[f"labels.{name}.{rid}"] = source_files(Path(info.path))
        return out

    @property
    def regions_without_patches(self) -> list[str]:
        """Ids of the regions that got no patch (too small, not covered, owned elsewhere)."""
        have = set(self.table["region"]) if len(self.table) else set()
        return [r.id for r in self.regions if r.id not in have]

    def task_range(self, task: int) -> tuple[int, int]:
        """Patch positions ``[start, stop)`` of one task."""
        return int(self.task_bounds[task]), int(self.task_bounds[task + 1])

    def fingerprint(self) -> str:
        """Stable hash of what this plan would write (config, inputs' identity, patches)."""
        h = hashlib.sha256()
        h.update(json.dumps(self.config.to_dict(), sort_keys=True, default=str).encode())
        files = self.input_files()
        stats: dict[Path, Any] = {}  # each file stat'ed once, however many roles list it
        for role, fs in sorted(files.items()):
            for f in fs:
                if f not in stats:
                    stats[f] = stat_key(f)
                h.update(f"{role}|{stats[f]}".encode())
        for rid in sorted(self.sources):  # remote rasters: their size/ETag, never a stat
            for name, info in sorted(self.sources[rid].items()):
                if info.missing:  # on_missing = "masked": absent, by design
                    h.update(f"modalities.{name}.{rid}|{info.path}|missing".encode())
                elif info.remote:
                    stamp = info.stamp.token() if info.stamp is not None else ""
                    h.update(f"{rid}|{name}|{info.path}|{stamp}".encode())
        h.update(
            pd.util.hash_pandas_object(self.table[_KEY_COLS], index=False).to_numpy().tobytes()
        )
        # tasks are the unit of resume: a run cut into other tasks never resumes this one
        h.update(b"tasks|" + self.task_bounds.astype("<i8").tobytes())
        return h.hexdigest()


_KEY_COLS = ["patch_id", "region", "lattice_i", "lattice_j"]


def load_sources(
    cfg: Config, regions: list[Region], failed: list[dict[str, Any]] | None = None
) -> dict[str, dict[str, RasterInfo]]:
    """Read every raster header needed, once per distinct file.

    A ``stac`` modality reads its STAC file once and gives each region the asset of the
    item named like the region or overlapping it (:func:`geoharmony.io.stac.asset_for_region`).

    With a ``failed`` list, a region whose *own* raster (an ``{id}`` path or a STAC item
    of its own) cannot be opened is left out and recorded there; a raster shared by
    every region still stops the plan with its error.
    """
    cache: dict[str, RasterInfo] = {}
    out: dict[str, dict[str, RasterInfo]] = {}
    masked: list[tuple[str, str, Path | str]] = []
    for r in regions:
        try:
            out[r.id] = _region_sources(cfg, r, cache, masked)
        except InputError as exc:
            name = getattr(exc, "modality", None)
            if failed is None or name is None:
                raise
            failed.append(
                {
                    "region": r.id,
                    "input": name,
                    "path": getattr(exc, "path", ""),
                    "reason": str(exc),
                    "stage": "plan",
                    "tasks": [],
                }
            )
            warnings.warn(
                f"region {r.id!r} fails: {exc} (extract records it in failures.json and "
                "completes the other regions; --fail-fast stops instead)",
                CoverageWarning,
                stacklevel=3,
            )
    masked = [(rid, name, q) for rid, name, q in masked if rid in out]
    for rid, name, p in masked:
        donor = next((infos[name] for infos in out.values() if name in infos), None)
        if donor is None:
            raise InputError(
                f"[modalities.{name}].path: no region has its file (e.g. {p}); "
                'on_missing = "masked" needs the file in at least one region'
            )
        out[rid][name] = replace(donor, path=p, missing=True)
        warnings.warn(
            f"[modalities.{name}] {p} does not exist: region {rid!r} gets it masked "
            '(on_missing = "masked")',
            CoverageWarning,
            stacklevel=3,
        )
    return {r.id: {n: out[r.id][n] for n in cfg.modalities} for r in regions if r.id in out}


def skip_missing(
    cfg: Config, regions: list[Region]
) -> tuple[list[Region], dict[str, tuple[str, ...]]]:
    """Leave out regions missing a file of an ``on_missing = "skip_region"`` modality.

    Raises
    ------
    InputError
        If every region would be left out.
    """
    skipped: dict[str, tuple[str, ...]] = {}
    for r in regions:
        gone = tuple(
            n
            for n, m in cfg.modalities.items()
            if m.on_missing == "skip_region" and not m.exists_for(r.id)
        )
        if gone:
            skipped[r.id] = gone
            warnings.warn(
                f"region {r.id!r} left out: no file for {', '.join(gone)} "
                '(on_missing = "skip_region")',
                CoverageWarning,
                stacklevel=3,
            )
    kept = [r for r in regions if r.id not in skipped]
    if not kept:
        raise InputError(
            f'{cfg.source}: every region is left out by on_missing = "skip_region" '
            f"(missing: {skipped}); check the [modalities.*].path patterns"
        )
    return kept, skipped


def _region_sources(
    cfg: Config,
    r: Region,
    cache: dict[str, RasterInfo],
    masked: list[tuple[str, str, Path | str]],
) -> dict[str, RasterInfo]:
    """One region's raster headers (see :func:`load_sources`).

    An :class:`InputError` of a raster of this region alone carries ``modality`` and
    ``path`` attributes (the region may fail alone).
    """
    out: dict[str, RasterInfo] = {}
    for name, m in cfg.modalities.items():
        stac = None
        own = m.per_region  # a raster of this region alone: it may fail alone
        where = f"[modalities.{name}].path"
        if m.stac is not None:
            where = f"[modalities.{name}].stac"
            assets = load_assets(m.stac, m.asset or "", where)
            hits = assets_for_region(assets, r.id, _lonlat_bounds(r), f"{m.stac}: {where}")
            own = len(assets) > 1
            if len(hits) > 1:
                out[name] = _mosaic(hits, m, where, cache)
                continue
            stac = hits[0]
            p: Path | str = stac.href if is_remote(stac.href) else Path(stac.href)
        elif m.on_missing == "masked" and not m.exists_for(r.id):
            masked.append((r.id, name, m.path_for(r.id)))  # filled in by load_sources
            continue
        elif m.stack:
            p = stack_vrt(m.stack_for(r.id), where=where)
        else:
            p = m.path_for(r.id)
        key = f"{p}|{m.bands}|{m.nodata}|{stac.item_id if stac else ''}"
        if key not in cache:
            try:
                cache[key] = read_info(p, bands=m.bands, nodata=m.nodata, where=where, stac=stac)
            except InputError as exc:
                if own:
                    exc.modality = name  # type: ignore[attr-defined]
                    exc.path = str(p)  # type: ignore[attr-defined]
                raise
        out[name] = cache[key]
    return out


def _mosaic(
    hits: tuple[StacAsset, ...], m: Any, where: str, cache: dict[str, RasterInfo]
) -> RasterInfo:
    """One raster of several STAC items' assets (:mod:`geoharmony.io.mosaic`), cached."""
    key = "mosaic|" + "|".join(h.href for h in hits) + f"|{m.bands}|{m.nodata}"
    if key in cache:
        return cache[key]
    parts = []
    for h in hits:
        pk = f"{h.href}|None|{m.nodata}|all"
        if pk not in cache:
            src: Path | str = h.href if is_remote(h.href) else Path(h.href)
            cache[pk] = read_info(src, bands=None, nodata=m.nodata, where=where, stac=h)
        parts.append(cache[pk])
    xml = mosaic_vrt(parts, [h.item_id for h in hits], where)
    info = read_info(xml, bands=m.bands, nodata=m.nodata, where=where)
    stamps = [
        p.stamp.token() if p.stamp else f"{p.path}|{Path(p.path).stat().st_mtime_ns}" for p in parts
    ]
    sizes = [p.stamp.size if p.stamp else Path(p.path).stat().st_size for p in parts]
    joined = StacAsset(
        "+".join(h.item_id for h in hits), hits[0].asset, "", None, parts=tuple(hits)
    )
    stamp = RemoteStamp(sum(z or 0 for z in sizes), "|".join(stamps), None)
    cache[key] = dataclasses.replace(info, stamp=stamp, stac=joined)
    return cache[key]


def _lonlat_bounds(region: Region) -> tuple[float, float, float, float]:
    """A region's bounds in longitude/latitude (STAC bboxes are WGS 84)."""
    w, s, e, n = shapely.bounds(region.in_crs(WGS84))
    return float(w), float(s), float(e), float(n)


#: The most candidate centres one lattice may have (~16 B each in the arrays alone, plus
#: the keep rule's geometry tests): beyond it planning would exhaust memory.
MAX_CANDIDATES = 50_000_000


def _check_transformable(
    regions: list[Region], sources: dict[str, dict[str, RasterInfo]], reference: str
) -> None:
    """Refuse a raster whose CRS PROJ cannot relate to the boundary's or the reference's.

    A local (engineering) CRS has no transformation to any other: without this check the
    first window computation fails with PROJ's bare "Error creating Transformer".
    """
    seen: set[tuple[int, int]] = set()
    for r in regions:
        infos = sources[r.id]
        ref_crs = infos[reference].grid.crs
        for name, info in infos.items():
            if info.missing:
                continue
            for what, crs in (("the boundary", r.crs), (f"[modalities.{reference}]", ref_crs)):
                pair = (id(crs), id(info.grid.crs))
                if pair in seen or crs == info.grid.crs:
                    continue
                seen.add(pair)
                try:
                    transformer(crs, info.grid.crs)
                except Exception as exc:  # pyproj.ProjError or CRSError: the same to a user
                    raise InputError(
                        f"{info.path}: [modalities.{name}]'s CRS ({crs_name(info.grid.crs)}) "
                        f"cannot be related to the CRS of {what} ({crs_name(crs)}): "
                        f"{str(exc).strip() or type(exc).__name__}; a local or engineering "
                        "CRS has no transformation: assign the raster its real CRS "
                        "(gdal_edit.py -a_srs EPSG:XXXX)"
                    ) from None


def compute_plan(cfg: Config, *, regions: list[Region] | None = None) -> Plan:
    """Decide every patch and window (see module docstring). No pixels are read."""
    regions = load_regions(cfg.study_area) if regions is None else regions
    regions, skipped = skip_missing(cfg, regions)
    failed: list[dict[str, Any]] = []
    sources = load_sources(cfg, regions, failed)
    if failed and len(failed) == len(regions):
        raise InputError(failed[0]["reason"] + f" (and every other region's: {len(failed)})")
    regions = [r for r in regions if r.id in sources]
    g = cfg.grid
    first = sources[regions[0].id]
    reference = g.reference or finest({n: i.grid for n, i in first.items()})
    if any(infos[reference].missing for infos in sources.values()):
        raise ConfigError(
            f"{cfg.source}: [modalities.{reference}] is the reference raster (its lattice places "
            'the patches), so on_missing = "masked" cannot apply to it; use "skip_region"'
        )
    _check_orientation(cfg, reference, sources)
    _check_transformable(regions, sources, reference)
    ground = ground_resolutions(regions, sources)
    outputs = _output_specs(cfg, reference, sources, regions, ground)

    frames: dict[str, pd.DataFrame] = {}
    n_candidates = 0
    for members in _lattice_groups(cfg, regions, sources, reference):
        got, n = _plan_group(cfg, members, sources, reference, outputs, ground)
        n_candidates += n
        frames.update(got)
    parts = [frames[r.id] for r in regions if r.id in frames]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    notes: list[str] = []
    kept_by_rule = len(table)
    if len(table) and g.min_valid_fraction is not None:
        names = list(g.min_valid_of or (reference,))
        keep, dropped = keep_valid(table, sources, names, g.min_valid_fraction)
        table = table.loc[keep].reset_index(drop=True)
        each = ", ".join(f"{n} {k}" for n, k in dropped.items())
        notes.append(
            f"valid     min_valid_fraction = {g.min_valid_fraction:g}: "
            f"{int((~keep).sum())} of {len(keep)} patches dropped ({each})"
        )
    if not len(table):
        raise ConfigError(_why_empty(cfg, regions, sources, reference, n_candidates, kept_by_rule))
    plan = Plan(
        cfg,
        reference,
        g.mode,
        tuple(regions),
        sources,
        outputs,
        table,
        1,
        n_candidates,
        ground=ground,
        failed=tuple(failed),
        skipped=skipped,
    )
    notes.extend(footprint_lines(plan))
    transforms = transform_records(plan)
    notes.extend(t["warning"] for t in transforms if t.get("warning"))
    if len(table):
        table = _split_and_guard(plan, notes)
    task_size = _task_size(len(table), cfg.output.patches_per_shard)
    if len(table):
        table["task"] = task_column(len(table), task_size, cfg.output.patches_per_shard)
    label_windows = _label_windows(cfg, regions, sources, reference, outputs, table)
    label_sources = _label_sources(cfg, regions)
    return replace(
        plan,
        table=table,
        task_size=task_size,
        notes=tuple(notes),
        transforms=tuple(transforms),
        label_windows=label_windows,
        label_sources=label_sources,
    )


def transform_records(plan: Plan) -> list[dict[str, Any]]:
    """Each CRS transformation a window depends on (reference -> modality), described.

    A warning is issued (and kept in the record) when PROJ reports no accuracy (e.g. a
    ballpark fallback because a datum grid is missing) or one worse than a quarter of
    the modality's pixel: windows could then be off by more than the half pixel promised.
    """
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for rid, infos in plan.sources.items():
        ref = infos[plan.reference].grid
        for name, info in infos.items():
            if info.grid.crs == ref.crs:
                continue
            key = (ref.crs.to_wkt(), info.grid.crs.to_wkt())
            quarter = min(plan.ground.get(rid, {}).get(name, info.grid.resolution_m)) / 4
            rec = out.get(key)
            if rec is None:
                x, y = ref.center_xy
                rec = out[key] = {**describe(ref.crs, info.grid.crs, x, y), "modalities": []}
            rec["modalities"] = sorted({*rec["modalities"], name})
            rec["quarter_pixel_m"] = min(rec.get("quarter_pixel_m", quarter), quarter)
    for rec in out.values():
        acc = rec["accuracy_m"]
        if acc is None or acc > rec["quarter_pixel_m"]:
            what = "unknown" if acc is None else f"{acc:g} m"
            rec["warning"] = (
                f"transform {rec['src']} -> {rec['dst']} ({rec['operation']}): accuracy {what}, "
                f"more than a quarter pixel ({rec['quarter_pixel_m']:.2f} m) of "
                f"{', '.join(rec['modalities'])}; install the datum grids (pyproj sync / "
                "PROJ_NETWORK=ON) or expect windows off by more than half a pixel"
            )
            warnings.warn(rec["warning"], TransformWarning, stacklevel=3)
    return list(out.values())


def _split_and_guard(plan: Plan, notes: list[str]) -> pd.DataFrame:
    """Assign splits, then drop (or mark) val/test patches that overlap train footprints."""
    cfg, table = plan.config, plan.table
    split = assign_splits(cfg, table, [r.id for r in plan.regions])
    before = {s: int(np.sum(split == s)) for s in SPLITS}
    leaked: dict[str, int] = {}
    assigned = split
    if cfg.split is not None:
        from geoharmony.planning.frame import footprints  # frame builds on this module

        fps = [footprints(plan, name) for name in plan.config.modalities]
        res = apply_guard(cfg.split, split, leaking(split, fps))
        leaked = dict(res.n_leaking)
        table = table.loc[res.keep].reset_index(drop=True)
        table["split_assigned"] = split[res.keep]  # before the guard
        split = res.split[res.keep]
        check_not_empty(cfg, split, before, leaked)
    table["split"] = split
    notes.extend(split_lines(cfg, assigned, split, leaked))
    return table


def _check_orientation(
    cfg: Config, reference: str, sources: Mapping[str, Mapping[str, RasterInfo]]
) -> None:
    """Refuse rotated or sheared rasters where their pixels would be stored as they are.

    Axis-aligned south-up or mirrored rasters are flipped on read (exact); a rotated one
    can only become north-up through a warp: fine in ``resample`` mode, except as the
    reference, whose grid *is* the patches' grid.
    """
    for infos in sources.values():
        for name, info in infos.items():
            if info.orientation != "rotated":
                continue
            t = ", ".join(f"{v:.6g}" for v in tuple(info.grid.transform)[:6])
            fix = "warp it north-up first (gdalwarp)"
            if name == reference:
                raise InputError(
                    f"{info.path}: [modalities.{name}] is the reference but its grid is rotated "
                    f"or sheared (transform {t}); stored patches are north-up: choose a "
                    f"north-up [grid].reference or {fix}"
                )
            if cfg.grid.mode != "resample":
                raise InputError(
                    f"{info.path}: [modalities.{name}] is rotated or sheared (transform {t}); "
                    f"{cfg.grid.mode} mode stores source pixels as they are, never rotated: "
                    f"use [grid].mode = 'resample' or {fix}"
                )


def label_grid_of(cfg: Config, name: str, reference: str) -> str:
    """The modality whose grid a label lies on (the reference in ``resample`` mode)."""
    lab = cfg.labels[name]
    return reference if cfg.grid.mode == "resample" else str(lab.grid or reference)


def _why_empty(
    cfg: Config,
    regions: list[Region],
    sources: Mapping[str, Mapping[str, RasterInfo]],
    reference: str,
    n_candidates: int,
    kept_by_rule: int,
) -> str:
    """The reason a plan has no patch, and what to change."""
    g = cfg.grid
    where = f"{cfg.source}: no patch to write (nothing was written)"
    if kept_by_rule:
        return (
            f"{where}: all {kept_by_rule} patches have a valid fraction below "
            f"[grid].min_valid_fraction = {g.min_valid_fraction:g}: the rasters do not cover "
            "the regions with data; check their extent and nodata or lower the threshold"
        )
    r = regions[0]
    ref = sources[r.id][reference].grid
    geom = r.in_crs(ref.crs)
    xmin, ymin, xmax, ymax = shapely.bounds(geom)
    gx, gy = ref.ground_resolution((xmin + xmax) / 2, (ymin + ymax) / 2)
    cols, rows = ref.to_colrow(np.array([xmin, xmax]), np.array([ymin, ymax]))
    span_x = abs(cols[1] - cols[0]) * gx
    span_y = abs(rows[1] - rows[0]) * gy
    return (
        f"{where}: of {n_candidates} lattice points near the {len(regions)} region(s) none is "
        f"kept by [grid].keep = {g.keep!r}; the patch covers {g.patch_size * gx:.0f} x "
        f"{g.patch_size * gy:.0f} m but region {r.id!r} spans {span_x:.0f} x {span_y:.0f} m. "
        "Fix: a smaller [grid].patch_size or stride, keep = 'center' or 'overlap', or a "
        "[study_area].buffer_m"
    )


def _lattice_groups(
    cfg: Config,
    regions: list[Region],
    sources: Mapping[str, Mapping[str, RasterInfo]],
    reference: str,
) -> list[list[Region]]:
    """Regions grouped by the lattice they share (same reference grid), in region order."""
    groups: dict[str, list[Region]] = {}
    for r in regions:
        key = lattice_key(sources[r.id][reference].grid, cfg.grid.patch_size, cfg.grid.stride)
        groups.setdefault(key, []).append(r)
    return list(groups.values())


def _plan_group(
    cfg: Config,
    members: list[Region],
    sources: Mapping[str, Mapping[str, RasterInfo]],
    reference: str,
    outputs: Mapping[str, OutputSpec],
    ground: Mapping[str, Mapping[str, tuple[float, float]]],
) -> tuple[dict[str, pd.DataFrame], int]:
    """Plan the regions sharing one lattice: every lattice point once, in its owner."""
    ref = sources[members[0].id][reference].grid
    lat = Lattice(ref, cfg.grid.patch_size, cfg.grid.stride)
    key = lattice_key(ref, lat.patch_size, lat.stride)
    members = sorted(members, key=lambda r: r.id)  # region id breaks ownership ties
    crs = members[0].crs
    areas = [_geom_in(r, crs, "geometry") for r in members]
    bounds = [_geom_in(r, crs, "boundary") for r in members]
    # Candidates: the keep rule on the union of the (buffered) areas, so that the regions
    # of a lattice together keep exactly what one region covering their union keeps.
    union = shapely.union_all(np.asarray(areas, dtype=object))
    union_ref = _dense_to(union, crs, ref.crs)
    if shapely.is_empty(union_ref) or not np.all(np.isfinite(shapely.bounds(union_ref))):
        raise CRSMismatchError(
            f"{cfg.study_area.boundary}: region(s) {', '.join(r.id for r in members)} cannot "
            f"be transformed into the reference raster's CRS ({ref.crs.to_string()})"
        )
    box = tuple(shapely.bounds(union_ref))
    n_cand = lat.covering_count(box)
    if n_cand > MAX_CANDIDATES:
        raise ConfigError(
            f"{cfg.source}: [grid].stride = {cfg.grid.stride} px places {n_cand:,} candidate "
            f"patch centres over the study area's extent, more than the {MAX_CANDIDATES:,} "
            "one plan can hold in memory; use a larger [grid].stride or patch_size, or a "
            "smaller study area (nothing was written)"
        )
    ii, jj = lat.covering(box)
    kept = _keep(cfg, lat, union_ref, ii, jj)
    ii, jj = ii[kept], jj[kept]
    cx, cy = lat.xy(ii, jj)
    bx, by = transform_points(cx, cy, ref.crs, crs)
    owner = owners(bx, by, bounds)
    touched = regions_touched(bx, by, areas, [r.id for r in members])
    out = {}
    for k, region in enumerate(members):
        sel = owner == k
        cols = _plan_region(
            cfg, region, sources[region.id], reference, outputs, lat, ii[sel], jj[sel]
        )
        n = int(sel.sum())
        _footprint_columns(cols, n, cfg, reference, outputs, ground[region.id])
        cols["lattice"] = np.full(n, key, dtype=object)
        cols["regions_touched"] = touched[sel][_tile_order(ii[sel], jj[sel])]
        out[region.id] = pd.DataFrame(cols)  # built once: column inserts cost ~0.3 ms each
    return out, n_cand


def _geom_in(region: Region, crs: CRS, which: str) -> Any:
    """A region's area or boundary in ``crs`` (all regions of one file share its CRS)."""
    return region.in_crs(crs, which=which) if region.crs != crs else getattr(region, which)


def _dense_to(geom: Any, src: CRS, dst: CRS) -> Any:
    if src == dst:
        return geom
    return to_crs(np.array([_densify(geom, src)]), src, dst)[0]


def _tile_order(ii: np.ndarray, jj: np.ndarray) -> np.ndarray:
    """Spatial order: tile by tile, then row-major inside a tile (compact tasks)."""
    return np.lexsort((jj, ii, jj // TILE, ii // TILE))


def _label_windows(
    cfg: Config,
    regions: list[Region],
    sources: Mapping[str, Mapping[str, RasterInfo]],
    reference: str,
    outputs: Mapping[str, OutputSpec],
    table: pd.DataFrame,
) -> dict[str, dict[str, LabelWindow]]:
    """Each region-level label's window per region; refuse regions over the label's cap."""
    out: dict[str, dict[str, LabelWindow]] = {}
    p, stride = cfg.grid.patch_size, cfg.grid.stride
    for name, lab in cfg.labels.items():
        if not lab.region_level:
            continue
        g_name = label_grid_of(cfg, name, reference)
        spec = outputs[name]
        out[name] = {}
        for region in regions:
            grid = sources[region.id][g_name].grid
            x0, y0, x1, y1 = shapely.bounds(region.in_crs(grid.crs))
            cs, rs = grid.to_colrow(np.array([x0, x1, x0, x1]), np.array([y0, y0, y1, y1]))
            c_lo, c_hi = math.floor(np.min(cs)), math.ceil(np.max(cs))
            r_lo, r_hi = math.floor(np.min(rs)), math.ceil(np.max(rs))
            sub = table[table["region"] == region.id] if len(table) else table
            if len(sub):
                if cfg.grid.mode == "resample":
                    pc = sub["lattice_j"].to_numpy() * stride
                    pr = sub["lattice_i"].to_numpy() * stride
                    w, h = p, p
                else:
                    pc = sub[f"{g_name}_col_off"].to_numpy()
                    pr = sub[f"{g_name}_row_off"].to_numpy()
                    w, h = spec.width, spec.height
                c_lo, r_lo = min(c_lo, int(pc.min())), min(r_lo, int(pr.min()))
                c_hi, r_hi = max(c_hi, int(pc.max()) + w), max(r_hi, int(pr.max()) + h)
            m = lab.margin
            win = LabelWindow(g_name, c_lo - m, r_lo - m, c_hi - c_lo + 2 * m, r_hi - r_lo + 2 * m)
            if win.megapixels > lab.max_region_mpx:
                gib = win.width * win.height * (BYTES_PER_CELL + 5) / 2**30
                raise ConfigError(
                    f"{cfg.source}: [labels.{name}].max_region_mpx: region {region.id!r} needs "
                    f"a {win.width} x {win.height} px window ({win.megapixels:.0f} Mpx, about "
                    f"{gib:.1f} GiB) over the cap of {lab.max_region_mpx:g} Mpx; raise "
                    "max_region_mpx if this machine has the memory, or split the region"
                )
            out[name][region.id] = win
    return out


def _label_sources(cfg: Config, regions: list[Region]) -> dict[str, dict[str, RasterInfo]]:
    """Headers of ``kind = "raster"`` label sources, per region (``{id}`` substituted)."""
    out: dict[str, dict[str, RasterInfo]] = {}
    for name, lab in cfg.labels.items():
        if lab.kind != "raster" or lab.path is None:
            continue
        out[name] = {}
        for region in regions:
            path = Path(str(lab.path).replace("{id}", region.id))
            out[name][region.id] = read_info(
                path, bands=(1,), nodata=lab.nodata, where=f"[labels.{name}].path"
            )
    return out


def task_bounds(n: int, task_size: int, shard: int) -> np.ndarray:
    """Task boundaries ``[0, ..., n]``: tasks of ``task_size`` patches, the last ones smaller.

    The last ``task_size`` to ``2 * task_size - 1`` patches are cut into tasks of one
    shard each, so that the workers finish together: a worker that runs out of tasks
    waits at most for another's one shard, never for a whole big task. The boundaries
    depend on the plan only (never on the worker count): a resumed run cuts the same tasks.
    """
    if n <= 0:
        return np.zeros(1, dtype=np.int64)
    shard = max(1, min(shard, task_size))
    head = max(0, (n - task_size) // task_size) * task_size
    return np.r_[np.arange(0, head, task_size), np.arange(head, n, shard), n].astype(np.int64)


def task_column(n: int, task_size: int, shard: int) -> np.ndarray:
    """The task of each of ``n`` store positions (see :func:`task_bounds`)."""
    bounds = task_bounds(n, task_size, shard)
    return np.searchsorted(bounds, np.arange(n), side="right") - 1


def _task_size(n: int, shard: int) -> int:
    """Patches per task: a whole number of shards, about 64 patches.

    A task is a compact tile whose windows' union is read once; small plans get smaller
    tasks so that ~8 of them can be spread over workers. It depends on the plan only,
    never on the worker count, so a resumed run cuts the same tasks.
    """
    big = max(shard, round(64 / shard) * shard)
    small = max(shard, 2 * shard if 2 * shard <= big else shard)
    want = shard * math.ceil(n / (8 * shard)) if n else big
    return max(small, min(big, want))


def _output_specs(
    cfg: Config,
    reference: str,
    sources: Mapping[str, Mapping[str, RasterInfo]],
    regions: list[Region],
    ground: Mapping[str, Mapping[str, tuple[float, float]]],
) -> dict[str, OutputSpec]:
    specs: dict[str, OutputSpec] = {}
    sizes_seen: dict[str, set[tuple[int, int]]] = {}
    for r in regions:
        grids = {n: i.grid for n, i in sources[r.id].items()}
        sizes = window_sizes(
            cfg.grid.mode,
            reference,
            cfg.grid.patch_size,
            grids,
            ground=ground[r.id],
            tolerance=cfg.grid.footprint_tolerance_px,
            where=f"{cfg.source}: [grid].patch_size",
        )
        for n, wh in sizes.items():
            sizes_seen.setdefault(n, set()).add(wh)
    for name, m in cfg.modalities.items():
        infos = [sources[r.id][name] for r in regions]
        dtypes = {i.dtype for i in infos}
        counts = {len(i.bands) for i in infos}
        if len(dtypes) > 1 or len(counts) > 1 or len(sizes_seen[name]) > 1:
            raise ConfigError(
                f"{cfg.source}: [modalities.{name}].path gives rasters of different dtype, "
                f"band count or patch size across regions ({sorted(dtypes)}, {sorted(counts)}, "
                f"{sorted(sizes_seen[name])}); per-region files must agree"
            )
        w, h = sizes_seen[name].pop()
        specs[name] = OutputSpec(
            name=name,
            kind="raster",
            dtype=infos[0].dtype,
            bands=len(infos[0].bands),
            width=w,
            height=h,
            fill_value=infos[0].fill_value,
            grid_of=name if cfg.grid.mode != "resample" else reference,
            categorical=m.categorical,
            resampling=m.warp_resampling,
        )
    for name, lab in cfg.labels.items():
        base = specs[lab.grid or reference]
        specs[name] = _label_spec(cfg, name, base, sources, regions)
    return specs


def ground_resolutions(
    regions: list[Region], sources: Mapping[str, Mapping[str, RasterInfo]]
) -> dict[str, dict[str, tuple[float, float]]]:
    """Ground pixel size (m) of every modality at each region's centroid."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for r in regions:
        c = shapely.centroid(r.boundary)
        out[r.id] = {}
        for name, info in sources[r.id].items():
            (x,), (y,) = transform_points(np.array([c.x]), np.array([c.y]), r.crs, info.grid.crs)
            out[r.id][name] = info.grid.ground_resolution(float(x), float(y))
    return out


def _footprint_columns(
    cols: dict[str, Any],
    n: int,
    cfg: Config,
    reference: str,
    outputs: Mapping[str, OutputSpec],
    ground: Mapping[str, tuple[float, float]],
) -> None:
    """True ground footprint of every modality's window and its mismatch to the reference.

    Adds ``n``-long columns to ``cols``.
    """
    p = cfg.grid.patch_size
    rx, ry = (p * v for v in ground[reference])
    for name in cfg.modalities:
        spec = outputs[name]
        gx, gy = ground[name] if cfg.grid.mode != "resample" else ground[reference]
        w, h = (spec.width, spec.height) if cfg.grid.mode != "resample" else (p, p)
        cols[f"{name}_footprint_x_m"] = np.full(n, w * gx)
        cols[f"{name}_footprint_y_m"] = np.full(n, h * gy)
        cols[f"{name}_footprint_dx_m"] = np.full(n, w * gx - rx)
        cols[f"{name}_footprint_dy_m"] = np.full(n, h * gy - ry)


def footprint_lines(plan: Plan) -> list[str]:
    """Each modality's window in pixels and true ground metres (footprint mode)."""
    if plan.mode != "footprint" or not plan.regions:
        return []
    rid = plan.regions[0].id
    g = plan.ground[rid]
    p = plan.config.grid.patch_size
    rx, ry = (p * v for v in g[plan.reference])
    parts = []
    for name in plan.config.modalities:
        o = plan.outputs[name]
        fx, fy = o.width * g[name][0], o.height * g[name][1]
        parts.append(
            f"{name} {o.width} x {o.height} px = {fx:.1f} x {fy:.1f} m "
            f"({fx - rx:+.1f}, {fy - ry:+.1f} m)"
        )
    where = f" at region {rid!r}" if len(plan.regions) > 1 else ""
    return [f"footprint {rx:.1f} x {ry:.1f} m{where}: " + "; ".join(parts)]


def _label_spec(
    cfg: Config,
    name: str,
    base: OutputSpec,
    sources: Mapping[str, Mapping[str, RasterInfo]],
    regions: list[Region],
) -> OutputSpec:
    """What a label's patches hold: dtype, bands, fill, code map and parameters."""
    lab = cfg.labels[name]
    dtype, bands, fill = "uint8", 1, 0.0
    categorical = True
    codes: dict[str, int] | None
    params: dict[str, Any] = {"kind": lab.kind}
    if lab.kind == "vector":
        srcs = lab.sources
        codes = {"none": 0, **{(s.layer or s.path.stem): s.value for s in srcs}}
        if any(s.value_field for s in srcs):
            codes = {"none": 0}  # values come from attributes
        bands = len(srcs) if lab.channels == "per_source" else 1
        params.update(
            all_touched=lab.all_touched,
            coverage=str(lab.coverage),
            channels=lab.channels,
            bands=[s.layer or s.path.stem for s in srcs] if bands > 1 else None,
            value_fields={s.layer or s.path.stem: s.value_field for s in srcs if s.value_field},
            rule="later sources overwrite earlier ones (merged)",
        )
    elif lab.kind in FLOW_KINDS:
        params.update(
            conditioning=lab.conditioning,
            outlets=lab.outlets,
            margin_px=lab.margin,
            rules=dict(FLOW_RULES),
            region_level=True,
        )
        if lab.kind == "d8":
            codes = code_map(lab.encoding)
            fill = float(codes["undefined"])
            params["encoding"] = lab.encoding
        elif lab.kind == "accumulation":
            dtype, fill, categorical, codes = "float32", float("nan"), False, None
            params["units"] = lab.units
            params["includes_self"] = True
        else:
            codes = {"none": 0, "stream": 1}
            params["threshold_km2"] = lab.threshold_km2
    else:  # raster
        params.update(path=str(lab.path), margin_px=lab.margin, region_level=True)
        if lab.codes is not None:
            codes = code_map(lab.encoding)
            fill = float(codes["undefined"])
            params.update(source_codes=lab.codes, encoding=lab.encoding)
        else:
            codes = None
            categorical = lab.categorical
            dtype = "uint8" if categorical else "float32"
            fill = 0.0 if categorical else float("nan")
    return OutputSpec(
        name=name,
        kind=lab.kind,
        dtype=dtype,
        bands=bands,
        width=base.width,
        height=base.height,
        fill_value=fill,
        grid_of=base.grid_of,
        categorical=categorical,
        codes=codes,
        params=params,
        d8_encoding=lab.encoding if lab.is_d8 else None,
    )


def _keep(cfg: Config, lat: Lattice, geom: Any, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Boolean mask of lattice points kept by the ``[grid].keep`` rule (vectorised)."""
    x, y = lat.xy(i, j)
    keep = cfg.grid.keep
    shapely.prepare(geom)
    if keep == "center":
        return np.asarray(shapely.intersects_xy(geom, x, y))
    p = lat.patch_size
    polys = window_polygons(lat.grid, j * lat.stride, i * lat.stride, p, p)
    hit = np.asarray(shapely.intersects(geom, polys))
    out = np.zeros(len(i), dtype=bool)
    if keep == "inside":
        out[hit] = shapely.covers(geom, polys[hit])
        return out
    inter = shapely.area(shapely.intersection(polys[hit], geom))
    out[hit] = inter / shapely.area(polys[hit]) >= cfg.grid.min_overlap - 1e-12
    return out


def _plan_region(
    cfg: Config,
    region: Region,
    infos: Mapping[str, RasterInfo],
    reference: str,
    outputs: Mapping[str, OutputSpec],
    lat: Lattice,
    ii: np.ndarray,
    jj: np.ndarray,
) -> dict[str, Any]:
    """The columns of one region's (owned) lattice points, with every modality's window."""
    ref = lat.grid
    order = _tile_order(ii, jj)
    ii, jj = ii[order], jj[order]
    cx, cy = lat.xy(ii, jj)
    lon, latd = transform_points(cx, cy, ref.crs, WGS84)
    cols: dict[str, Any] = {
        "patch_id": [
            f"{region.id}_r{a}_c{b}" for a, b in zip(ii.tolist(), jj.tolist(), strict=True)
        ],
        "region": np.full(len(ii), region.id, dtype=object),
        "lattice_i": ii,
        "lattice_j": jj,
        "center_x": cx,
        "center_y": cy,
        "lon": lon,
        "lat": latd,
        # the contract's "center lon/lat", spelled out (same values as lon, lat)
        "center_lon": lon,
        "center_lat": latd,
    }
    p = cfg.grid.patch_size
    for name, info in infos.items():
        _warn_if_uncovered(cfg, region, name, info)
        spec = outputs[name]
        if cfg.grid.mode == "resample":
            _resample_windows(
                cols, name, info, ref, ii * lat.stride, jj * lat.stride, p, spec.resampling
            )
            continue
        mx, my = transform_points(cx, cy, ref.crs, info.grid.crs)
        ch = nearest_windows(info.grid, mx, my, spec.width, spec.height)
        cols[f"{name}_col_off"] = ch.col_off
        cols[f"{name}_row_off"] = ch.row_off
        cols[f"{name}_width"] = np.full(len(ii), spec.width, dtype=np.int64)
        cols[f"{name}_height"] = np.full(len(ii), spec.height, dtype=np.int64)
        cols[f"{name}_dcol"] = ch.dcol
        cols[f"{name}_drow"] = ch.drow
        cols[f"{name}_offset_m"] = ch.offset_m
    return cols


def _warn_if_uncovered(cfg: Config, region: Region, name: str, info: RasterInfo) -> None:
    """Warn when a raster does not reach a region at all (a silent all-invalid dataset)."""
    if info.missing:  # warned about when loaded
        return
    try:
        geom = region.in_crs(info.grid.crs)
    except Exception:  # pragma: no cover - a failed transform is reported by the plan
        return
    if not shapely.intersects(geom, shapely.box(*info.grid.bounds)):
        warnings.warn(
            f"[modalities.{name}] {info.path} does not overlap region {region.id!r} at all: "
            "every patch of this modality there will be invalid (mask false)",
            CoverageWarning,
            stacklevel=4,
        )


def _resample_windows(
    cols: dict[str, Any],
    name: str,
    info: RasterInfo,
    ref: Grid,
    row_off: np.ndarray,
    col_off: np.ndarray,
    p: int,
    resampling: str,
) -> None:
    """Source windows covering each destination (reference) window, plus a kernel margin."""
    n = len(row_off)
    polys = window_polygons(ref, col_off, row_off, p, p, points_per_edge=8)
    polys = to_crs(polys, ref.crs, info.grid.crs)
    coords, idx = shapely.get_coordinates(polys, return_index=True)
    c, r = info.grid.to_colrow(coords[:, 0], coords[:, 1])
    cmin = np.full(n, np.inf)
    rmin = np.full(n, np.inf)
    cmax = np.full(n, -np.inf)
    rmax = np.full(n, -np.inf)
    np.minimum.at(cmin, idx, c)
    np.minimum.at(rmin, idx, r)
    np.maximum.at(cmax, idx, c)
    np.maximum.at(rmax, idx, r)
    # GDAL widens the kernel by the scale ratio when it downsamples: the margin is the
    # kernel radius times source pixels per destination pixel (at least 1), plus one
    ratio = np.maximum(np.maximum(cmax - cmin, rmax - rmin) / p, 1.0)
    margin = np.ceil(KERNEL_RADIUS.get(resampling, 3) * ratio).astype(np.int64) + 1
    c0 = np.floor(cmin).astype(np.int64) - margin
    r0 = np.floor(rmin).astype(np.int64) - margin
    cols[f"{name}_col_off"] = c0
    cols[f"{name}_row_off"] = r0
    cols[f"{name}_width"] = np.ceil(cmax).astype(np.int64) + margin - c0
    cols[f"{name}_height"] = np.ceil(rmax).astype(np.int64) + margin - r0
    # Every modality lands on the reference window itself: no residual.
    cols[f"{name}_dcol"] = np.zeros(n)
    cols[f"{name}_drow"] = np.zeros(n)
    cols[f"{name}_offset_m"] = np.zeros(n)
