"""North-up storage (issue 9, item 4).

The same pixels written north-up, south-up (rows reversed, positive y scale) and
east-west mirrored give identical stored patches and masks; the manifest records what
was flipped; D8 codes are compass directions (a south-up DEM draining north gives 64);
rotated rasters are warped in resample mode and refused elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

import geoharmony as gh
from geoharmony.errors import InputError
from geoharmony.geometry.grid import Grid
from geoharmony.io.manifest import raster_record
from synth import lonlat_to, write_boundary, write_config

CRS = "EPSG:32613"
X0, Y0 = lonlat_to(CRS, -105.3, 40.2)
X0, Y0 = float(round(X0)), float(round(Y0))
W, H, RES = 60, 50, 10.0


def _values() -> np.ndarray:
    """Band 1 = x, band 2 = y of each pixel centre (north-up rows), one nodata hole."""
    cols, rows = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    data = np.stack([X0 + RES * cols, Y0 - RES * rows]).astype("float64")
    data[:, 10:14, 20:25] = -9999.0
    return data


def _write(path: Path, data: np.ndarray, t: Affine) -> Path:
    prof = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": str(data.dtype),
        "crs": CRS,
        "transform": t,
        "nodata": -9999.0,
    }
    with rasterio.open(path, "w", **prof) as ds:
        ds.write(data)
    return path


def _variants(root: Path, data: np.ndarray) -> dict[str, Path]:
    north = Affine(RES, 0, X0, 0, -RES, Y0)
    south = Affine(RES, 0, X0, 0, RES, Y0 - RES * H)  # row 0 is the southern edge
    mirror = Affine(-RES, 0, X0 + RES * W, 0, -RES, Y0)  # column 0 is the eastern edge
    both = Affine(-RES, 0, X0 + RES * W, 0, RES, Y0 - RES * H)
    return {
        "north": _write(root / "north.tif", data, north),
        "south": _write(root / "south.tif", data[:, ::-1, :].copy(), south),
        "mirror": _write(root / "mirror.tif", data[:, :, ::-1].copy(), mirror),
        "both": _write(root / "both.tif", data[:, ::-1, ::-1].copy(), both),
    }


def _config(root: Path, name: str, raster: Path, *, mode: str = "native", extra: str = "") -> Path:
    box = shapely.box(X0 + 40, Y0 - RES * H + 40, X0 + RES * W - 40, Y0 - 40)
    write_boundary(root / "area.geojson", [box], CRS)
    return write_config(
        root / f"{name}.toml",
        f"""
        [study_area]
        boundary = "area.geojson"

        [grid]
        patch_size = 8
        stride = 6
        mode = "{mode}"

        [modalities.img]
        path = "{raster.name}"
        {extra}

        [output]
        path = "out_{name}"
        patches_per_shard = 4
        """,
    )


def test_flipped_rasters_are_stored_north_up(tmp_path: Path) -> None:
    paths = _variants(tmp_path, _values())
    got = {}
    for name, path in paths.items():
        out = gh.extract(gh.load_config(_config(tmp_path, name, path)), progress=False)
        ds = gh.open_dataset(out)
        got[name] = (ds.store.read("img", slice(None)), ds.store.read("img_mask", slice(None)))
        rec = raster_record(ds.manifest, "img", "all")
        want = {"north": [], "south": ["rows"], "mirror": ["columns"], "both": ["columns", "rows"]}
        assert rec["flipped_on_read"] == want[name]
        assert (
            rec["orientation"]
            == {
                "north": "north-up",
                "south": "south-up",
                "mirror": "mirrored",
                "both": "rotated-180",
            }[name]
        )
    data, mask = got["north"]
    assert len(data) > 10 and not mask.all() and mask.any()  # the hole is in some patch
    for name in ("south", "mirror", "both"):
        assert np.array_equal(got[name][0], data), name
        assert np.array_equal(got[name][1], mask), name
    # row 0 is north: y decreases down the rows, x increases along them
    full = data[mask.all(axis=(1, 2))]
    assert len(full) > 5
    assert np.all(np.diff(full[:, 1], axis=1) == -RES)
    assert np.all(np.diff(full[:, 0], axis=2) == RES)


def test_south_up_in_resample_mode_equals_north_up(tmp_path: Path) -> None:
    paths = _variants(tmp_path, _values())
    got = []
    for name in ("north", "south"):
        cfg = _config(tmp_path, f"r_{name}", paths[name], mode="resample")
        ds = gh.open_dataset(gh.extract(gh.load_config(cfg), progress=False))
        got.append(ds.store.read("img", slice(None)))
    assert np.array_equal(got[0], got[1], equal_nan=True)


def test_d8_on_a_south_up_dem_draining_north_is_64(tmp_path: Path) -> None:
    rows = np.arange(H, dtype="float64")[:, None] * np.ones((1, W))
    z = (100.0 + 2.0 * rows)[None]  # higher to the south (north-up rows): flows north
    south = _write(
        tmp_path / "dem_south.tif",
        z[:, ::-1, :].copy(),
        Affine(RES, 0, X0, 0, RES, Y0 - RES * H),
    )
    cfg = _config(
        tmp_path,
        "d8",
        south,
        extra='\n        [labels.flow]\n        kind = "d8"\n        dem = "img"',
    )
    ds = gh.open_dataset(gh.extract(gh.load_config(cfg), progress=False))
    codes = ds.store.read("flow", slice(None))
    defined = ds.store.read("flow_mask", slice(None))
    assert defined.sum() > 100
    assert set(np.unique(codes[:, 0][defined]).tolist()) == {64}
    assert (
        json.loads((ds.root / "manifest.json").read_text())["outputs"]["flow"]["codes"]["north"]
        == 64
    )


def test_rotated_raster_warped_in_resample_refused_elsewhere(tmp_path: Path) -> None:
    data = _values()
    north = _write(tmp_path / "ref.tif", data, Affine(RES, 0, X0, 0, -RES, Y0))
    rot_t = Affine.translation(X0 + 100, Y0 - 50) @ Affine.rotation(15) @ Affine.scale(12, -12)
    rot = _write(tmp_path / "rot.tif", data, rot_t)
    assert (
        Grid(
            Grid.from_origin(CRS, x0=0, y0=0, res=1, width=1, height=1).crs, rot_t, 2, 2
        ).orientation
        == "rotated"
    )
    extra = f'\n        [modalities.rot]\n        path = "{rot.name}"'
    for mode in ("native", "footprint"):
        cfg = gh.load_config(_config(tmp_path, f"rot_{mode}", north, mode=mode, extra=extra))
        with pytest.raises(
            InputError, match=r"rot\.tif: \[modalities\.rot\] is rotated or sheared.*resample"
        ):
            gh.plan(cfg)
    cfg = gh.load_config(_config(tmp_path, "rot_resample", north, mode="resample", extra=extra))
    cfg_text = cfg.source.read_text().replace("[grid]\n", '[grid]\n        reference = "img"\n')
    cfg.source.write_text(cfg_text)
    assert len(gh.plan(gh.load_config(cfg.source))) > 0
    # as the reference: refused in every mode
    cfg_text = cfg.source.read_text().replace('reference = "img"', 'reference = "rot"')
    cfg.source.write_text(cfg_text)
    with pytest.raises(InputError, match=r"is the reference but its grid is rotated"):
        gh.plan(gh.load_config(cfg.source))
