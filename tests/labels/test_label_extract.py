"""Labels through the whole pipeline: vector burn and D8 stored like modalities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

import geoharmony as gh
from geoharmony.labels import conditioned_d8
from scenes import small_scene


def test_labels_are_extracted_on_the_dem_windows(tmp_path: Path) -> None:
    cfg = gh.load_config(small_scene(tmp_path, labels=True))
    out = gh.extract(cfg)
    ds = gh.open_dataset(out)
    idx = ds.index
    assert {"streams", "flowdir"} <= set(ds.outputs)
    man = ds.manifest["outputs"]
    assert man["flowdir"]["codes"]["east"] == 1 and man["flowdir"]["codes"]["northeast"] == 128
    assert man["streams"]["codes"]["streams"] == 1
    # D8 oracle: the region's window read straight from the DEM (boundless) and
    # conditioned independently; every patch is a window of it
    win = man["flowdir"]["regions"]["all"]["window"]
    with rasterio.open(tmp_path / "dem.tif") as src:
        dem = src.read(
            1,
            window=Window(win["col_off"], win["row_off"], win["width"], win["height"]),
            boundless=True,
            fill_value=-9999,
        )
    valid = dem != -9999
    region = conditioned_d8(dem, valid, 10.0, 10.0)
    burned = 0
    for i in range(len(ds)):
        s = ds[i]
        c = int(idx.loc[i, "dem_col_off"]) - win["col_off"]
        r = int(idx.loc[i, "dem_row_off"]) - win["row_off"]
        np.testing.assert_array_equal(s["flowdir"][0], region[r : r + 16, c : c + 16])
        np.testing.assert_array_equal(s["flowdir_mask"], valid[r : r + 16, c : c + 16])
        assert s["streams"].dtype == np.uint8
        burned += int(s["streams"].sum())
    # the stream runs east-west through the centre: some patches carry it, 1-3 px wide
    assert burned > 0
    rows_with_stream = {i for i in range(len(ds)) if ds[i]["streams"].any()}
    lat_of = idx["lat"].to_numpy()
    assert rows_with_stream, "no patch holds the stream"
    assert all(abs(lat_of[i] - 40.3) < 0.002 for i in rows_with_stream)


def test_two_layers_of_one_geopackage_get_their_own_codes(tmp_path: Path) -> None:
    """The contract's NHD example: two layers of one file, burned with codes 1 and 2."""
    import geopandas as gpd
    import shapely

    cfgp = small_scene(tmp_path)
    gpkg = tmp_path / "nhd.gpkg"
    line = shapely.LineString([(-88.92, 40.3), (-88.88, 40.3)])
    lake = shapely.Point(-88.9, 40.305).buffer(0.001)
    gpd.GeoDataFrame(geometry=[line], crs=4326).to_file(gpkg, layer="NHDFlowline")
    gpd.GeoDataFrame(geometry=[lake], crs=4326).to_file(gpkg, layer="NHDWaterbody")
    cfgp.write_text(
        cfgp.read_text()
        + """
[labels.water]
kind = "vector"
grid = "dem"
sources = [
  { path = "nhd.gpkg", layer = "NHDFlowline", buffer_m = 15 },
  { path = "nhd.gpkg", layer = "NHDWaterbody" },
]
"""
    )
    ds = gh.open_dataset(gh.extract(gh.load_config(cfgp)))
    codes = ds.manifest["outputs"]["water"]["codes"]
    assert codes == {"none": 0, "NHDFlowline": 1, "NHDWaterbody": 2}
    seen = set()
    for i in range(len(ds)):
        seen |= set(np.unique(ds[i]["water"]).tolist())
    assert seen == {0, 1, 2}
