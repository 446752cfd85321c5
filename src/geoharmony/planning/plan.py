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

from geoharmony.errors import ConfigError, CoverageWarning, CRSMismatchError, InputError
from geoharmony.geometry.d8codes import code_map
from geoharmony.geometry.footprint import to_crs, transform_points, window_polygons
from geoharmony.geometry.grid import Grid
from geoharmony.geometry.lattice import Lattice
from geoharmony.geometry.modes import finest, window_sizes
from geoharmony.geometry.window import nearest_windows
from geoharmony.io.codec import same
from geoharmony.io.raster_info import RasterInfo, read_info
from geoharmony.io.stack import stack_vrt
from geoharmony.planning.config import Config
from geoharmony.planning.config.labels import BYTES_PER_CELL, FLOW_KINDS, FLOW_RULES
from geoharmony.planning.study_area import Region, load_regions

WGS84 = CRS.from_epsg(4326)
#: Lattice points per side of one spatial tile: patches are ordered tile by tile.
TILE = 8
#: Margin (source pixels) read around a warped window, for the resampling kernel.
WARP_MARGIN = 3


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
    #: label -> region id -> window of that label's region raster on its grid
    label_windows: Mapping[str, Mapping[str, LabelWindow]] = field(default_factory=dict)
    #: label -> region id -> header of a ``kind = "raster"`` label's source raster
    label_sources: Mapping[str, Mapping[str, RasterInfo]] = field(default_factory=dict)
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
        return math.ceil(self.n_patches / self.task_size) if self.n_patches else 0

    def task_range(self, task: int) -> tuple[int, int]:
        """Patch positions ``[start, stop)`` of one task."""
        start = task * self.task_size
        return start, min(start + self.task_size, self.n_patches)

    def fingerprint(self) -> str:
        """Stable hash of what this plan would write (config, inputs' identity, patches)."""
        h = hashlib.sha256()
        h.update(json.dumps(self.config.to_dict(), sort_keys=True, default=str).encode())
        for rid in sorted(self.sources):
            for name, info in sorted(self.sources[rid].items()):
                if info.missing:
                    h.update(f"{rid}|{name}|{info.path}|missing".encode())
                    continue
                st = info.path.stat()
                h.update(f"{rid}|{name}|{info.path}|{st.st_size}|{st.st_mtime_ns}".encode())
        h.update(
            pd.util.hash_pandas_object(self.table[_KEY_COLS], index=False).to_numpy().tobytes()
        )
        return h.hexdigest()


_KEY_COLS = ["patch_id", "region", "lattice_i", "lattice_j"]


def load_sources(cfg: Config, regions: list[Region]) -> dict[str, dict[str, RasterInfo]]:
    """Read every raster header needed, once per distinct file."""
    cache: dict[str, RasterInfo] = {}
    out: dict[str, dict[str, RasterInfo]] = {}
    masked: list[tuple[str, str, Path]] = []
    for r in regions:
        out[r.id] = {}
        for name, m in cfg.modalities.items():
            where = f"[modalities.{name}].path"
            if m.on_missing == "masked" and not m.exists_for(r.id):
                masked.append((r.id, name, m.path_for(r.id)))
                continue
            p = stack_vrt(m.stack_for(r.id), where=where) if m.stack else m.path_for(r.id)
            key = f"{p}|{m.bands}|{m.nodata}"
            if key not in cache:
                cache[key] = read_info(
                    p, bands=m.bands, nodata=m.nodata, where=f"[modalities.{name}].path"
                )
            out[r.id][name] = cache[key]
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
    return {r.id: {n: out[r.id][n] for n in cfg.modalities} for r in regions}


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


def compute_plan(cfg: Config, *, regions: list[Region] | None = None) -> Plan:
    """Decide every patch and window (see module docstring). No pixels are read."""
    regions = load_regions(cfg.study_area) if regions is None else regions
    regions, skipped = skip_missing(cfg, regions)
    sources = load_sources(cfg, regions)
    g = cfg.grid
    first = sources[regions[0].id]
    reference = g.reference or finest({n: i.grid for n, i in first.items()})
    if any(infos[reference].missing for infos in sources.values()):
        raise ConfigError(
            f"{cfg.source}: [modalities.{reference}] is the reference raster (its lattice places "
            'the patches), so on_missing = "masked" cannot apply to it; use "skip_region"'
        )
    outputs = _output_specs(cfg, reference, sources, regions)

    frames = []
    n_candidates = 0
    for region in regions:
        infos = sources[region.id]
        frame, n = _plan_region(cfg, region, infos, reference, outputs)
        n_candidates += n
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    s = cfg.output.patches_per_shard
    task_size = _task_size(len(table), s)
    if len(table):
        table["task"] = np.arange(len(table)) // task_size
        table["split"] = _assign_splits(cfg, table)
    label_windows = _label_windows(cfg, regions, sources, reference, outputs, table)
    label_sources = _label_sources(cfg, regions)
    return Plan(
        cfg,
        reference,
        g.mode,
        tuple(regions),
        sources,
        outputs,
        table,
        task_size,
        n_candidates,
        label_windows,
        label_sources,
        skipped,
    )


def label_grid_of(cfg: Config, name: str, reference: str) -> str:
    """The modality whose grid a label lies on (the reference in ``resample`` mode)."""
    lab = cfg.labels[name]
    return reference if cfg.grid.mode == "resample" else str(lab.grid or reference)


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
) -> tuple[pd.DataFrame, int]:
    ref = infos[reference].grid
    lat = Lattice(ref, cfg.grid.patch_size, cfg.grid.stride)
    geom_ref = region.in_crs(ref.crs)
    if shapely.is_empty(geom_ref) or not np.all(np.isfinite(shapely.bounds(geom_ref))):
        raise CRSMismatchError(
            f"{cfg.study_area.boundary}: region {region.id!r} cannot be transformed into the "
            f"reference raster's CRS ({ref.crs.to_string()})"
        )
    ii, jj = lat.covering(tuple(shapely.bounds(geom_ref)))
    n_cand = len(ii)
    kept = _keep(cfg, lat, geom_ref, ii, jj)
    ii, jj = ii[kept], jj[kept]
    # Spatial order: tile by tile, then row-major inside a tile (compact tasks).
    order = np.lexsort((jj, ii, jj // TILE, ii // TILE))
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
            _resample_windows(cols, name, info, ref, ii * lat.stride, jj * lat.stride, p)
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
    return pd.DataFrame(cols), n_cand


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
    c0 = np.floor(cmin).astype(np.int64) - WARP_MARGIN
    r0 = np.floor(rmin).astype(np.int64) - WARP_MARGIN
    cols[f"{name}_col_off"] = c0
    cols[f"{name}_row_off"] = r0
    cols[f"{name}_width"] = np.ceil(cmax).astype(np.int64) + WARP_MARGIN - c0
    cols[f"{name}_height"] = np.ceil(rmax).astype(np.int64) + WARP_MARGIN - r0
    # Every modality lands on the reference window itself: no residual.
    cols[f"{name}_dcol"] = np.zeros(n)
    cols[f"{name}_drow"] = np.zeros(n)
    cols[f"{name}_offset_m"] = np.zeros(n)


# -- splits -----------------------------------------------------------------------------
def _uniform_hash(a: np.ndarray, b: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic uniform [0, 1) values from integer pairs (splitmix64 mixing)."""
    with np.errstate(over="ignore"):
        z = (a.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (
            b.astype(np.uint64) + np.uint64(seed) * np.uint64(0xBF58476D1CE4E5B9)
        )
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _split_of(u: np.ndarray, fractions: tuple[float, float, float]) -> np.ndarray:
    edges = np.cumsum(fractions)
    names = np.array(["train", "val", "test"], dtype=object)
    return names[np.minimum(np.searchsorted(edges, u, side="right"), 2)]


def _assign_splits(cfg: Config, table: pd.DataFrame) -> np.ndarray:
    sc = cfg.split
    if sc is None:
        return np.full(len(table), "train", dtype=object)
    if sc.by == "region":
        ids = sorted(table["region"].unique())
        if sc.lists:
            lookup = {rid: k for k, v in sc.lists.items() for rid in v}
            return table["region"].map(lambda r: lookup.get(r, "unassigned")).to_numpy(dtype=object)
        rng = np.random.default_rng(sc.seed)
        perm = rng.permutation(len(ids))
        n = len(ids)
        n_train = round(sc.fractions[0] * n)
        n_val = round(sc.fractions[1] * n)
        names = np.array(["test"] * n, dtype=object)
        names[perm[:n_train]] = "train"
        names[perm[n_train : n_train + n_val]] = "val"
        lookup2 = dict(zip(ids, names, strict=True))
        return table["region"].map(lookup2).to_numpy(dtype=object)
    # by block: square blocks of block_m metres in a global equal-area CRS.
    x, y = transform_points(
        table["lon"].to_numpy(), table["lat"].to_numpy(), WGS84, CRS.from_epsg(6933)
    )
    bx = np.floor(x / sc.block_m).astype(np.int64)
    by = np.floor(y / sc.block_m).astype(np.int64)
    return _split_of(_uniform_hash(bx, by, sc.seed), sc.fractions)
