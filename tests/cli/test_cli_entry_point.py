"""The ``geoharmony`` command line through the real installed entry point (issue 2, part 5).

Every command runs in a subprocess (``.venv/bin/geoharmony``): exit codes, one-line
errors without traceback, idempotent and resumable ``extract``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import shapely
from affine import Affine

import geoharmony as gh
from geoharmony.planning.plan import compute_plan
from synth import lonlat_to, write_boundary, write_config, write_coord_raster

LON0, LAT0 = -105.6, 40.1


def _project(root: Path, *, stride: int = 4) -> Path:
    """Two regions (A: 600 m, B: 300 m squares) in EPSG:4326; ``dem`` (one file, UTM 13N
    10 m) and ``sar`` (one file per region, ``{id}``, Albers 20 m). Returns the config."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    x, y = lonlat_to("EPSG:32613", LON0, LAT0)
    write_coord_raster(
        data / "dem.tif",
        crs="EPSG:32613",
        transform=Affine(10, 0, x - 100, 0, -10, y + 100),
        width=120,
        height=120,
        nodata=-9999.0,
        holes=[(10, 10, 5, 5)],
    )
    for rid in ("A", "B"):
        ax, ay = lonlat_to("EPSG:5070", LON0, LAT0)
        write_coord_raster(
            data / f"sar_{rid}.tif",
            crs="EPSG:5070",
            transform=Affine(20, 0, ax - 200, 0, -20, ay + 200),
            width=70,
            height=70,
            nodata=None,
        )
    # region A: 600 m square; region B: 300 m square next to it (degrees at ~40 N)
    dx, dy = 1 / 85_200, 1 / 111_000  # degrees per metre
    a = shapely.box(LON0, LAT0 - 600 * dy, LON0 + 600 * dx, LAT0)
    b = shapely.box(LON0 + 650 * dx, LAT0 - 300 * dy, LON0 + 950 * dx, LAT0)
    write_boundary(data / "regions.geojson", [a, b], "EPSG:4326", [{"name": "A"}, {"name": "B"}])
    return write_config(
        root / "pipeline.toml",
        f"""
        [study_area]
        boundary = "data/regions.geojson"
        id_field = "name"

        [grid]
        reference = "dem"
        patch_size = 4
        stride = {stride}

        [modalities.dem]
        path = "data/dem.tif"

        [modalities.sar]
        path = "data/sar_{{id}}.tif"

        [output]
        path = "out/dataset"
        """,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return _project(tmp_path / "proj")


def run(exe: Path, *args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "NO_COLOR": "1"}
    return subprocess.run(
        [str(exe), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )


def _tree(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root``: sha256 and mtime_ns."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = (
                hashlib.sha256(p.read_bytes()).hexdigest(),
                p.stat().st_mtime_ns,
            )
    return out


def _arrays(path: Path) -> dict[str, np.ndarray]:
    ds = gh.open_dataset(path)
    return {name: ds.store.read(name, slice(None)) for name in ds.store.names}


def _same_dataset(a: Path, b: Path) -> None:
    xa, xb = _arrays(a), _arrays(b)
    assert sorted(xa) == sorted(xb)
    for name in xa:
        assert xa[name].dtype == xb[name].dtype and xa[name].shape == xb[name].shape, name
        assert xa[name].tobytes() == xb[name].tobytes(), f"{name} differs"
    ia, ib = gh.open_dataset(a).index, gh.open_dataset(b).index
    assert list(ia.columns) == list(ib.columns)
    assert ia.equals(ib)


def test_entry_point_is_the_installed_script(geoharmony_exe: Path) -> None:
    r = run(geoharmony_exe, "--help")
    assert r.returncode == 0, r.stderr
    for cmd in ("centers", "extract", "info"):
        assert cmd in r.stdout
    assert Path(sys.executable).parent == geoharmony_exe.parent


# -- centers -------------------------------------------------------------------------------------
def test_centers_geoparquet_and_geojson(
    geoharmony_exe: Path, project: Path, tmp_path: Path
) -> None:
    import geopandas as gpd

    expected = gh.plan(gh.load_config(project))
    n = len(expected)
    assert set(expected["region"]) == {"A", "B"}

    pq = tmp_path / "c.parquet"
    r = run(geoharmony_exe, "centers", project, "--out", pq)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{n} patch centres -> {pq}"
    got = gpd.read_parquet(pq)
    assert got.crs.to_epsg() == 4326
    assert list(got["patch_id"]) == list(expected["patch_id"])
    np.testing.assert_allclose(got.geometry.x, expected["lon"], atol=1e-12)
    np.testing.assert_allclose(got.geometry.y, expected["lat"], atol=1e-12)
    for m in ("dem", "sar"):
        assert f"{m}_footprint" in got.columns and f"{m}_offset_m" in got.columns
        assert shapely.equals_exact(
            np.asarray(got[f"{m}_footprint"].values),
            np.asarray(expected[f"{m}_footprint"].values),
            1e-12,
        ).all()

    gj = tmp_path / "c.geojson"
    r = run(geoharmony_exe, "centers", project, "--out", gj)
    assert r.returncode == 0, r.stderr
    assert json.loads(gj.read_text())["type"] == "FeatureCollection"
    got2 = gpd.read_file(gj)
    assert got2.crs.to_epsg() == 4326 and len(got2) == n
    assert list(got2["patch_id"]) == list(expected["patch_id"])
    np.testing.assert_allclose(got2.geometry.x, expected["lon"], atol=1e-9)
    fp = shapely.from_wkt(got2["dem_footprint"].to_numpy())
    assert (
        shapely.hausdorff_distance(fp, np.asarray(expected["dem_footprint"].values)) < 1e-8
    ).all()

    # default location: beside [output].path; nothing else is written
    r = run(geoharmony_exe, "centers", project)
    assert r.returncode == 0, r.stderr
    default = project.parent / "out" / "dataset_centers.parquet"
    assert default.is_file() and not (project.parent / "out" / "dataset").exists()

    r = run(geoharmony_exe, "centers", project, "--out", tmp_path / "c.csv")
    assert r.returncode == 2
    assert "extension must be .parquet or .geojson" in r.stderr and "Traceback" not in r.stderr


# -- extract + info --------------------------------------------------------------------------------
def test_extract_info_and_second_run_is_a_noop(geoharmony_exe: Path, project: Path) -> None:
    r = run(geoharmony_exe, "extract", project)
    assert r.returncode == 0, r.stderr
    out = project.parent / "out" / "dataset"
    assert r.stdout.strip() == f"dataset: {out}"
    # not a terminal: no bar, only the run's one summary line
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "INFO extract: " in lines[0] and "patches/s" in lines[0], r.stderr
    assert (out / "manifest.json").is_file() and (out / "index.parquet").is_file()
    assert not list(out.parent.glob(".dataset.partial*"))
    ds = gh.open_dataset(out)
    n = len(ds)
    assert n == len(gh.plan(gh.load_config(project)))
    assert sorted(ds.outputs) == ["dem", "sar"]

    r = run(geoharmony_exe, "info", out)
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert str(out) in text
    assert re.search(rf"\b{n}\b", text), text
    assert "2 region" in text
    for token in (
        "dem",
        "sar",
        "EPSG:32613",
        "EPSG:5070",
        "10.00 x 10.00 m",
        # issue 9: true ground metres at the region's centroid (20 m of Albers at 40 N)
        "20.18 x 19.82 m",
        "float64",
        "native",
    ):
        assert token in text, (token, text)

    before = _tree(out)
    r = run(geoharmony_exe, "extract", project)  # not a terminal: no progress bar either
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"dataset: {out}"
    assert r.stderr.strip().endswith(f"tasks skipped: {out} is complete and up to date")
    assert len(r.stderr.strip().splitlines()) == 1
    assert _tree(out) == before, "a second extract of the same config rewrote the dataset"


def test_info_on_a_folder_that_is_not_a_dataset(geoharmony_exe: Path, tmp_path: Path) -> None:
    r = run(geoharmony_exe, "info", tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(tmp_path) in lines[0] and "Traceback" not in r.stderr


def test_existing_different_dataset_needs_overwrite(geoharmony_exe: Path, project: Path) -> None:
    out = project.parent / "out" / "dataset"
    r = run(geoharmony_exe, "--no-progress", "extract", project)
    assert r.returncode == 0, r.stderr
    before = _tree(out)
    n_before = len(gh.open_dataset(out))

    text = project.read_text().replace("stride = 4", "stride = 8")
    other = write_config(project.parent / "other.toml", text)
    r = run(geoharmony_exe, "--no-progress", "extract", other)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert str(out) in lines[0] and "--overwrite" in lines[0] and "Traceback" not in r.stderr
    assert _tree(out) == before, "the old dataset was touched"
    assert not list(out.parent.glob(".dataset.partial*")), "the refused run left a partial"

    r = run(geoharmony_exe, "--no-progress", "extract", other, "--overwrite")
    assert r.returncode == 0, r.stderr
    n_after = len(gh.open_dataset(out))
    assert n_after < n_before
    assert gh.open_dataset(out).manifest["plan"]["stride"] == 8


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "pieces"),
    [
        ("patch_size = 4", "patch_sise = 4", ["[grid].patch_sise", "did you mean 'patch_size'"]),
        ('reference = "dem"', 'reference = "dme"', ["[grid].reference", "did you mean 'dem'"]),
        ("patch_size = 4", 'patch_size = "4"', ["[grid].patch_size", "must be int"]),
        (
            'path = "data/dem.tif"',
            'path = "data/nope.tif"',
            ["nope.tif", "raster not found", "[modalities.dem].path"],
        ),
    ],
)
def test_bad_config_exits_2_with_one_line(
    geoharmony_exe: Path, project: Path, old: str, new: str, pieces: list[str]
) -> None:
    bad = write_config(project.parent / "bad.toml", project.read_text().replace(old, new, 1))
    for cmd in ("centers", "extract"):
        r = run(geoharmony_exe, "--no-progress", cmd, bad)
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert "Traceback" not in r.stderr
        if "raster not found" not in pieces:
            assert str(bad.resolve()) in lines[0]
        for p in pieces:
            assert p in lines[0], (p, lines[0])
    assert not (project.parent / "out" / "dataset").exists()


def test_debug_shows_the_traceback(geoharmony_exe: Path, project: Path) -> None:
    bad = write_config(
        project.parent / "bad.toml", project.read_text().replace("patch_size", "patch_sise")
    )
    r = run(geoharmony_exe, "--debug", "centers", bad)
    assert r.returncode != 0
    assert "Traceback" in r.stderr and "ConfigError" in r.stderr


def test_missing_config_file_exits_2(geoharmony_exe: Path, tmp_path: Path) -> None:
    r = run(geoharmony_exe, "extract", tmp_path / "nope.toml")
    assert r.returncode == 2
    assert "nope.toml" in r.stderr and "Traceback" not in r.stderr


# -- resume after a crash --------------------------------------------------------------------------
CRASH = textwrap.dedent(
    """
    import os, sys
    import geoharmony as gh
    from geoharmony.planning.plan import compute_plan

    cfg = gh.load_config(sys.argv[1])
    plan = compute_plan(cfg)          # headers of every input read here
    victim = sys.argv[2]
    # after planning, region B's raster becomes unreadable: a file of zeros with the same
    # size and mtime (so the plan's fingerprint, which stats the inputs, is unchanged)
    st = os.stat(victim)
    os.rename(victim, victim + ".away")
    with open(victim, "wb") as f:
        f.write(bytes(st.st_size))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    try:
        # fail_fast: the unreadable region stops the run (by default it would fail alone)
        gh.extract(
            cfg, plan=plan, workers=1, progress=False, fail_fast=True,
            overwrite="--overwrite" in sys.argv,
        )
    finally:
        os.replace(victim + ".away", victim)  # the original back: same bytes, same mtime
    """
)


def _shard_files(store: Path) -> dict[tuple[str, int], int]:
    """``(array, shard index) -> mtime_ns`` of every shard file of a Zarr v3 store.

    Chunk keys are ``c/<i>/...`` or ``c.<i>....`` depending on the key separator.
    """
    out = {}
    for p in store.rglob("*"):
        if not p.is_file():
            continue
        rel = p.relative_to(store)
        m = (
            re.match(r"c[./](\d+)(?:[./]|$)", rel.relative_to(rel.parts[0]).as_posix())
            if len(rel.parts) > 1
            else None
        )
        if m:
            key = (rel.parts[0], int(m.group(1)))
            out[key] = max(out.get(key, 0), p.stat().st_mtime_ns)
    return out


def test_crash_then_resume_gives_identical_bytes(
    geoharmony_exe: Path, project: Path, tmp_path: Path
) -> None:
    out = project.parent / "out" / "dataset"
    plan = compute_plan(gh.load_config(project))
    partial = out.parent / f".dataset.partial-{plan.fingerprint()[:16]}"
    ts = plan.task_size
    regions = plan.table["region"]
    assert (regions[: 3 * ts] == "A").all() and (regions == "B").any()  # 3 whole tasks of A first

    script = tmp_path / "crash.py"
    script.write_text(CRASH)
    victim = project.parent / "data" / "sar_B.tif"
    r = subprocess.run(
        [sys.executable, str(script), str(project), str(victim)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode != 0, "the simulated crash did not happen"
    assert "sar_B.tif" in r.stderr, r.stderr
    assert victim.is_file()
    assert not out.exists(), "an interrupted run must not look like a dataset"
    records = sorted((partial / "_tasks").glob("*.json"))
    done = sorted(int(p.stem) for p in records)
    assert done[:3] == [0, 1, 2], done
    assert len(done) < plan.n_tasks
    with pytest.raises(gh.GeoharmonyError, match="rerun extract to resume"):
        gh.open_dataset(out)

    # lose one record as well: that task must be redone, the others must not be
    (partial / "_tasks" / "000001.json").unlink()
    shards_before = _shard_files(partial / "patches.zarr")
    assert shards_before, "no shard files found in the partial store"
    r = run(geoharmony_exe, "--no-progress", "extract", project, "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert out.is_dir() and not partial.exists()
    shards_after = _shard_files(out / "patches.zarr")
    per_shard = gh.open_dataset(out).manifest["store"]["patches_per_shard"]
    kept = {k for k in shards_before if (k[1] * per_shard) // ts in (0, 2)}
    assert kept
    for k in kept:
        assert shards_after[k] == shards_before[k], f"shard {k} of a finished task was rewritten"

    # an uninterrupted run elsewhere: same arrays byte for byte, same index
    clean = tmp_path / "clean"
    r = run(geoharmony_exe, "--no-progress", "extract", project, "--out", clean, "--workers", "2")
    assert r.returncode == 0, r.stderr
    _same_dataset(out, clean)


def test_failed_overwrite_keeps_the_old_dataset(
    geoharmony_exe: Path, project: Path, tmp_path: Path
) -> None:
    out = project.parent / "out" / "dataset"
    r = run(geoharmony_exe, "--no-progress", "extract", project)
    assert r.returncode == 0, r.stderr
    before = _tree(out)

    other = write_config(
        project.parent / "other.toml", project.read_text().replace("stride = 4", "stride = 5")
    )
    script = tmp_path / "crash.py"
    script.write_text(CRASH)
    victim = project.parent / "data" / "sar_B.tif"
    r = subprocess.run(
        [sys.executable, str(script), str(other), str(victim), "--overwrite"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode != 0 and "sar_B.tif" in r.stderr, r.stderr
    assert _tree(out) == before, "a failed --overwrite run damaged the existing dataset"
    assert gh.open_dataset(out).manifest["plan"]["stride"] == 4

    r = run(geoharmony_exe, "--no-progress", "extract", other, "--overwrite", "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert gh.open_dataset(out).manifest["plan"]["stride"] == 5
    assert not list(out.parent.glob(".dataset.partial*"))
    assert not (out.parent / ".dataset.old").exists()
