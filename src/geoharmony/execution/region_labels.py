"""Region-level labels: computed once per region, cached as COGs, windowed per patch.

Before any patch is read, :func:`build_region_labels` computes every ``d8``,
``accumulation``, ``streams`` and ``raster`` label of every region on the window the plan
decided (the region's buffered area and all its patch windows plus a margin) and writes
it as a tiled, DEFLATE-compressed Cloud-Optimized GeoTIFF with an internal validity mask:
``labels/<name>/<region>.tif`` inside the dataset folder, with a small JSON record
(checksum, window, QA counts) beside it. A resumed run trusts existing records. Patches
are then windowed from these files, so they agree with each other and with the region.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely

from geoharmony.geometry.footprint import to_crs, window_polygons
from geoharmony.geometry.grid import Grid
from geoharmony.geometry.sampling import whole_pixel_shift
from geoharmony.geometry.window import Window, subgrid
from geoharmony.io.manifest import sha256_file, write_json_atomic
from geoharmony.io.raster_info import RasterInfo, read_info
from geoharmony.io.reader import RasterReader
from geoharmony.io.warp import warp_window
from geoharmony.labels.region import (
    RegionLabel,
    cell_sizes_m,
    class_fractions,
    flow_labels,
    positives_per_window,
    raster_label,
    south_up,
)
from geoharmony.planning.config.labels import FLOW_KINDS
from geoharmony.planning.plan import Plan, _task_size, task_column, warp_margin
from geoharmony.planning.windows import region_windows

#: Folder of the region label rasters inside a dataset.
LABELS_DIR = "labels"


def region_label_path(root: Path, name: str, region: str) -> Path:
    """Where a region's label raster lives in a dataset folder."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", region)
    return root / LABELS_DIR / name / f"{safe}.tif"


def _read_on(
    info: RasterInfo, base: Grid, window: Window, *, resampling: str
) -> tuple[np.ndarray, np.ndarray]:
    """Band 1 of ``info`` on ``window`` of grid ``base``: a plain read, else a warp.

    The warp is the patches' (:func:`~geoharmony.io.warp.warp_window` on the same grid),
    so in resample mode a region's DEM has the very values of its patches' DEM.
    """
    g = info.grid
    dst = subgrid(base, window)
    # the one "same lattice" rule of resample mode (tasks use it too), so a region's label
    # is read where its patches are copied, and warped where they are warped
    shift = whole_pixel_shift(g, base)
    with RasterReader(dataclasses.replace(info, bands=(1,))) as reader:
        if shift is not None:
            b = reader.read_block(
                window.col_off + shift[0], window.row_off + shift[1], dst.width, dst.height
            )
            return b.data[0], b.valid
        poly = window_polygons(
            dst, np.array([0]), np.array([0]), dst.width, dst.height, points_per_edge=16
        )
        poly = to_crs(poly, dst.crs, g.crs)
        cs, rs = g.to_colrow(*shapely.get_coordinates(poly).T)
        # issue 9: the kernel widened by the downsampling ratio (a fixed margin truncates it)
        ratio = max(float(cs.max() - cs.min()) / dst.width, float(rs.max() - rs.min()) / dst.height)
        m = warp_margin(resampling, ratio)
        c0 = math.floor(float(cs.min())) - m
        r0 = math.floor(float(rs.min())) - m
        c1 = math.ceil(float(cs.max())) + m
        r1 = math.ceil(float(rs.max())) + m
        b = reader.read_block(c0, r0, c1 - c0, r1 - r0)
    data, valid = warp_window(
        b, g, base, window, resampling=resampling, dtype=np.dtype("float32"), fill=float("nan")
    )
    return data[0], valid


def compute_region_label(plan: Plan, name: str, region: str) -> tuple[RegionLabel, Grid]:
    """Compute one region's label on its planned window (reads the DEM or raster once)."""
    lab = plan.config.labels[name]
    win = plan.label_windows[name][region]
    base = plan.sources[region][win.grid_of].grid
    window = Window(win.col_off, win.row_off, win.width, win.height)
    dst = subgrid(base, window)
    if lab.kind in FLOW_KINDS:
        info = plan.sources[region][str(lab.dem)]
        dem, valid = _read_on(info, base, window, resampling="bilinear")
        dx_rows, dy = cell_sizes_m(base, win.row_off, win.height)
        out = flow_labels(lab, dem, valid, dx_rows, dy)
    else:
        info = plan.label_sources[name][region]
        values, valid = _read_on(info, base, window, resampling="nearest")
        if lab.codes is not None or lab.categorical:
            values = np.where(valid, values, 0)
        out = raster_label(lab, values, valid)
    out.qa["row0"] = "south" if south_up(dst) else "north"
    return out, dst


def write_label_raster(path: Path, label: RegionLabel, grid: Grid) -> None:
    """Write a region label as a tiled COG with an internal mask (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    data = label.data
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True),
        rasterio.open(
            tmp,
            "w",
            driver="COG",
            width=grid.width,
            height=grid.height,
            count=1,
            dtype=data.dtype.name,
            crs=grid.crs.to_wkt(),
            transform=grid.transform,
            compress="DEFLATE",
            predictor=3 if data.dtype.kind == "f" else 2,
            blocksize=512,
            overviews="NONE",
            bigtiff="IF_SAFER",
        ) as ds,
    ):
        ds.write(data, 1)
        ds.write_mask(label.valid)
    os.replace(tmp, path)


def build_region_labels(plan: Plan, root: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Compute (or find, when resuming) every region-level label; return their records.

    Each record: ``path`` (relative to the dataset), ``sha256``, ``window``, ``qa``
    (undefined cells, cycle cells, largest contributing area...) and ``class_fractions``.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, wins in plan.label_windows.items():
        out[name] = {}
        lab = plan.config.labels[name]
        for region, win in wins.items():
            infos = plan.sources[region]
            if infos[win.grid_of].missing or (lab.dem is not None and infos[lab.dem].missing):
                continue  # on_missing = "masked": no DEM/grid file here; the label is masked
            path = region_label_path(root, name, region)
            rec_path = path.with_suffix(".json")
            if rec_path.is_file() and path.is_file():
                out[name][region] = json.loads(rec_path.read_text(encoding="utf-8"))
                continue
            label, grid = compute_region_label(plan, name, region)
            write_label_raster(path, label, grid)
            rec = {
                "path": str(path.relative_to(root)),
                "sha256": sha256_file(path),
                "window": win.to_dict(),
                "qa": label.qa,
                "valid_fraction": float(label.valid.mean()) if label.valid.size else 0.0,
                "class_fractions": class_fractions(label.data, label.valid),
            }
            del label
            write_json_atomic(rec_path, rec)
            out[name][region] = rec
    return out


def region_label_info(root: Path, name: str, region: str) -> RasterInfo:
    """Header of a region label raster (for the per-patch reads)."""
    return read_info(
        region_label_path(root, name, region), bands=(1,), nodata=None, where=f"labels.{name}"
    )


def apply_min_positive(plan: Plan, root: Path) -> Plan:
    """Drop the patches with fewer positive pixels than a label's ``min_positive``.

    Counts come from the region label rasters (``streams``, categorical ``raster``) or,
    for ``vector`` labels, from burning each patch window (pixels inside the coverage;
    the grid modality's own validity is not read for this count), so the decision is made
    before any patch is written; the plan's tasks are cut anew.
    """
    cfg = plan.config
    rules = {n: lab for n, lab in cfg.labels.items() if lab.min_positive}
    if not rules or not len(plan.table):
        return plan
    keep = np.ones(len(plan.table), dtype=bool)
    t = plan.table
    for name, lab in rules.items():
        spec = plan.outputs[name]
        if lab.kind == "vector":
            keep &= _vector_positives(plan, name) >= lab.min_positive
            continue
        for region, win in plan.label_windows[name].items():
            rows = np.flatnonzero(t["region"].to_numpy() == region)
            if not len(rows):
                continue
            with rasterio.open(region_label_path(root, name, region)) as ds:
                data = ds.read(1)
                valid = ds.read_masks(1) > 0
            sub = t.iloc[rows]
            if plan.mode == "resample":
                c = sub["lattice_j"].to_numpy() * cfg.grid.stride
                r = sub["lattice_i"].to_numpy() * cfg.grid.stride
            else:
                c = sub[f"{win.grid_of}_col_off"].to_numpy()
                r = sub[f"{win.grid_of}_row_off"].to_numpy()
            n = positives_per_window(
                data, valid, c - win.col_off, r - win.row_off, spec.width, spec.height
            )
            keep[rows] &= n >= lab.min_positive
    if keep.all():
        return plan
    table = t[keep].reset_index(drop=True)
    task_size = _task_size(len(table), cfg.output.patches_per_shard)
    if len(table):
        table["task"] = task_column(len(table), task_size, cfg.output.patches_per_shard)
    return dataclasses.replace(plan, table=table, task_size=task_size)


def _vector_positives(plan: Plan, name: str) -> np.ndarray:
    """Burned pixels (any band, inside the coverage) of a vector label, per patch."""
    from geoharmony.labels.vector import (
        burn,
        coverage_geometry,
        coverage_mask,
        load_vector_layers,
    )

    lab = plan.config.labels[name]
    out = np.zeros(len(plan.table), dtype=np.int64)
    regions = {r.id: r for r in plan.regions}
    for rw in region_windows(plan, name):
        layers = load_vector_layers(lab.sources, rw.grid, where=f"[labels.{name}]")
        cover = coverage_geometry(lab.coverage, layers, regions[rw.region], rw.grid)
        for k, w in zip(rw.positions, rw.windows, strict=True):
            patch = subgrid(rw.grid, w)
            burned = burn(layers, patch, all_touched=lab.all_touched) > 0
            out[k] = int(np.count_nonzero(burned & coverage_mask(cover, patch)))
    return out
