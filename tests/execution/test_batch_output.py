"""Batch-friendly output and input hashing that never holds a run up."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import shapely
from affine import Affine

from clirun import run_cli
from geoharmony.io.hashes import BackgroundHasher, CachedHasher, Cancelled
from scenes import small_scene
from synth import write_boundary, write_config, write_coord_raster


def test_log_lines_and_summary_without_a_terminal(tmp_path: Path, geoharmony_exe: Path) -> None:
    cfg = small_scene(tmp_path, regions=2)
    env = {"GEOHARMONY_PROGRESS_SECONDS": "0.01", "GEOHARMONY_DELAY": "task-written:0.05"}
    r = run_cli(geoharmony_exe, "extract", cfg, "--workers", "1", env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    progress = [ln for ln in lines if " tasks done (" in ln]
    assert progress, r.stderr
    assert "INFO extract: " in lines[-1] and " tasks run, 0 resumed, " in lines[-1]
    assert "patches/s) -> " in lines[-1]
    r = run_cli(geoharmony_exe, "extract", cfg, "--no-progress")
    assert r.returncode == 0
    assert r.stderr.strip().endswith("is complete and up to date")


def test_a_warning_is_one_log_line_once(tmp_path: Path, geoharmony_exe: Path) -> None:
    t = Affine(10, 0, 480000, 0, -10, 4460000)
    write_coord_raster(tmp_path / "near.tif", crs=32613, transform=t, width=64, height=64)
    far = Affine(10, 0, 530000, 0, -10, 4460000)
    write_coord_raster(tmp_path / "far.tif", crs=32613, transform=far, width=64, height=64)
    write_boundary(
        tmp_path / "b.geojson",
        [
            shapely.box(480100, 4459500, 480300, 4459900),
            shapely.box(480300, 4459500, 480500, 4459900),
        ],
        32613,
        [{"h": "a"}, {"h": "b"}],
    )
    cfg = write_config(
        tmp_path / "p.toml",
        """
        [study_area]
        boundary = "b.geojson"
        [grid]
        reference = "near"
        patch_size = 8
        [modalities.near]
        path = "near.tif"
        [modalities.far]
        path = "far.tif"
        [output]
        path = "out"
        """,
    )
    r = run_cli(geoharmony_exe, "--no-progress", "extract", cfg, "--workers", "1")
    assert r.returncode == 0, r.stderr
    warns = [ln for ln in r.stderr.splitlines() if " WARNING " in ln]
    assert len(warns) == 1, r.stderr
    assert "far.tif does not overlap region 'all' at all" in warns[0]
    assert warns[0].endswith("(CoverageWarning)") and "warnings.warn" not in r.stderr


def test_input_hashes_are_cached_by_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEOHARMONY_CACHE_DIR", str(tmp_path / "cache"))
    f = tmp_path / "input.bin"
    f.write_bytes(b"x" * 100_000)
    h = CachedHasher()
    a = h(f)
    h.save()
    again = CachedHasher()
    assert again(f) == a and again.hashed == 0
    time.sleep(0.01)
    f.write_bytes(b"y" * 100_000)  # same size, new content and mtime: hashed again
    third = CachedHasher()
    assert third(f) != a and third.hashed == 1


def test_background_hashing_stops_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOHARMONY_CACHE_DIR", str(tmp_path / "cache"))
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        for _ in range(64):
            fh.write(b"\1" * (1 << 22))  # 256 MiB
    bg = BackgroundHasher(lambda h: h(big))
    t0 = time.perf_counter()
    bg.cancel()
    with pytest.raises(Cancelled):
        bg.result()
    assert time.perf_counter() - t0 < 2.0
