"""Labels through the whole pipeline: vector burn and D8 stored like modalities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

import geoharmony as gh
from geoharmony.labels import d8_flow_direction
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
    burned = 0
    with rasterio.open(tmp_path / "dem.tif") as src:
        for i in range(len(ds)):
            s = ds[i]
            c, r = int(idx.loc[i, "dem_col_off"]), int(idx.loc[i, "dem_row_off"])
            # D8 oracle: a boundless read with a 1-pixel halo, computed independently
            halo = src.read(
                1, window=Window(c - 1, r - 1, 18, 18), boundless=True, fill_value=-9999
            )
            codes, ok = d8_flow_direction(halo, halo != -9999, (10.0, 10.0))
            np.testing.assert_array_equal(s["flowdir"][0], codes)
            np.testing.assert_array_equal(s["flowdir_mask"], ok)
            assert s["streams"].dtype == np.uint8
            burned += int(s["streams"].sum())
    # the stream runs east-west through the centre: some patches carry it, 1-3 px wide
    assert burned > 0
    rows_with_stream = {i for i in range(len(ds)) if ds[i]["streams"].any()}
    lat_of = idx["lat"].to_numpy()
    assert rows_with_stream, "no patch holds the stream"
    assert all(abs(lat_of[i] - 40.3) < 0.002 for i in rows_with_stream)
