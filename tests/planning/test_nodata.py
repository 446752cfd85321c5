"""Nodata that means nodata (issue 9, item 5).

A nodata value the dtype cannot hold is refused (exit 2, naming the key or the file),
never cast (on uint8, -9999 would mask every 241 and 0.5 every 0); bands with different
nodata values are masked band by band with their own value.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

import geoharmony as gh
from synth import lonlat_to, write_boundary, write_config

CRS = "EPSG:32613"
X0, Y0 = lonlat_to(CRS, -105.3, 40.2)
N = 40


def _uint8(path: Path, data: np.ndarray, nodata: float | None = None) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=N,
        height=N,
        count=data.shape[0],
        dtype="uint8",
        crs=CRS,
        transform=Affine(10, 0, X0, 0, -10, Y0),
        nodata=nodata,
    ) as ds:
        ds.write(data)
    return path


def _config(root: Path, raster: str, extra: str = "") -> Path:
    write_boundary(root / "area.geojson", [shapely.box(X0 + 20, Y0 - 380, X0 + 380, Y0 - 20)], CRS)
    return write_config(
        root / "pipeline.toml",
        f"""
        [study_area]
        boundary = "area.geojson"

        [grid]
        patch_size = 8

        [modalities.img]
        path = "{raster}"
        {extra}

        [output]
        path = "out"
        """,
    )


@pytest.mark.parametrize("value", ["-9999", "0.5", "256"])
def test_config_nodata_outside_uint8_exit_2(
    tmp_path: Path, geoharmony_exe: Path, value: str
) -> None:
    data = (np.arange(N * N).reshape(1, N, N) % 256).astype("uint8")  # holds 241 and 0
    _uint8(tmp_path / "img.tif", data)
    cfg = _config(tmp_path, "img.tif", f"nodata = {value}")
    r = subprocess.run(
        [str(geoharmony_exe), "extract", str(cfg)], capture_output=True, text=True, check=False
    )
    assert r.returncode == 2, r.stderr
    assert f"[modalities.img].nodata = {float(value)!r}" in r.stderr, r.stderr
    assert "does not fit the raster's dtype uint8" in r.stderr and "0..255" in r.stderr
    assert not (tmp_path / "out").exists()
    # a value the dtype holds is fine
    cfg = _config(tmp_path, "img.tif", "nodata = 241")
    gh.plan(gh.load_config(cfg))


def _per_band_vrt(root: Path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(0)
    data = rng.integers(1, 255, size=(2, N, N), dtype=np.uint8)
    data[0, 5:9, 5:9] = 0  # band 1 nodata 0
    data[1, 20:24, 10:14] = 255  # band 2 nodata 255
    data[1, 30:34, 30:34] = 0  # a valid 0 in band 2
    data[0, 12:16, 30:34] = 255  # a valid 255 in band 1
    tif = _uint8(root / "bands.tif", data)
    bands = "".join(
        f"""
  <VRTRasterBand dataType="Byte" band="{b}">
    <NoDataValue>{nod}</NoDataValue>
    <SimpleSource>
      <SourceFilename relativeToVRT="1">{tif.name}</SourceFilename>
      <SourceBand>{b}</SourceBand>
    </SimpleSource>
  </VRTRasterBand>"""
        for b, nod in ((1, 0), (2, 255))
    )
    with rasterio.open(tif) as ds:
        srs = ds.crs.to_wkt()
        gt = ", ".join(str(v) for v in ds.transform.to_gdal())
    vrt = root / "bands.vrt"
    vrt.write_text(
        f'<VRTDataset rasterXSize="{N}" rasterYSize="{N}"><SRS>{srs}</SRS>'
        f"<GeoTransform>{gt}</GeoTransform>{bands}</VRTDataset>"
    )
    valid = (data[0] != 0) & (data[1] != 255)
    return vrt, valid


def test_two_bands_with_their_own_nodata(tmp_path: Path) -> None:
    vrt, valid = _per_band_vrt(tmp_path)
    with rasterio.open(vrt) as ds:
        assert ds.nodatavals == (0.0, 255.0)
    cfg = gh.load_config(_config(tmp_path, vrt.name, ""))
    plan = gh.plan(cfg)
    out = gh.extract(cfg, progress=False)
    ds = gh.open_dataset(out)
    mask = ds.store.read("img_mask", slice(None))
    for k, row in ds.index.iterrows():
        c, r = int(row["img_col_off"]), int(row["img_row_off"])
        want = np.zeros((8, 8), dtype=bool)
        r0, c0 = max(r, 0), max(c, 0)
        r1, c1 = min(r + 8, N), min(c + 8, N)
        want[r0 - r : r1 - r, c0 - c : c1 - c] = valid[r0:r1, c0:c1]
        assert np.array_equal(mask[k], want), row["patch_id"]
    # both holes and both "valid extremes" are inside the planned patches
    assert (~mask).sum() >= 32 and len(plan) == len(ds)
