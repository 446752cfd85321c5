"""Footprint mode in true ground metres (issue 9, item 3).

An EPSG:4326 "10 m" DEM, UTM 10 m (the reference), CONUS Albers 30 m and NSIDC polar
stereographic 10 m, all at 62 N where map units and ground metres differ by percents:
accepted by default; every stored window is centred within half a pixel of the patch
centre (decoded from pixel values that encode their own coordinates); the recorded true
footprints are within half a pixel of the reference footprint on each axis. At a strict
tolerance, same-CRS data are refused with the sizes that nest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import CRS, Geod, Transformer

import geoharmony as gh
from geoharmony.errors import FootprintError
from geoharmony.planning.plan import compute_plan
from synth import lonlat_to, write_boundary, write_config, write_coord_raster

LON0, LAT0 = -150.0, 62.0
RASTERS = {
    # name: (crs, nominal pixel, pixels per side)
    "utm": ("EPSG:32605", 10.0, 160),
    "alb": ("EPSG:5070", 30.0, 70),
    "polar": ("EPSG:3413", 10.0, 200),
}
PATCH = 32


def _write(root: Path) -> dict[str, Path]:
    out = {}
    for name, (crs, res, n) in RASTERS.items():
        x, y = lonlat_to(crs, LON0, LAT0)
        t = Affine(res, 0, x - res * n / 2 + 3.3, 0, -res, y + res * n / 2 - 1.7)
        out[name] = write_coord_raster(
            root / f"{name}.tif", crs=crs, transform=t, width=n, height=n
        )
    # a geographic DEM with ~10 m pixels (not exactly: like NED 1/3")
    geod = Geod(ellps="WGS84")
    _, _, mx = geod.inv(LON0, LAT0, LON0 + 1e-3, LAT0)
    _, _, my = geod.inv(LON0, LAT0, LON0, LAT0 + 1e-3)
    sx, sy = 1e-3 * 10.0 / mx * 1.0004, 1e-3 * 10.0 / my * 0.9996
    n = 180
    t = Affine(sx, 0, LON0 - n / 2 * sx, 0, -sy, LAT0 + n / 2 * sy)
    out["geo"] = write_coord_raster(
        root / "geo.tif", crs="EPSG:4326", transform=t, width=n, height=n
    )
    return out


def _config(root: Path, mods: list[str], *, extra: str = "", patch: int = PATCH) -> Path:
    x, y = lonlat_to("EPSG:32605", LON0, LAT0)
    box = shapely.box(x - 350, y - 350, x + 350, y + 350)
    write_boundary(root / "area.geojson", [box], "EPSG:32605")
    body = f"""
    [study_area]
    boundary = "area.geojson"

    [grid]
    reference = "utm"
    patch_size = {patch}
    stride = {patch}
    mode = "footprint"
    {extra}

    [output]
    path = "out"
    patches_per_shard = 4
    """
    for m in mods:
        body += f'\n    [modalities.{m}]\n    path = "{m}.tif"\n'
    return write_config(root / "pipeline.toml", body)


def _centre_in(crs: str, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)


def test_mixed_crs_with_geographic_dem_accepted_and_exact(tmp_path: Path) -> None:
    _write(tmp_path)
    mods = ["utm", "geo", "alb", "polar"]
    cfg = gh.load_config(_config(tmp_path, mods))
    plan = compute_plan(cfg)
    assert plan.n_patches >= 4
    # the counts follow ground metres: non-square where the projection's scales differ
    sizes = {m: (plan.outputs[m].width, plan.outputs[m].height) for m in mods}
    assert sizes["utm"] == (PATCH, PATCH)
    ref_fx = PATCH * plan.ground["all"]["utm"][0]
    ref_fy = PATCH * plan.ground["all"]["utm"][1]
    for m in mods:
        gx, gy = plan.ground["all"][m]
        assert sizes[m] == (round(ref_fx / gx), round(ref_fy / gy)), m
    assert sizes["alb"][0] != sizes["alb"][1]  # Albers at 62 N: scales differ by axis
    # printed with the plan
    assert any(n.startswith("footprint ") and "alb " in n for n in plan.notes)
    out = gh.extract(cfg, workers=1, progress=False)
    ds = gh.open_dataset(out)
    idx = ds.index
    for m in mods:
        crs = RASTERS[m][0] if m != "geo" else "EPSG:4326"
        data = ds.store.read(m, slice(None)).astype(float)  # (n, 2, h, w)
        mask = ds.store.read(f"{m}_mask", slice(None))
        assert mask.all(), m  # every window inside its raster
        # the window centre from the pixel values (mean of pixel centres = window centre)
        wx, wy = data[:, 0].mean(axis=(1, 2)), data[:, 1].mean(axis=(1, 2))
        px, py = _centre_in(crs, idx["lon"].to_numpy(), idx["lat"].to_numpy())
        with __import__("rasterio").open(tmp_path / f"{m}.tif") as r:
            rx, ry = abs(r.transform.a), abs(r.transform.e)
        assert np.all(np.abs(wx - px) / rx <= 0.5 + 1e-6), m
        assert np.all(np.abs(wy - py) / ry <= 0.5 + 1e-6), m
        # recorded true footprint within half a pixel of the reference footprint per axis
        gx, gy = plan.ground["all"][m]
        assert np.all(np.abs(idx[f"{m}_footprint_dx_m"]) <= 0.5 * gx + 1e-9), m
        assert np.all(np.abs(idx[f"{m}_footprint_dy_m"]) <= 0.5 * gy + 1e-9), m
        np.testing.assert_allclose(idx[f"{m}_footprint_x_m"], sizes[m][0] * gx)


def test_strict_tolerance_refuses_with_sizes_that_nest(tmp_path: Path) -> None:
    _write(tmp_path)
    # same CRS: 10 m and 30 m UTM nest at multiples of 3 px
    x, y = lonlat_to("EPSG:32605", LON0, LAT0)
    write_coord_raster(
        tmp_path / "utm30.tif",
        crs="EPSG:32605",
        transform=Affine(30, 0, x - 1200, 0, -30, y + 1200),
        width=80,
        height=80,
    )
    path = _config(tmp_path, ["utm", "utm30"], extra="footprint_tolerance_px = 0.01")
    with pytest.raises(FootprintError) as ei:
        compute_plan(gh.load_config(path))
    msg = str(ei.value)
    assert "10.67 x 10.67 px for 'utm30'" in msg
    assert "Patch sizes that nest for every modality: 30, 33" in msg
    assert "[grid].footprint_tolerance_px = 0.01" in msg
    # a suggested size is accepted at that tolerance
    path = _config(tmp_path, ["utm", "utm30"], extra="footprint_tolerance_px = 0.01", patch=33)
    plan = compute_plan(gh.load_config(path))
    assert (plan.outputs["utm30"].width, plan.outputs["utm30"].height) == (11, 11)


def test_grid_ground_resolution_of_the_geographic_dem(tmp_path: Path) -> None:
    paths = _write(tmp_path)
    import rasterio

    from geoharmony.geometry.grid import Grid

    with rasterio.open(paths["geo"]) as ds:
        g = Grid.from_dataset(ds)
    gx, gy = g.ground_resolution(LON0, LAT0)
    assert gx == pytest.approx(10.004, rel=1e-3) and gy == pytest.approx(9.996, rel=1e-3)
    assert CRS.from_epsg(4326).is_geographic
