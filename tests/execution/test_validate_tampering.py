"""``validate`` catches tampering: every edit to the store or the index is a precise problem."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest

import geoharmony as gh
from clirun import run_cli
from geoharmony.qa.validate import validate
from scenes import small_scene


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tamper")
    cfg = gh.load_config(
        small_scene(
            root, regions=2, split='\n[split]\nby = "block"\nblock_m = 100\nguard = "keep"\n'
        )
    )
    return gh.extract(cfg, out=root / "ds", workers=1)


@pytest.fixture
def copy(dataset: Path, tmp_path: Path) -> Path:
    # beside the original, so the config's relative paths still resolve
    dst = dataset.parent / f"copy-{tmp_path.name}"
    shutil.copytree(dataset, dst)
    return dst


def _shards(ds: Path, array: str = "dem") -> list[Path]:
    return sorted(
        (ds / "patches.zarr" / array).glob("c.*"), key=lambda p: int(p.name.split(".")[1])
    )


def _edit_index(ds: Path, fn: Callable[[gpd.GeoDataFrame], None]) -> None:
    idx = gpd.read_parquet(ds / "index.parquet")
    fn(idx)
    idx.to_parquet(ds / "index.parquet", index=False)


def test_an_untouched_dataset_is_valid(copy: Path, geoharmony_exe: Path) -> None:
    rep = validate(copy)
    assert rep.ok, rep.problems
    assert any("checksums verified" in c for c in rep.checked)
    assert any("columns against the plan" in c for c in rep.checked)
    r = run_cli(geoharmony_exe, "validate", copy)
    assert r.returncode == 0 and r.stdout.strip().endswith(f"valid: {copy}"), r.stderr


def test_flipped_byte(copy: Path, geoharmony_exe: Path) -> None:
    shard = _shards(copy)[1]
    b = bytearray(shard.read_bytes())
    b[len(b) // 3] ^= 0x40
    shard.write_bytes(bytes(b))
    r = run_cli(geoharmony_exe, "validate", copy)
    assert r.returncode == 1, r.stdout
    assert (
        f"{shard}: sha256 differs from the one recorded at write time (array dem, patches 4-7)"
        in r.stderr
    )
    assert "Traceback" not in r.stderr


def test_deleted_shard(copy: Path) -> None:
    shard = _shards(copy, "opt_mask")[0]
    shard.unlink()
    rep = validate(copy)
    assert f"{shard}: file missing (array opt_mask, patches 0-3)" in rep.problems


def test_truncated_shard(copy: Path) -> None:
    shard = _shards(copy)[2]
    shard.write_bytes(shard.read_bytes()[:-40])
    rep = validate(copy)
    assert any(p.startswith(f"{shard}: sha256 differs") for p in rep.problems), rep.problems
    assert any("array dem, patches 8-11 cannot be read" in p for p in rep.problems), rep.problems


def test_swapped_shards(copy: Path) -> None:
    a, b = _shards(copy)[:2]
    tmp = a.with_name("swap")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    probs = validate(copy).problems
    assert (
        f"{a}: sha256 differs from the one recorded at write time (array dem, patches 0-3)" in probs
    )
    assert (
        f"{b}: sha256 differs from the one recorded at write time (array dem, patches 4-7)" in probs
    )


def test_unexpected_file(copy: Path) -> None:
    extra = copy / "patches.zarr" / "dem" / "c.999.0.0.0"
    extra.write_bytes(b"x")
    assert any(p.startswith(f"{extra}: unexpected file") for p in validate(copy).problems)


def test_edited_coordinates(copy: Path) -> None:
    def move(idx: gpd.GeoDataFrame) -> None:
        idx.loc[3, "lon"] += 0.001

    _edit_index(copy, move)
    probs = validate(copy).problems
    index = copy / "index.parquet"
    assert f"{index}: sha256 differs from the one recorded at write time (the patch index)" in probs
    assert f"{copy / 'index.parquet'}: column lon differs from the plan at patches 3" in probs


def test_edited_split(copy: Path) -> None:
    def resplit(idx: gpd.GeoDataFrame) -> None:
        idx.loc[[0, 1, 2, 5], "split"] = [
            "test" if s != "test" else "train" for s in idx.loc[[0, 1, 2, 5], "split"]
        ]

    _edit_index(copy, resplit)
    assert (
        f"{copy / 'index.parquet'}: column split differs from the plan at patches 0-2, 5"
        in validate(copy).problems
    )


def test_edited_offsets(copy: Path) -> None:
    def shift(idx: gpd.GeoDataFrame) -> None:
        idx.loc[7:9, "opt_col_off"] += 1

    _edit_index(copy, shift)
    assert (
        f"{copy / 'index.parquet'}: column opt_col_off differs from the plan at patches 7-9"
        in validate(copy).problems
    )


def test_edited_valid_fraction_and_patch_index(copy: Path) -> None:
    def edit(idx: gpd.GeoDataFrame) -> None:
        idx.loc[4, "dem_valid_fraction"] = 0.123
        idx.loc[[10, 11], "patch_index"] = [11, 10]

    _edit_index(copy, edit)
    probs = validate(copy).problems
    index = copy / "index.parquet"
    assert (
        f"{index}: column dem_valid_fraction disagrees with the stored dem_mask at patches 4"
        in probs
    )
    assert f"{index}: column patch_index is not the row number at patches 10-11" in probs


def _edit_manifest(ds: Path, fn: Callable[[dict[str, Any]], None]) -> Path:
    path = ds / "manifest.json"
    m = json.loads(path.read_text())
    fn(m)
    path.write_text(json.dumps(m, indent=2))
    return path


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda m: m["stats"]["dem"]["all"]["mean"].__setitem__(0, 1.5), id="stats"),
        pytest.param(lambda m: m["store"].__setitem__("patches_per_shard", 3), id="shard-size"),
        pytest.param(lambda m: m.__setitem__("fingerprint", "0" * 64), id="fingerprint"),
        pytest.param(lambda m: m.pop("checksums"), id="checksums-removed"),
        pytest.param(
            lambda m: m["checksums"].__setitem__("plan.json", "0" * 64), id="checksum-value"
        ),
    ],
)
def test_edited_manifest(copy: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = _edit_manifest(copy, edit)
    probs = validate(copy).problems
    assert (
        f"{path}: its content differs from the sha256 sealed into it at write time "
        "(statistics, counts, checksums or settings were edited)" in probs
    ), probs


def test_manifest_seal_removed(copy: Path, geoharmony_exe: Path) -> None:
    path = _edit_manifest(copy, lambda m: m.pop("manifest_sha256"))
    r = run_cli(geoharmony_exe, "validate", copy)
    assert r.returncode == 1
    assert (
        f"{path}: format 2 manifests carry a seal (manifest_sha256); this one has none (removed)"
        in r.stderr
    )


def test_a_layout_preserving_rewrite_of_the_manifest_is_still_valid(copy: Path) -> None:
    # the seal is over the content, not the bytes: re-indenting the file is no edit
    _edit_manifest(copy, lambda m: None)
    rep = validate(copy)
    assert rep.ok, rep.problems
    assert "manifest: its content matches its seal" in rep.checked


def test_deleted_plan(copy: Path, geoharmony_exe: Path) -> None:
    (copy / "plan.json").unlink()
    r = run_cli(geoharmony_exe, "validate", copy)
    assert r.returncode == 1, r.stderr
    assert f"{copy / 'plan.json'}: cannot be read (missing); the dataset is damaged" in r.stderr
    assert "Traceback" not in r.stderr
