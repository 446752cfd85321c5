"""Empty and small (issue 9, item 9).

``[grid].min_valid_fraction`` drops patches before writing; regions without a patch are
listed at plan time and by ``info``; a plan with zero patches is refused (exit 2, with
the reason), never written.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import shapely
from affine import Affine

import geoharmony as gh
from geoharmony.planning.plan import compute_plan
from synth import lonlat_to, write_boundary, write_config, write_coord_raster

CRS = "EPSG:32613"
X0, Y0 = lonlat_to(CRS, -105.3, 40.2)


def _project(root: Path, boxes: dict[str, shapely.Polygon], grid: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    # the raster covers only the western 600 m of a 1200 m wide area
    write_coord_raster(
        root / "ref.tif",
        crs=CRS,
        transform=Affine(10, 0, X0, 0, -10, Y0),
        width=60,
        height=120,
        nodata=-9999.0,
    )
    write_boundary(root / "r.geojson", list(boxes.values()), CRS, [{"id": k} for k in boxes])
    return write_config(
        root / "pipeline.toml",
        f"""
        [study_area]
        boundary = "r.geojson"
        id_field = "id"

        [grid]
        reference = "ref"
        patch_size = 10
        {grid}

        [modalities.ref]
        path = "ref.tif"

        [output]
        path = "out"
        patches_per_shard = 4
        """,
    )


def _run(exe: Path, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, check=False)


def test_min_valid_fraction_drops_patches_before_writing(tmp_path: Path) -> None:
    boxes = {"a": shapely.box(X0, Y0 - 1200, X0 + 1200, Y0)}
    cfg = _project(tmp_path, boxes, "min_valid_fraction = 0.5")
    plan = compute_plan(gh.load_config(cfg))
    full = compute_plan(gh.load_config(_project(tmp_path / "all", boxes))).n_patches
    assert 0 < plan.n_patches < full
    assert any("min_valid_fraction = 0.5" in n and "dropped" in n for n in plan.notes)
    ds = gh.open_dataset(gh.extract(gh.load_config(cfg), progress=False))
    vf = ds.index["ref_valid_fraction"].to_numpy()
    assert np.all(vf >= 0.5) and len(vf) == plan.n_patches
    # the unfiltered plan holds patches below the threshold: the filter did drop them
    assert full - plan.n_patches >= 10


def test_regions_without_patches_listed(tmp_path: Path, geoharmony_exe: Path) -> None:
    boxes = {
        "big": shapely.box(X0, Y0 - 600, X0 + 600, Y0),
        "tiny": shapely.box(X0 + 700, Y0 - 60, X0 + 750, Y0 - 10),  # 50 m < 100 m patch
    }
    cfg = _project(tmp_path, boxes, 'keep = "inside"')
    plan = compute_plan(gh.load_config(cfg))
    assert plan.regions_without_patches == ["tiny"]
    r = _run(geoharmony_exe, "extract", cfg)
    assert r.returncode == 0, r.stderr
    assert "empty     1 region(s) without patches: tiny" in r.stderr
    r = _run(geoharmony_exe, "info", tmp_path / "out")
    assert "1 region(s) without patches: tiny" in r.stdout, r.stdout
    assert "0 cross-region duplicates" in r.stdout


def test_zero_patch_plan_refused_with_the_reason(tmp_path: Path, geoharmony_exe: Path) -> None:
    boxes = {"tiny": shapely.box(X0 + 100, Y0 - 160, X0 + 150, Y0 - 110)}
    cfg = _project(tmp_path, boxes, 'keep = "inside"')
    r = _run(geoharmony_exe, "extract", cfg)
    assert r.returncode == 2, r.stderr
    assert "no patch to write" in r.stderr
    assert "[grid].keep = 'inside'" in r.stderr and "region 'tiny' spans 50 x 50 m" in r.stderr
    assert "patch covers 100 x 100 m" in r.stderr
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))
    # coverage: every patch below min_valid_fraction
    boxes = {"east": shapely.box(X0 + 800, Y0 - 600, X0 + 1200, Y0)}
    cfg = _project(tmp_path / "cov", boxes, "min_valid_fraction = 0.1")
    r = _run(geoharmony_exe, "extract", cfg)
    assert r.returncode == 2 and "valid fraction below [grid].min_valid_fraction" in r.stderr
