"""Region-level labels through extract: cached COGs, windowed patches, manifest, filters."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

import geoharmony as gh
from geoharmony import augment
from geoharmony.errors import ConfigError
from geoharmony.geometry.d8codes import CODE_SYSTEMS
from geoharmony.labels.hydro import d8_qa
from scenes import small_scene

FLOW = """
[labels.flowdir]
kind = "d8"
dem = "dem"

[labels.acc]
kind = "accumulation"
dem = "dem"
units = "cells"

[labels.river]
kind = "streams"
dem = "dem"
threshold_km2 = 0.05
"""


def _scene(tmp_path: Path, extra: str = FLOW, **kw: object) -> Path:
    cfgp = small_scene(tmp_path, **kw)  # type: ignore[arg-type]
    cfgp.write_text(cfgp.read_text() + textwrap.dedent(extra))
    return cfgp


def _window(ds: gh.Dataset, name: str, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Patch i of a region label, read independently from the region's COG."""
    o = ds.manifest["outputs"][name]
    row = ds.index.iloc[i]
    rec = o["regions"][row["region"]]
    win = rec["window"]
    c = int(row[f"{win['grid_of']}_col_off"]) - win["col_off"]
    r = int(row[f"{win['grid_of']}_row_off"]) - win["row_off"]
    _, h, w = o["shape"]
    with rasterio.open(ds.root / rec["path"]) as src:
        data = src.read(1, window=Window(c, r, w, h), boundless=True, fill_value=0)
        mask = src.read_masks(1, window=Window(c, r, w, h), boundless=True) > 0
    return data, mask


def test_patches_are_windows_of_the_region_rasters(tmp_path: Path) -> None:
    ds = gh.open_dataset(gh.extract(gh.load_config(_scene(tmp_path))))
    outs = ds.manifest["outputs"]
    for name in ("flowdir", "acc", "river"):
        rec = outs[name]["regions"]["all"]
        path = ds.root / rec["path"]
        assert path == ds.root / "labels" / name / "all.tif"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == rec["sha256"]
        with rasterio.open(path) as src:
            assert src.profile["tiled"] and src.profile["blockxsize"] == 512
            assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        for i in range(0, len(ds), 7):
            data, mask = _window(ds, name, i)
            s = ds[i]
            np.testing.assert_array_equal(s[f"{name}_mask"], mask)
            np.testing.assert_array_equal(s[name][0][mask], data[mask])
    p = outs["flowdir"]["params"]
    assert p["conditioning"] == "fill" and p["outlets"] == "edge" and p["encoding"] == "esri"
    assert "Barnes" in p["rules"]["flats"] and outs["flowdir"]["codes"]["north"] == 64
    assert outs["acc"]["params"]["units"] == "cells" and outs["acc"]["dtype"] == "float32"
    assert outs["river"]["params"]["threshold_km2"] == 0.05
    qa = ds.manifest["label_qa"]
    assert qa["d8_undefined"] == 0 and qa["d8_cycle_cells"] == 0


def test_accumulation_stitched_from_patches_equals_the_region(tmp_path: Path) -> None:
    ds = gh.open_dataset(gh.extract(gh.load_config(_scene(tmp_path))))
    rec = ds.manifest["outputs"]["acc"]["regions"]["all"]
    win = rec["window"]
    with rasterio.open(ds.root / rec["path"]) as src:
        region = src.read(1)
        rmask = src.read_masks(1) > 0
    stitched = np.full(region.shape, np.nan, dtype=np.float32)
    seen = np.zeros(region.shape, bool)
    for i in range(len(ds)):
        row = ds.index.iloc[i]
        c = int(row["dem_col_off"]) - win["col_off"]
        r = int(row["dem_row_off"]) - win["row_off"]
        s = ds[i]
        m = s["acc_mask"]
        view = stitched[r : r + 16, c : c + 16]
        view[m] = s["acc"][0][m]
        seen[r : r + 16, c : c + 16] |= m
    assert seen.sum() > 10_000
    np.testing.assert_array_equal(stitched[seen], region[seen])
    assert (rmask[seen]).all()
    # and the flow directions of the stitched patches have no cycle and no hole
    d8 = np.zeros(region.shape, np.uint8)
    for i in range(len(ds)):
        row = ds.index.iloc[i]
        c = int(row["dem_col_off"]) - win["col_off"]
        r = int(row["dem_row_off"]) - win["row_off"]
        d8[r : r + 16, c : c + 16] = ds[i]["flowdir"][0]
    qa = d8_qa(d8, seen)
    assert qa["cycle_cells"] == 0 and qa["undefined"] == 0


def test_class_encoding_and_augment_from_the_manifest(tmp_path: Path) -> None:
    extra = """
    [labels.drainage]
    kind = "d8"
    dem = "dem"
    encoding = "class"
    """
    ds = gh.open_dataset(gh.extract(gh.load_config(_scene(tmp_path, extra))))
    assert ds.d8_encodings == {"drainage": "class"}
    codes = ds.manifest["outputs"]["drainage"]["codes"]
    assert codes["east"] == 0 and codes["northeast"] == 7 and codes["undefined"] == 255
    s = ds[0]
    vals = set(np.unique(s["drainage"][0][s["drainage_mask"]]).tolist())
    assert vals <= set(range(8)) and len(vals) > 1
    assert (s["drainage"][0][~s["drainage_mask"]] == 255).all()
    # a name no list knows is still remapped: east (0) <-> west (4) under a flip
    t = augment.RandomFlipRotate.for_dataset(ds, rotations=(0,), seed=0)
    flipped = augment.flip_lr(s, d8=t.d8)["drainage"][0]
    back = {0: 4, 4: 0, 1: 3, 3: 1, 7: 5, 5: 7, 2: 2, 6: 6, 255: 255}
    np.testing.assert_array_equal(
        flipped, np.vectorize(back.get)(s["drainage"][0][:, ::-1]).astype(np.uint8)
    )


def test_min_positive_keeps_patches_with_enough_stream_pixels(tmp_path: Path) -> None:
    full = gh.open_dataset(gh.extract(gh.load_config(_scene(tmp_path / "a"))))
    extra = FLOW.replace("threshold_km2 = 0.05", "threshold_km2 = 0.05\nmin_positive = 5")
    kept = gh.open_dataset(gh.extract(gh.load_config(_scene(tmp_path / "b", extra))))
    counts = np.array(
        [int((full[i]["river"][0] != 0)[full[i]["river_mask"]].sum()) for i in range(len(full))]
    )
    assert 0 < len(kept) == int((counts >= 5).sum()) < len(full)
    assert set(kept.index["patch_id"]) == set(full.index["patch_id"][counts >= 5])
    assert (kept.index["river_positive"] >= 5).all()


def test_a_region_over_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    extra = FLOW.replace('units = "cells"', 'units = "cells"\nmax_region_mpx = 0.01')
    cfg = gh.load_config(_scene(tmp_path, extra))
    with pytest.raises(ConfigError, match=r"\[labels.acc\].max_region_mpx: region 'all'"):
        gh.plan(cfg)


def test_streams_need_a_threshold(tmp_path: Path) -> None:
    extra = '[labels.river]\nkind = "streams"\ndem = "dem"\n'
    with pytest.raises(ConfigError, match=r"\[labels.river\].threshold_km2 is required"):
        gh.load_config(_scene(tmp_path, extra))
    extra = '[labels.f]\nkind = "d8"\ndem = "dem"\nunits = "km2"\n'
    with pytest.raises(ConfigError, match=r"\[labels.f\].units does not apply to kind = 'd8'"):
        gh.load_config(_scene(tmp_path, extra))


@pytest.mark.parametrize("system", ["whitebox", "taudem", "esri"])
def test_a_user_flow_direction_raster_is_converted_to_esri(tmp_path: Path, system: str) -> None:
    """A published D8 (here: ours, re-encoded) read as kind = "raster" gives the same codes."""
    first = gh.open_dataset(gh.extract(gh.load_config(_scene(tmp_path / "a"))))
    rec = first.manifest["outputs"]["flowdir"]["regions"]["all"]
    with rasterio.open(first.root / rec["path"]) as src:
        esri = src.read(1)
        prof = src.profile
        valid = src.read_masks(1) > 0
    lut = np.full(256, 255, dtype=np.uint8)
    for k, v in enumerate(CODE_SYSTEMS[system]):
        lut[1 << k] = v
    user = np.where(valid, lut[esri], 255).astype(np.uint8)
    prof.update(driver="GTiff", nodata=255)
    path = tmp_path / f"fdr_{system}.tif"
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(user, 1)
    extra = f"""
    [labels.fdr]
    kind = "raster"
    path = "{path}"
    grid = "dem"
    codes = "{system}"
    """
    ds = gh.open_dataset(gh.extract(gh.load_config(_scene(tmp_path / "b", FLOW + extra))))
    assert ds.manifest["outputs"]["fdr"]["params"]["source_codes"] == system
    (inp,) = ds.manifest["inputs"]["labels"]["fdr"]
    assert inp["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "fdr" in ds.d8_encodings
    for i in range(0, len(ds), 5):
        s = ds[i]
        np.testing.assert_array_equal(s["fdr_mask"], s["flowdir_mask"])
        np.testing.assert_array_equal(s["fdr"], s["flowdir"])


def test_resample_mode_conditions_the_dem_warped_onto_the_reference(tmp_path: Path) -> None:
    """Reference = the 30 m Albers raster: the 10 m UTM DEM is warped onto it per region."""
    extra = (
        FLOW
        + """
    [labels.raw]
    kind = "d8"
    dem = "dem"
    conditioning = "none"

    [labels.one]
    kind = "accumulation"
    dem = "dem"
    outlets = "min"
    units = "cells"
    """
    )
    cfgp = _scene(tmp_path, extra, mode="resample")
    cfgp.write_text(cfgp.read_text().replace('reference = "dem"', 'reference = "opt"'))
    ds = gh.open_dataset(gh.extract(gh.load_config(cfgp)))
    outs = ds.manifest["outputs"]
    win = outs["flowdir"]["regions"]["all"]["window"]
    assert win["grid_of"] == "opt"
    qa = ds.manifest["label_qa"]["d8"]
    assert qa["flowdir"]["all"]["undefined"] == 0 and qa["flowdir"]["all"]["cycle_cells"] == 0
    assert qa["raw"]["all"]["undefined"] > 0  # unconditioned: pits and flats have no code
    # one outlet: the largest accumulation is every valid cell of the region window
    assert outs["one"]["params"]["outlets"] == "min"
    assert ds.manifest["label_qa"]["d8"]["one"]["all"]["undefined"] == 0
    with rasterio.open(ds.root / outs["one"]["regions"]["all"]["path"]) as src:
        acc = src.read(1)
        valid = src.read_masks(1) > 0
    assert np.nanmax(acc) == valid.sum()
