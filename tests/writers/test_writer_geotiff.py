"""GeoTIFF chips pass the writer contract and are georeferenced on their windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import CRS

import geoharmony as gh
from geoharmony.writers import ArraySpec, Georef
from geoharmony.writers.geotiff_writer import GeoTIFFWriter
from writers.contract import SPECS, Scene, WriterContract, make_arrays


class TestGeoTIFFWriter(WriterContract):
    writer_cls = GeoTIFFWriter


@pytest.fixture(scope="module")
def chips(scene: Scene, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("geotiff") / "ds"
    return gh.extract(gh.load_config(scene.config("geotiff", out)), progress=False)


def test_layout_and_internal_masks(chips: Path) -> None:
    ds = gh.open_dataset(chips)
    assert sorted(p.name for p in (chips / "chips").iterdir()) == [
        "_store.json",
        "alb",
        "dem",
        "flowdir",
    ]
    files = sorted((chips / "chips" / "dem").iterdir())
    assert [p.name for p in files] == [f"{i:06d}.tif" for i in range(len(ds))]  # no temp files
    with rasterio.open(files[0]) as src:
        assert src.count == 2 and src.dtypes == ("float32", "float32")
        assert src.compression is not None
        assert src.mask_flag_enums == ([rasterio.enums.MaskFlags.per_dataset],) * 2
        np.testing.assert_array_equal(src.dataset_mask() > 0, ds[0]["dem_mask"])


@pytest.mark.parametrize("name", ["dem", "alb", "flowdir"])
def test_chips_carry_their_window_crs_and_transform(scene: Scene, chips: Path, name: str) -> None:
    """Native mode: a chip's transform is its source window's; pixels encode x, y."""
    ds = gh.open_dataset(chips)
    index = ds.index
    base = "dem" if name == "flowdir" else name
    with rasterio.open(scene.root / f"{base}.tif") as src:
        src_crs, src_t = CRS.from_user_input(src.crs), src.transform
    for i in range(0, len(ds), 7):
        row = index.iloc[i]
        with rasterio.open(chips / "chips" / name / f"{i:06d}.tif") as chip:
            assert CRS.from_user_input(chip.crs) == src_crs
            want = src_t @ Affine.translation(row[f"{base}_col_off"], row[f"{base}_row_off"])
            assert chip.transform.almost_equals(want, precision=1e-9)
            if name == "flowdir":
                continue
            data, valid = chip.read(), chip.dataset_mask() > 0
            cols, rows = np.meshgrid(np.arange(chip.width) + 0.5, np.arange(chip.height) + 0.5)
            t = chip.transform
            x, y = t.a * cols + t.b * rows + t.c, t.d * cols + t.e * rows + t.f
            np.testing.assert_allclose(data[0][valid], x[valid], atol=0.01)
            np.testing.assert_allclose(data[1][valid], y[valid], atol=0.01)


def test_resample_mode_chips_lie_on_the_reference_patch_grid(scene: Scene, tmp_path: Path) -> None:
    text = scene.config("geotiff", tmp_path / "rs").read_text()
    cfg_path = tmp_path / "rs.toml"
    cfg_path.write_text(text.replace("stride = 4", 'stride = 4\nmode = "resample"'))
    out = gh.extract(gh.load_config(cfg_path), progress=False)
    ds = gh.open_dataset(out)
    with rasterio.open(scene.root / "dem.tif") as src:
        ref_t, ref_crs = src.transform, CRS.from_user_input(src.crs)
    for i in (0, len(ds) - 1):
        row = ds.index.iloc[i]
        want = ref_t @ Affine.translation(4 * row["lattice_j"], 4 * row["lattice_i"])
        for name in ("dem", "alb", "flowdir"):
            with rasterio.open(out / "chips" / name / f"{i:06d}.tif") as chip:
                assert CRS.from_user_input(chip.crs) == ref_crs
                assert chip.transform.almost_equals(want, precision=1e-9)


def test_rotated_transform_round_trips(tmp_path: Path) -> None:
    specs = {"u16": SPECS["u16"], "u16_mask": SPECS["u16_mask"]}
    w = GeoTIFFWriter(tmp_path)
    w.create(specs, 2, patches_per_shard=1, compression="lz4")
    t = Affine.translation(400_000, 4_000_000) @ Affine.rotation(20) @ Affine.scale(15, -12)
    crs = CRS.from_epsg(32612).to_wkt()
    data = {k: make_arrays(0, 2)[k] for k in specs}
    w.write_georeferenced(0, data, {"u16": [Georef(crs, t), Georef(crs, t)]})
    w.close()
    with rasterio.open(tmp_path / "chips" / "u16" / "000001.tif") as chip:
        assert chip.transform.almost_equals(t, precision=1e-9)
        assert CRS.from_user_input(chip.crs) == CRS.from_epsg(32612)
    st = GeoTIFFWriter.reader(tmp_path)
    np.testing.assert_array_equal(st.read("u16", 1), data["u16"][1])
    np.testing.assert_array_equal(st.read("u16_mask", 1), data["u16_mask"][1])


def test_write_without_georef_is_refused(tmp_path: Path) -> None:
    w = GeoTIFFWriter(tmp_path)
    w.create(SPECS, 8, patches_per_shard=4, compression="zstd")
    with pytest.raises(TypeError, match="write_georeferenced"):
        w.write(0, make_arrays(0, 8))
    with pytest.raises(ValueError, match="needs one Georef per patch"):
        w.write_georeferenced(0, make_arrays(0, 8), {})


def test_arrays_that_cannot_be_chips_are_refused(tmp_path: Path) -> None:
    bad = {"x": ArraySpec("x", (2, 3, 4, 5), "float32", 0.0)}
    with pytest.raises(ValueError, match=r"'x'.*cannot be a GeoTIFF chip"):
        GeoTIFFWriter(tmp_path).create(bad, 3, patches_per_shard=1, compression="zstd")
    bad = {"y": ArraySpec("y", (3, 4), "float16", 0.0)}
    with pytest.raises(ValueError, match="GDAL data type"):
        GeoTIFFWriter(tmp_path).create(bad, 3, patches_per_shard=1, compression="zstd")
