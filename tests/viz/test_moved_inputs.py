"""After extraction nothing needs the inputs: the CLI works with boundary and rasters gone.

The inputs are copied to a temporary folder, extracted, then deleted; ``report``,
``info``, ``validate`` and every ``plot`` subcommand must still work from the dataset
alone (its ``plan.json``, index, manifest and store).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from vizdata import make_area

import geoharmony as gh


@pytest.fixture(scope="module")
def orphan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset whose configuration, boundary, rasters and label vectors are deleted."""
    root = tmp_path_factory.mktemp("moved")
    cfg_path = make_area(root / "inputs")
    out = root / "dataset"
    gh.extract(gh.load_config(cfg_path), out=out, workers=1, progress=False)
    shutil.rmtree(root / "inputs")
    assert not any(p.suffix in (".tif", ".geojson", ".toml") for p in root.rglob("*"))
    return out


def _run(exe: Path, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(exe), *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


def test_report_info_validate_without_inputs(
    geoharmony_exe: Path, orphan: Path, tmp_path: Path
) -> None:
    html = tmp_path / "report.html"
    r = _run(geoharmony_exe, "report", orphan, "--out", html, "--patches", "1", "--dpi", "40")
    assert r.returncode == 0, r.stderr
    text = html.read_text(encoding="utf-8")
    assert "could not be drawn" not in text
    assert "input-missing" in text and "no longer exists" in text  # said, not fatal
    assert text.count("<img ") == 10  # study area, centres, 4 grids, 2 sampled, 2 histograms

    r = _run(geoharmony_exe, "info", orphan)
    assert r.returncode == 0, r.stderr
    assert "88 in 1 region" in r.stdout and "input-missing" in r.stdout

    r = _run(geoharmony_exe, "validate", orphan)
    assert r.returncode == 0, r.stderr  # the dataset is intact; missing inputs are notes
    assert "masks match the index" in r.stdout and "is missing" in r.stdout


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("study-area", ["--crs", "metric"]),
        ("centers", []),
        ("footprints", ["--patch", "5"]),
        ("grid", ["--modality", "sar"]),
        ("patch", ["--patch", "3"]),
    ],
)
def test_every_plot_without_inputs(
    geoharmony_exe: Path, orphan: Path, tmp_path: Path, kind: str, extra: list[str]
) -> None:
    out = tmp_path / f"{kind}.png"
    r = _run(geoharmony_exe, "plot", kind, orphan, "--out", out, "--dpi", "40", *extra)
    assert r.returncode == 0, r.stderr
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 200


def test_validate_exits_1_on_a_broken_dataset(
    geoharmony_exe: Path, orphan: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(orphan, broken)
    import geopandas as gpd

    idx = gpd.read_parquet(broken / "index.parquet")
    idx["dem_valid_fraction"] = 0.0  # masks now disagree with the index
    idx.to_parquet(broken / "index.parquet", index=False)
    r = _run(geoharmony_exe, "validate", broken)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "mask-index" in r.stdout and "dataset is invalid" in r.stderr
