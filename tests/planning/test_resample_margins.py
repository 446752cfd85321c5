"""Resample margins from the kernel radius times the scale ratio (issue 9, item 7).

A 10 m source downsampled onto a 30 m (cubic) and a 100 m (bilinear) reference: every
stored patch equals a warp of the *whole* source raster onto the same patch grid (a
fixed 3-pixel margin truncated GDAL's widened kernel at patch borders).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.warp import Resampling, reproject

import geoharmony as gh
from synth import lonlat_to, write_boundary, write_config

CRS = "EPSG:32613"
X0, Y0 = lonlat_to(CRS, -105.3, 40.2)
X0, Y0 = float(round(X0, -2)), float(round(Y0, -2))


def _write(path: Path, res: float, n: int, data: np.ndarray | None = None) -> Path:
    if data is None:
        data = np.zeros((1, n, n), dtype="float32")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="float32",
        crs=CRS,
        transform=Affine(res, 0, X0, 0, -res, Y0),
        tiled=True,
        blockxsize=64,
        blockysize=64,
    ) as ds:
        ds.write(data)
    return path


@pytest.mark.parametrize(("res", "resampling"), [(30.0, "cubic"), (100.0, "bilinear")])
def test_downsampled_patches_equal_a_full_raster_warp(
    tmp_path: Path, res: float, resampling: str
) -> None:
    rng = np.random.default_rng(0)
    src = rng.normal(100, 20, size=(1, 600, 600)).astype("float32")  # 6 km of 10 m noise
    _write(tmp_path / "src.tif", 10.0, 600, src)
    n = int(6000 / res)
    _write(tmp_path / "ref.tif", res, n)
    write_boundary(
        tmp_path / "a.geojson", [shapely.box(X0 + 1500, Y0 - 4500, X0 + 4500, Y0 - 1500)], CRS
    )
    cfg = write_config(
        tmp_path / "p.toml",
        f"""
        [study_area]
        boundary = "a.geojson"

        [grid]
        reference = "ref"
        patch_size = 8
        stride = 8
        mode = "resample"

        [modalities.ref]
        path = "ref.tif"

        [modalities.src]
        path = "src.tif"
        resampling = "{resampling}"

        [output]
        path = "out"
        patches_per_shard = 4
        """,
    )
    ds = gh.open_dataset(gh.extract(gh.load_config(cfg), progress=False))
    idx = ds.index
    data = ds.store.read("src", slice(None))
    mask = ds.store.read("src_mask", slice(None))
    ratio = res / 10.0
    radius = {"cubic": 2, "bilinear": 1}[resampling]
    margins = idx["src_width"] - 8 * ratio  # what the plan read around the patch
    assert (margins >= 2 * radius * ratio).all()
    assert len(idx) >= 4 and mask.all()
    for k in range(len(idx)):
        i, j = int(idx["lattice_i"][k]), int(idx["lattice_j"][k])
        dst_t = Affine(res, 0, X0 + j * 8 * res, 0, -res, Y0 - i * 8 * res)
        want = np.full((1, 8, 8), np.nan)
        reproject(
            src.astype(np.float64),
            want,
            src_transform=Affine(10, 0, X0, 0, -10, Y0),
            src_crs=CRS,
            dst_transform=dst_t,
            dst_crs=CRS,
            resampling=Resampling[resampling],
            src_nodata=np.nan,
            dst_nodata=np.nan,
        )
        np.testing.assert_allclose(data[k].astype(np.float64), want, rtol=0, atol=1e-4)
