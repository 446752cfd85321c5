"""Real data from ``../shared/data`` (issue 2, part 3).

Each case extracts a small dataset (16-32 px patches, stride >= patch) and compares every
patch, data and mask, with a direct rasterio read of the nearest-centre window computed
independently (``core.oracle``). Skipped cleanly when the shared folder is absent.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.warp import Resampling, reproject

import geoharmony as gh
from core import oracle
from geoharmony.errors import FootprintError, GeometryRepairedWarning
from geoharmony.io.manifest import raster_record
from geoharmony.planning.plan import compute_plan
from geoharmony.planning.study_area import load_regions
from synth import SHARED, write_config

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not SHARED.is_dir(), reason=f"real test data not found at {SHARED}"),
]


def _case(shared_data: Path, name: str, *files: str) -> Path:
    d = shared_data / name
    missing = [f for f in files if not (d / f).exists()]
    if missing:
        pytest.skip(f"{d}: missing {', '.join(missing)}")
    return d


def _config(
    tmp_path: Path, *, boundary: Path, mods: dict[str, Path], grid: str, extra: str = ""
) -> Path:
    body = f'[study_area]\nboundary = "{boundary}"\n{extra}\n[grid]\n{grid}\n'
    body += '\n[output]\npath = "dataset"\n'
    for name, p in mods.items():
        body += f'\n[modalities.{name}]\npath = "{p}"\n'
    return write_config(tmp_path / "pipeline.toml", body)


def _index(ds: gh.Dataset) -> Any:
    return ds.index.sort_values("patch_index").reset_index(drop=True)


def check_native(
    ds: gh.Dataset, ref: Path, mods: dict[str, Path], patch: int, stride: int
) -> dict[str, dict[str, np.ndarray]]:
    """Every patch of every modality equals the oracle read; returns the stored arrays."""
    idx = _index(ds)
    n = len(idx)
    rsrc = oracle.Source(ref)
    cx, cy = oracle.lattice_centres(rsrc.t, idx["lattice_i"], idx["lattice_j"], patch, stride)
    lon, lat = oracle.transform(rsrc.crs, "EPSG:4326", cx, cy)
    np.testing.assert_allclose(idx["lon"], lon, atol=1e-9)
    np.testing.assert_allclose(idx["lat"], lat, atol=1e-9)
    out = {}
    for name, path in mods.items():
        src = oracle.Source(path)
        data = ds.store.read(name, slice(None))
        mask = ds.store.read(f"{name}_mask", slice(None))
        assert data.shape == (n, len(src.idx), patch, patch)
        assert data.dtype == src.dtype
        mx, my = oracle.transform(rsrc.crs, src.crs, cx, cy)
        col_off, row_off = src.windows(mx, my, patch, patch)
        np.testing.assert_array_equal(idx[f"{name}_col_off"], col_off)
        np.testing.assert_array_equal(idx[f"{name}_row_off"], row_off)
        for k in range(n):
            want, valid = src.read(int(col_off[k]), int(row_off[k]), patch, patch)
            assert oracle.equal_data(data[k], want), (
                f"{name} patch {idx['patch_id'][k]}: data differ"
            )
            assert np.array_equal(mask[k], valid), (
                f"{name} patch {idx['patch_id'][k]}: mask differs"
            )
        np.testing.assert_allclose(
            idx[f"{name}_valid_fraction"], mask.reshape(n, -1).mean(axis=1), atol=1e-6
        )
        out[name] = {"data": data, "mask": mask, "col_off": col_off, "row_off": row_off}
        src.close()
    rsrc.close()
    return out


# -- nm_huc12_ned10m ---------------------------------------------------------------------------
def test_huc12_ned10m(shared_data: Path, tmp_path: Path) -> None:
    d = _case(
        shared_data,
        "nm_huc12_ned10m",
        "USGS_NED_13_n37w108_Clipped.tif",
        "WBDHU12.geojson",
        "WBDHU12.shp",
    )
    dem = d / "USGS_NED_13_n37w108_Clipped.tif"
    cfg = gh.load_config(
        _config(
            tmp_path,
            boundary=d / "WBDHU12.geojson",
            mods={"dem": dem},
            grid="patch_size = 32\nstride = 64",
        )
    )
    plan = compute_plan(cfg)
    g = plan.sources["all"]["dem"].grid
    assert g.crs.to_epsg() == 4269
    rx, ry = g.resolution_m
    assert rx == pytest.approx(8.3, abs=0.05) and ry == pytest.approx(10.3, abs=0.05)
    assert plan.sources["all"]["dem"].nodata == pytest.approx(-3.4028230607370965e38)

    out = gh.extract(cfg, workers=1, progress=False)
    ds = gh.open_dataset(out)
    assert len(ds) > 100
    arrays = check_native(ds, dem, {"dem": dem}, 32, 64)
    assert arrays["dem"]["mask"].all(), "the NED DEM covers the HUC12 fully: every pixel is valid"
    assert (ds.index["dem_valid_fraction"] == 1.0).all()
    values = arrays["dem"]["data"]
    assert values.min() >= 1834 and values.max() <= 2279
    rec = raster_record(ds.manifest, "dem", "all")
    assert rec["resolution_m"] == pytest.approx([rx, ry])
    # the shapefile and the GeoJSON of the same HUC12 give the same patches
    (tmp_path / "shp").mkdir()
    cfg_shp = gh.load_config(
        _config(
            tmp_path / "shp",
            boundary=d / "WBDHU12.shp",
            mods={"dem": dem},
            grid="patch_size = 32\nstride = 64",
        )
    )
    assert list(gh.plan(cfg_shp)["patch_id"]) == list(plan.table["patch_id"])


# -- oetztal_rofental --------------------------------------------------------------------------
def test_oetztal_partial_coverage(shared_data: Path, tmp_path: Path) -> None:
    d = _case(
        shared_data,
        "oetztal_rofental",
        "srtm_oetztal.tif",
        "RGI60-11.00897_thickness.tif",
        "rofental_hydrosheds.shp",
    )
    mods = {"srtm": d / "srtm_oetztal.tif", "thickness": d / "RGI60-11.00897_thickness.tif"}
    boundary = d / "rofental_hydrosheds.shp"
    # without a reference the finest modality (25 m thickness) anchors the lattice
    cfg0 = gh.load_config(_config(tmp_path, boundary=boundary, mods=mods, grid="patch_size = 16"))
    plan0 = compute_plan(cfg0)
    assert plan0.reference == "thickness"
    sr = plan0.sources["all"]["srtm"]
    assert sr.dtype == "int16" and sr.nodata is None and sr.grid.crs.to_epsg() == 4326
    assert plan0.sources["all"]["thickness"].grid.crs.to_epsg() == 32632

    cfg = gh.load_config(
        _config(
            tmp_path,
            boundary=boundary,
            mods=mods,
            grid='reference = "srtm"\npatch_size = 16\nstride = 16',
        )
    )
    ds = gh.open_dataset(gh.extract(cfg, workers=1, progress=False))
    n = len(ds)
    assert n > 50
    arrays = check_native(ds, mods["srtm"], mods, 16, 16)
    assert arrays["srtm"]["mask"].all()  # SRTM covers the whole watershed
    tm = arrays["thickness"]["mask"]
    per_patch = tm.reshape(n, -1).any(axis=1)
    assert per_patch.mean() < 0.2, "the thickness raster covers only 6.5 % of the watershed"
    assert per_patch.sum() >= 1
    # where the thickness raster does not reach the mask is false and the data are the fill (0)
    td = arrays["thickness"]["data"][:, 0]
    assert np.all(td[~tm] == 0)
    # 0.0 inside the raster (ice-free, no nodata tag) is valid data, not a hole
    assert np.any(tm & (td == 0))


def test_rgi_outlines_one_region_per_feature_with_repairs(
    shared_data: Path, tmp_path: Path
) -> None:
    import geopandas as gpd

    d = _case(shared_data, "oetztal_rofental", "rgi_oetztal.shp", "srtm_oetztal.tif")
    shp = d / "rgi_oetztal.shp"
    raw = gpd.read_file(shp)
    assert "RGIId" in raw.columns
    invalid = raw[~raw.geometry.is_valid]
    assert len(invalid) == 3
    reasons = {
        rid: shapely.is_valid_reason(g)
        for rid, g in zip(invalid["RGIId"], invalid.geometry, strict=True)
    }

    cfg = gh.load_config(
        _config(
            tmp_path,
            boundary=shp,
            mods={"srtm": d / "srtm_oetztal.tif"},
            grid='patch_size = 4\nstride = 4\nkeep = "overlap"\nmin_overlap = 0.01',
            extra='id_field = "RGIId"',
        )
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        regions = load_regions(cfg.study_area)
    repaired = [w for w in caught if issubclass(w.category, GeometryRepairedWarning)]
    assert len(repaired) == 3
    for rid, reason in reasons.items():
        msgs = [str(w.message) for w in repaired if rid in str(w.message)]
        assert len(msgs) == 1, (rid, [str(w.message) for w in repaired])
        assert reason in msgs[0] and "Ring Self-intersection" in msgs[0]
        assert str(shp) in msgs[0]
    assert sorted(r.id for r in regions) == sorted(raw["RGIId"])
    assert all(shapely.is_valid(r.geometry) and not shapely.is_empty(r.geometry) for r in regions)
    for r in regions:  # a repair keeps (almost) all of the area
        src = raw.loc[raw["RGIId"] == r.id].geometry.iloc[0]
        assert shapely.area(r.geometry) == pytest.approx(
            abs(shapely.area(shapely.make_valid(src))), rel=1e-9
        )

    with pytest.warns(GeometryRepairedWarning, match=r"Ring Self-intersection"):
        centres = gh.plan(cfg)
    assert set(centres["region"]) == set(raw["RGIId"]), "every glacier gets at least one patch"
    for rid, pid in zip(centres["region"], centres["patch_id"], strict=True):
        assert pid.startswith(f"{rid}_r")
    assert centres["patch_id"].is_unique


# -- rmnp_colorado -----------------------------------------------------------------------------
def test_rmnp_native_masks_nodata_255(shared_data: Path, tmp_path: Path) -> None:
    d = _case(shared_data, "rmnp_colorado", "rmnp-dem.tif", "rmnp-rgb.tif", "rmnp.shp")
    mods = {"dem": d / "rmnp-dem.tif", "rgb": d / "rmnp-rgb.tif"}
    cfg = gh.load_config(
        _config(tmp_path, boundary=d / "rmnp.shp", mods=mods, grid="patch_size = 16\nstride = 16")
    )
    plan = compute_plan(cfg)
    assert plan.reference == "rgb"  # the finer of the two
    dem_grid = plan.sources["all"]["dem"].grid
    assert abs(dem_grid.transform.a) != pytest.approx(
        abs(dem_grid.transform.e), rel=0.05
    )  # non-square degrees
    rx, ry = dem_grid.resolution_m
    assert rx == pytest.approx(233.6, abs=1.0) and ry == pytest.approx(234.3, abs=1.0)

    ds = gh.open_dataset(gh.extract(cfg, workers=1, progress=False))
    arrays = check_native(ds, mods["rgb"], mods, 16, 16)
    rgb, m = arrays["rgb"]["data"], arrays["rgb"]["mask"]
    assert rgb.dtype == np.uint8 and rgb.shape[1] == 3
    with rasterio.open(mods["rgb"]) as src:
        assert src.nodata == 255
    src = oracle.Source(mods["rgb"])
    inside = np.stack(
        [
            src.inside(int(c), int(r), 16, 16)
            for c, r in zip(arrays["rgb"]["col_off"], arrays["rgb"]["row_off"], strict=True)
        ]
    )
    src.close()
    has255 = (rgb == 255).any(axis=1)
    assert (has255 & inside).any(), "some in-raster pixel equals 255 (nodata) in the patches"
    assert not (m & has255).any(), "a pixel with 255 in any band is never valid"
    np.testing.assert_array_equal(m, inside & ~has255)
    dem = arrays["dem"]["data"]
    assert dem.dtype == np.uint16
    dm = arrays["dem"]["mask"]
    assert np.all(dem[:, 0][~dm] == 65535)
    assert dm.mean() > 0.9


def test_rmnp_footprint_refused_with_sizes_that_work(shared_data: Path, tmp_path: Path) -> None:
    """Issue 9: the geographic DEM (non-square pixels) is accepted by default, with per-axis
    nearest whole counts and recorded footprints within half a pixel; refused only at a
    strict footprint_tolerance_px, with the sizes that nest (or the advice to resample)."""
    d = _case(shared_data, "rmnp_colorado", "rmnp-dem.tif", "rmnp-rgb.tif", "rmnp.shp")
    mods = {"dem": d / "rmnp-dem.tif", "rgb": d / "rmnp-rgb.tif"}

    def cfg_for(grid: str) -> gh.Config:
        return gh.load_config(_config(tmp_path, boundary=d / "rmnp.shp", mods=mods, grid=grid))

    p = compute_plan(cfg_for('patch_size = 16\nstride = 16\nmode = "footprint"'))
    g = p.ground["all"]
    fx, fy = 16 * g["rgb"][0], 16 * g["rgb"][1]
    w, h = p.outputs["dem"].width, p.outputs["dem"].height
    assert (w, h) == (round(fx / g["dem"][0]), round(fy / g["dem"][1]))
    assert w != h  # geographic pixels: not square on the ground
    t = p.table
    assert (t["dem_footprint_dx_m"].abs() <= 0.5 * g["dem"][0] + 1e-9).all()
    assert (t["dem_footprint_dy_m"].abs() <= 0.5 * g["dem"][1] + 1e-9).all()
    assert (t["dem_dcol"].abs() <= 0.5 + 1e-9).all() and (t["dem_drow"].abs() <= 0.5 + 1e-9).all()
    strict = cfg_for(
        'patch_size = 16\nstride = 16\nmode = "footprint"\nfootprint_tolerance_px = 0.01'
    )
    with pytest.raises(FootprintError) as ei:
        gh.plan(strict)
    msg = str(ei.value)
    assert "'dem'" in msg and "[grid].patch_size = 16" in msg
    assert "footprint_tolerance_px = 0.01" in msg and str(strict.source) in msg
    assert "nest for every modality" in msg or "resample" in msg


def test_rmnp_resample(shared_data: Path, tmp_path: Path) -> None:
    d = _case(shared_data, "rmnp_colorado", "rmnp-dem.tif", "rmnp-rgb.tif", "rmnp.shp")
    mods = {"dem": d / "rmnp-dem.tif", "rgb": d / "rmnp-rgb.tif"}
    grid = 'patch_size = 16\nstride = 32\nmode = "resample"'
    cfg = gh.load_config(_config(tmp_path, boundary=d / "rmnp.shp", mods=mods, grid=grid))
    ds = gh.open_dataset(gh.extract(cfg, workers=1, progress=False))
    idx = _index(ds)
    n = len(ds)
    assert n > 20
    dem = ds.store.read("dem", slice(None))
    dm = ds.store.read("dem_mask", slice(None))
    rgb = ds.store.read("rgb", slice(None))
    rm = ds.store.read("rgb_mask", slice(None))
    assert dem.shape == (n, 1, 16, 16) and dem.dtype == np.uint16
    assert rgb.shape == (n, 3, 16, 16) and rgb.dtype == np.uint8
    assert dm.mean() > 0.95
    assert np.all(dem[:, 0][~dm] == 65535)
    # the reference modality warped onto itself is its native window, unchanged
    ref = oracle.Source(mods["rgb"])
    ii, jj = idx["lattice_i"].to_numpy(), idx["lattice_j"].to_numpy()
    for k in range(n):
        want, valid = ref.read(int(jj[k] * 32), int(ii[k] * 32), 16, 16)
        np.testing.assert_array_equal(rm[k], valid)
        np.testing.assert_array_equal(rgb[k][:, valid], want[:, valid])
    # the DEM equals one bilinear warp of the whole DEM onto the reference lattice
    src = oracle.Source(mods["dem"])
    full = src.ds.read().astype(np.float64)
    full[full == 65535] = np.nan
    c0, r0 = int(jj.min()) * 32, int(ii.min()) * 32
    bw, bh = int(jj.max()) * 32 + 16 - c0, int(ii.max()) * 32 + 16 - r0
    big = np.full((1, bh, bw), np.nan)
    reproject(
        full,
        big,
        src_transform=src.t,
        src_crs=src.crs.to_wkt(),
        dst_transform=ref.t @ Affine.translation(c0, r0),
        dst_crs=ref.crs.to_wkt(),
        resampling=Resampling.bilinear,
        src_nodata=np.nan,
        dst_nodata=np.nan,
    )
    for k in range(n):
        want = big[
            :, ii[k] * 32 - r0 : ii[k] * 32 - r0 + 16, jj[k] * 32 - c0 : jj[k] * 32 - c0 + 16
        ]
        valid = np.isfinite(want[0])
        np.testing.assert_array_equal(dm[k], valid)
        np.testing.assert_allclose(dem[k][:, valid], np.rint(want[:, valid]), atol=1)
    src.close()
    ref.close()


# -- landsat8_perdido_nopolygon ----------------------------------------------------------------
def test_landsat_pan_and_30m_grids_that_do_not_nest(shared_data: Path, tmp_path: Path) -> None:
    """15 m pan (grid offset 7.5 m) + 30 m red + thermal; a boundary drawn here (none ships)."""
    from synth import write_boundary

    d = _case(shared_data, "landsat8_perdido_nopolygon", "l8_B8.tif", "l8_B4.tif", "l8_B10.tif")
    mods = {"pan": d / "l8_B8.tif", "red": d / "l8_B4.tif", "thermal": d / "l8_B10.tif"}
    poly = shapely.Polygon([(-87.45, 30.68), (-87.36, 30.67), (-87.33, 30.76), (-87.42, 30.79)])
    boundary = write_boundary(tmp_path / "aoi.geojson", [poly], "EPSG:4326")
    grid = 'reference = "pan"\npatch_size = 32\nstride = 48\nmode = "footprint"'
    cfg = gh.load_config(_config(tmp_path, boundary=boundary, mods=mods, grid=grid))
    ds = gh.open_dataset(gh.extract(cfg, workers=1, progress=False))
    idx = _index(ds)
    n = len(ds)
    assert n > 20
    assert ds.store.read("pan", 0).shape == (1, 32, 32)
    assert ds.store.read("red", 0).shape == (1, 16, 16)
    rsrc = oracle.Source(mods["pan"])
    cx, cy = oracle.lattice_centres(rsrc.t, idx["lattice_i"], idx["lattice_j"], 32, 48)
    for name, w in (("pan", 32), ("red", 16), ("thermal", 16)):
        src = oracle.Source(mods[name])
        col_off, row_off = src.windows(cx, cy, w, w)
        data = ds.store.read(name, slice(None))
        mask = ds.store.read(f"{name}_mask", slice(None))
        for k in range(n):
            want, valid = src.read(int(col_off[k]), int(row_off[k]), w, w)
            assert oracle.equal_data(data[k], want) and np.array_equal(mask[k], valid)
        assert mask.all()  # no nodata tag, all inside
        src.close()
    rsrc.close()
    # the pan grid is offset by half a 15 m pixel: every 30 m window is 7.5 m off in x and y,
    # i.e. a quarter of its pixel, and the index records it
    np.testing.assert_allclose(idx["pan_offset_m"], 0.0, atol=1e-6)
    np.testing.assert_allclose(np.abs(idx["red_dcol"]), 0.25, atol=1e-6)
    np.testing.assert_allclose(np.abs(idx["red_drow"]), 0.25, atol=1e-6)
    np.testing.assert_allclose(idx["red_offset_m"], np.hypot(7.5, 7.5), atol=1e-6)
