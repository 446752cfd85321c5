"""Inputs users have: band files stacked into one modality; quantised data with a scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

import geoharmony as gh
from geoharmony.errors import InputError
from geoharmony.io.manifest import raster_record
from geoharmony.planning.plan import compute_plan
from scenes import small_scene

torch = pytest.importorskip("torch", reason="PyTorch is an optional extra")
from geoharmony.torch import PatchDataset  # noqa: E402


def _split_bands(src: Path, folder: Path) -> list[str]:
    """One single-band file per band of ``src`` (same grid), as Landsat B2..B7 ship."""
    names = []
    with rasterio.open(src) as ds:
        prof = ds.profile | {"count": 1}
        for b in range(1, ds.count + 1):
            name = f"B{b + 1}.tif"
            with rasterio.open(folder / name, "w", **prof) as dst:
                dst.write(ds.read(b), 1)
            names.append(name)
    return names


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    cfg = small_scene(root)
    _split_bands(root / "opt.tif", root)
    return cfg


def test_band_files_stack_into_one_modality(scene: Path, tmp_path: Path) -> None:
    root = scene.parent
    text = scene.read_text()
    stacked = text.replace('path = "opt.tif"', 'path = ["B2.tif", "B3.tif", "B4.tif"]')
    stacked = stacked.replace('path = "out"', f'path = "{tmp_path / "stacked"}"')
    cfg = tmp_path / "stacked.toml"
    cfg.write_text(stacked.replace('"boundary.geojson"', f'"{root / "boundary.geojson"}"'))
    cfg.write_text(
        cfg.read_text().replace('"dem.tif"', f'"{root / "dem.tif"}"').replace('"B', f'"{root}/B')
    )
    ref_cfg = tmp_path / "ref.toml"
    ref_cfg.write_text(
        text.replace('path = "out"', f'path = "{tmp_path / "ref"}"')
        .replace('"boundary.geojson"', f'"{root / "boundary.geojson"}"')
        .replace('"dem.tif"', f'"{root / "dem.tif"}"')
        .replace('"opt.tif"', f'"{root / "opt.tif"}"')
    )
    got = gh.open_dataset(gh.extract(gh.load_config(cfg)))
    ref = gh.open_dataset(gh.extract(gh.load_config(ref_cfg)))
    assert len(got) == len(ref) > 0
    for i in range(len(ref)):
        np.testing.assert_array_equal(got[i]["opt"], ref[i]["opt"])
        np.testing.assert_array_equal(got[i]["opt_mask"], ref[i]["opt_mask"])
    members = raster_record(got.manifest, "opt", "all")["stack"]
    assert [Path(m["path"]).name for m in members] == ["B2.tif", "B3.tif", "B4.tif"]
    assert all(len(m["sha256"]) == 64 for m in members)


def test_band_files_on_different_grids_are_refused(scene: Path, tmp_path: Path) -> None:
    root = scene.parent
    with rasterio.open(root / "B3.tif") as ds:
        prof = ds.profile
        data = ds.read(1)
    prof["transform"] = Affine(30, 0, prof["transform"].c + 15, 0, -30, prof["transform"].f)
    with rasterio.open(tmp_path / "B3_shifted.tif", "w", **prof) as dst:
        dst.write(data, 1)
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        scene.read_text()
        .replace('path = "opt.tif"', f'path = ["{root}/B2.tif", "{tmp_path}/B3_shifted.tif"]')
        .replace('"boundary.geojson"', f'"{root / "boundary.geojson"}"')
        .replace('"dem.tif"', f'"{root / "dem.tif"}"')
    )
    with pytest.raises(
        InputError, match=r"\[modalities\.opt\]\.path: .*not on one grid: transform"
    ):
        gh.plan(gh.load_config(cfg))
    cfg.write_text(cfg.read_text().replace(f"{tmp_path}/B3_shifted.tif", f"{root}/opt.tif"))
    with pytest.raises(InputError, match="has 3 bands; a path list stacks single-band files"):
        gh.plan(gh.load_config(cfg))


def test_scale_and_offset_are_recorded_and_applied_on_request(tmp_path: Path) -> None:
    root = tmp_path / "q"
    cfg = small_scene(root)
    # an "embedding" quantised to int8 with a scale: physical = 0.01 * stored - 0.5
    emb = np.random.default_rng(2).integers(-127, 127, size=(4, 320, 320), dtype=np.int8)
    with rasterio.open(root / "dem.tif") as ds:
        prof = ds.profile | {"count": 4, "dtype": "int8", "nodata": -128}
    with rasterio.open(root / "emb.tif", "w", **prof) as dst:
        dst.write(emb)
    cfg.write_text(
        cfg.read_text().replace(
            "[output]",
            '[modalities.emb]\npath = "emb.tif"\nscale = 0.01\noffset = -0.5\n\n[output]',
        )
    )
    out = gh.extract(gh.load_config(cfg))
    plain = gh.open_dataset(out)
    assert plain.manifest["outputs"]["emb"]["scale"] == 0.01
    assert plain.manifest["outputs"]["emb"]["offset"] == -0.5
    assert plain.manifest["outputs"]["dem"]["scale"] is None
    raw = PatchDataset(out, outputs=["emb"])[0]["emb"].numpy()
    phys = PatchDataset(out, outputs=["emb"], scale=True)[0]["emb"].numpy()
    stored = plain[0]["emb"]
    np.testing.assert_array_equal(raw, stored.astype(np.float32))
    np.testing.assert_allclose(phys, stored * np.float32(0.01) - np.float32(0.5), rtol=1e-6)
    # statistics follow the scale: normalising physical values == normalising stored ones
    norm_raw = PatchDataset(out, outputs=["emb"], normalize="global")[0]["emb"].numpy()
    norm_phys = PatchDataset(out, outputs=["emb"], normalize="global", scale=True)[0]
    np.testing.assert_allclose(norm_phys["emb"].numpy(), norm_raw, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def two_regions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two regions; the optical file exists for region h0 only (``opt_{id}.tif``)."""
    root = tmp_path_factory.mktemp("missing")
    cfg = small_scene(root, regions=2, labels=True)
    (root / "opt.tif").rename(root / "opt_h0.tif")
    cfg.write_text(cfg.read_text().replace('path = "opt.tif"', 'path = "opt_{id}.tif"'))
    return cfg


def _with_policy(cfg: Path, policy: str, out: Path) -> Path:
    p = out.parent / f"{policy}.toml"
    text = cfg.read_text().replace(
        'path = "opt_{id}.tif"', f'path = "opt_{{id}}.tif"\non_missing = "{policy}"'
    )
    root = cfg.parent
    text = text.replace('path = "out"', f'path = "{out}"')
    for name in ("boundary.geojson", "dem.tif", "opt_{id}.tif", "streams.geojson"):
        text = text.replace(f'"{name}"', f'"{root / name}"')
    p.write_text(text)
    return p


def test_on_missing_error_names_the_file(two_regions: Path, tmp_path: Path) -> None:
    """ "error": the region without the file fails by name (issue 11's isolation);
    ``fail_fast`` turns that into the run's one error."""
    cfg = gh.load_config(_with_policy(two_regions, "error", tmp_path / "o"))
    with pytest.warns(gh.errors.CoverageWarning, match=r"region 'h1' fails: .*opt_h1\.tif"):
        plan = compute_plan(cfg)
    assert [(f["region"], f["input"], f["stage"]) for f in plan.failed] == [("h1", "opt", "plan")]
    assert "opt_h1.tif: raster not found" in plan.failed[0]["reason"]
    assert {r.id for r in plan.regions} == {"h0"}
    with pytest.raises(InputError, match=r"opt_h1\.tif: raster not found.*--fail-fast"):
        gh.extract(cfg, fail_fast=True)
    assert not (tmp_path / "o").exists()


def test_on_missing_skip_region_leaves_it_out_and_records_it(
    two_regions: Path, tmp_path: Path
) -> None:
    cfg = gh.load_config(_with_policy(two_regions, "skip_region", tmp_path / "o"))
    with pytest.warns(gh.errors.CoverageWarning, match="region 'h1' left out"):
        out = gh.extract(cfg)
    ds = gh.open_dataset(out)
    assert set(ds.index["region"]) == {"h0"}
    m = ds.manifest["on_missing"]
    assert m["policies"]["opt"] == "skip_region" and m["skipped_regions"] == {"h1": ["opt"]}


def test_on_missing_masked_fills_and_records_it(two_regions: Path, tmp_path: Path) -> None:
    cfg = gh.load_config(_with_policy(two_regions, "masked", tmp_path / "o"))
    with pytest.warns(gh.errors.CoverageWarning, match="gets it masked"):
        out = gh.extract(cfg)
    ds = gh.open_dataset(out)
    regions = ds.index["region"].to_numpy()
    assert set(regions) == {"h0", "h1"}
    for i in range(len(ds)):
        s = ds[i]
        if regions[i] == "h1":
            assert not s["opt_mask"].any() and (s["opt"] == 0).all()  # the file's nodata
            assert s["dem_mask"].any()  # the other modalities are read as usual
        else:
            assert s["opt_mask"].any()
    assert ds.index.loc[regions == "h1", "opt_valid_fraction"].max() == 0
    m = ds.manifest
    assert m["on_missing"]["masked"] == {"opt": ["h1"]}
    assert raster_record(m, "opt", "h1") == {
        "path": str(two_regions.parent / "opt_h1.tif"),
        "missing": True,
        "regions": ["h1"],
    }
    assert set(m["stats_by_region"]["opt"]) == {"h0", "h1"}
    assert m["stats_by_region"]["opt"]["h1"]["count"][0] == 0


def test_on_missing_masked_refused_for_the_reference(two_regions: Path, tmp_path: Path) -> None:
    text = _with_policy(two_regions, "masked", tmp_path / "o").read_text()
    text = text.replace('reference = "dem"', 'reference = "opt"')
    p = tmp_path / "ref.toml"
    p.write_text(text)
    with (
        pytest.warns(gh.errors.CoverageWarning),
        pytest.raises(gh.ConfigError, match=r"reference raster .* use \"skip_region\""),
    ):
        gh.plan(gh.load_config(p))
