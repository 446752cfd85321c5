"""Striped (non-tiled) rasters are read in column ranges, not at the full raster width."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from geoharmony.io.raster_info import read_info
from geoharmony.io.reader import STRIP_COLUMNS, RasterReader, plan_reads
from synth import write_coord_raster


def test_striped_raster_reads_only_the_needed_columns(tmp_path: Path) -> None:
    p = write_coord_raster(
        tmp_path / "striped.tif",
        crs=32616,
        transform=Affine(10, 0, 500000, 0, -10, 4400000),
        width=5000,
        height=64,
        tiled=False,
    )
    with rasterio.open(p) as ds:
        assert ds.block_shapes[0][1] == 5000  # a strip spans the full width
        full = ds.read()
    info = read_info(p, bands=None, nodata=None, where="striped")
    with RasterReader(info) as r:
        assert r.block_width == STRIP_COLUMNS
        rects = plan_reads(
            np.array([2100]),
            np.array([10]),
            np.array([64]),
            np.array([32]),
            raster_width=5000,
            raster_height=64,
            block_width=r.block_width,
            block_height=r.block_height,
        )
        assert sum(rc.width * rc.height for rc in rects) <= STRIP_COLUMNS * 64
        block = r.read_block(2100, 10, 64, 32)
    np.testing.assert_array_equal(block.data, full[:, 10:42, 2100:2164])
    assert block.valid.all()


def test_vector_labels_read_per_region_with_a_bbox_and_a_bounded_cache(tmp_path: Path) -> None:
    import geopandas as gpd
    import shapely

    import geoharmony as gh
    from geoharmony.execution import tasks
    from geoharmony.labels.vector import load_vector_layers
    from geoharmony.planning.plan import compute_plan
    from scenes import small_scene

    cfg = gh.load_config(small_scene(tmp_path, regions=3, labels=True))
    lines = [
        shapely.LineString([(-88.9 + k * 0.01, 40.29), (-88.9 + k * 0.01, 40.31)])
        for k in range(-40, 41)
    ]
    gpd.GeoDataFrame(geometry=lines, crs=4326).to_file(
        tmp_path / "streams.geojson", driver="GeoJSON"
    )
    plan = compute_plan(cfg)
    ts = tasks.make_tasks(plan, tmp_path, set())
    ext = {r: e for t in ts for r, e in t.label_extents.items()}
    assert set(ext) == {r.id for r in plan.regions}
    info = plan.sources[plan.regions[0].id]["dem"]
    src = cfg.labels["streams"].sources
    whole = load_vector_layers(src, info.grid, where="streams")
    part = load_vector_layers(
        src, info.grid, where="streams", bbox=ext[plan.regions[0].id]["streams"]
    )
    assert 0 < len(part[0].geoms) < len(whole[0].geoms) / 4
    # the dataset is the same as one burned from whole layers
    out = gh.extract(cfg, out=tmp_path / "ds", workers=1)
    assert len(tasks._VECTORS) <= tasks.VECTOR_CACHE_SIZE
    ds = gh.open_dataset(out)
    burned = sum(int(ds[i]["streams"].sum() > 0) for i in range(len(ds)))
    assert burned > 0
