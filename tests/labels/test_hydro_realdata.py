"""The conditioned D8 on the real 10 m NED of the NM HUC12, against pysheds and NHD lines.

Recall of the NHD flowlines is defined as: the fraction of NHD line pixels (the distinct
flowlines, rasterised on the DEM grid, at least 2 px from its border) that have a stream
pixel (upstream area >= 0.1 km²) within 2 pixels (a 5 x 5 neighbourhood). The value
within 1 pixel is printed with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.features import rasterize
from scipy import ndimage

from geoharmony.geometry.grid import Grid
from geoharmony.labels.hydro import conditioned_d8, d8_qa, flow_accumulation
from geoharmony.labels.region import cell_sizes_m
from hydro_oracle import pysheds_recipe

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

CASE = "nm_huc12_ned10m"
DEM = "USGS_NED_13_n37w108_Clipped.tif"


@pytest.fixture(scope="module")
def nm(shared_data: Path) -> dict:
    d = shared_data / CASE
    with rasterio.open(d / DEM) as src:
        dem = src.read(1)
        grid = Grid.from_dataset(src)
        valid = np.isfinite(dem) & (dem != src.nodata)
    dx, dy = grid.resolution_m  # at the centre latitude, as pysheds gets them
    code = conditioned_d8(dem, valid, dx, dy)
    acc, cycles = flow_accumulation(code, valid, units="km2", dx=dx, dy=dy)
    ref, ref_acc = pysheds_recipe(dem, dx, dy)
    return {
        "dir": d,
        "dem": dem,
        "valid": valid,
        "grid": grid,
        "dx": dx,
        "dy": dy,
        "code": code,
        "acc": acc,
        "cycles": cycles,
        "ref": ref,
        "ref_acc_km2": ref_acc * dx * dy / 1e6,
    }


def test_codes_match_the_pysheds_recipe(nm: dict) -> None:
    v = nm["valid"]
    agree = (nm["code"] == nm["ref"])[v].mean()
    print(f"agreement with pysheds: {agree:.4%}")
    assert agree >= 0.98
    # per-row ground widths (the product's choice on geographic rasters) agree as well
    dx_rows, dy = cell_sizes_m(nm["grid"], 0, nm["grid"].height)
    rows = conditioned_d8(nm["dem"], v, dx_rows, dy)
    assert (rows == nm["ref"])[v].mean() >= 0.98


def test_every_valid_cell_drains_to_an_outlet(nm: dict) -> None:
    qa = d8_qa(nm["code"], nm["valid"])
    assert qa["undefined"] == 0 and qa["cycle_cells"] == 0 and nm["cycles"] == 0
    assert qa["valid"] == nm["valid"].sum()
    # the recipe leaves pits (edge outlets and a few made by its epsilon inflation)
    assert d8_qa(nm["ref"], nm["valid"])["undefined"] > 0


def test_accumulation_agrees_with_pysheds(nm: dict) -> None:
    acc, ref = nm["acc"], nm["ref_acc_km2"]
    cell = nm["dx"] * nm["dy"] / 1e6
    m = (acc > 10 * cell) | (ref > 10 * cell)
    rel = np.abs(acc[m] - ref[m]) / np.maximum(acc[m], ref[m])
    assert (rel < 0.01).mean() >= 0.97
    # the largest contributing area is at least the recipe's (whose pits cut the network)
    print(f"largest area: {np.nanmax(acc):.2f} km2 (pysheds {ref.max():.2f} km2)")
    assert np.nanmax(acc) >= ref.max() > 100


def test_streams_recover_the_nhd_flowlines(nm: dict) -> None:
    import geopandas as gpd

    gdf = gpd.read_file(nm["dir"] / "NHDFlowline.shp").to_crs(nm["grid"].crs)
    geoms = shapely.force_2d(np.asarray(gdf.geometry.values))
    _, first = np.unique(shapely.to_wkb(shapely.normalize(geoms)), return_index=True)
    geoms = geoms[np.sort(first)]  # every line is stored twice
    shape = nm["dem"].shape
    lines = rasterize(((g, 1) for g in geoms), out_shape=shape, transform=nm["grid"].transform)
    inner = np.zeros(shape, bool)
    inner[2:-2, 2:-2] = True
    truth = (lines > 0) & inner
    streams = np.nan_to_num(nm["acc"]) >= 0.1
    recall = {}
    for px in (1, 2):
        near = ndimage.binary_dilation(streams, structure=np.ones((3, 3), bool), iterations=px)
        recall[px] = near[truth].mean()
    print(f"NHD recall: {recall[1]:.1%} within 1 px, {recall[2]:.1%} within 2 px")
    assert recall[2] >= 0.70


def test_extracted_patches_of_the_huc12_stitch_into_the_region(
    shared_data: Path, tmp_path: Path
) -> None:
    """The product path on the real case: geographic DEM, HUC12 boundary, 256 px patches."""
    import geoharmony as gh

    d = shared_data / CASE
    cfgp = tmp_path / "pipeline.toml"
    cfgp.write_text(
        f"""
[study_area]
boundary = "{d / "WBDHU12.geojson"}"

[grid]
patch_size = 256
stride = 256

[modalities.dem]
path = "{d / DEM}"

[output]
path = "{tmp_path / "out"}"

[labels.flowdir]
kind = "d8"
dem = "dem"

[labels.area]
kind = "accumulation"
dem = "dem"

[labels.streams]
kind = "streams"
dem = "dem"
threshold_km2 = 0.1
"""
    )
    ds = gh.open_dataset(gh.extract(gh.load_config(cfgp)))
    man = ds.manifest
    assert man["label_qa"]["d8_undefined"] == 0 and man["label_qa"]["d8_cycle_cells"] == 0
    (rec,) = man["outputs"]["area"]["regions"].values()  # one region: the HUC12
    win = rec["window"]
    with rasterio.open(ds.root / rec["path"]) as src:
        region = src.read(1)
    for i in range(len(ds)):
        row = ds.index.iloc[i]
        c = int(row["dem_col_off"]) - win["col_off"]
        r = int(row["dem_row_off"]) - win["row_off"]
        s = ds[i]
        m = s["area_mask"]
        np.testing.assert_array_equal(s["area"][0][m], region[r : r + 256, c : c + 256][m])
    # the HUC12 drains through one outlet: its largest contributing area covers it
    assert np.nanmax(region) > 100.0  # km² (the HUC12 is 104.9 km²)
