"""Every figure on real data (../shared/data) and on the demo's synthetic area.

Real cases: the Hintereisferner glacier (boundary EPSG:4326) with an ice-thickness raster
in UTM 32N and SRTM in EPSG:4326 (a raster in another CRS than the boundary, partial
coverage, no nodata tags); Rocky Mountain National Park (uint16 DEM with non-square
geographic pixels, uint8 RGB with nodata 255).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from pyproj import CRS
from vizcheck import assert_extent_contains, assert_not_blank, boundary_bounds

import geoharmony as gh
from geoharmony.report.bundle import demo_figures
from geoharmony.viz.centers import plot_centers
from geoharmony.viz.footprints import plot_footprints
from geoharmony.viz.grid import plot_grid
from geoharmony.viz.patch import plot_patch
from geoharmony.viz.source import Source, load_source
from geoharmony.viz.study_area import plot_study_area

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
DPI = 50

CASES = {
    "oetztal": """
        [study_area]
        boundary = "{d}/oetztal_rofental/Hintereisferner_RGI6.geojson"
        buffer_m = 500
        [grid]
        reference = "thickness"
        patch_size = 32
        [modalities.thickness]
        path = "{d}/oetztal_rofental/RGI60-11.00897_thickness.tif"
        [modalities.srtm]
        path = "{d}/oetztal_rofental/srtm_oetztal.tif"
        [output]
        path = "out"
    """,
    "rmnp": """
        [study_area]
        boundary = "{d}/rmnp_colorado/rmnp.geojson"
        [grid]
        reference = "dem"
        patch_size = 16
        [modalities.dem]
        path = "{d}/rmnp_colorado/rmnp-dem.tif"
        [modalities.rgb]
        path = "{d}/rmnp_colorado/rmnp-rgb.tif"
        [output]
        path = "out"
    """,
}


@pytest.fixture(scope="module", params=sorted(CASES))
def real(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Source:
    if not SHARED.is_dir():
        pytest.skip(f"real test data not found at {SHARED}")
    root = tmp_path_factory.mktemp(request.param)
    cfg = root / "pipeline.toml"
    cfg.write_text(textwrap.dedent(CASES[request.param]).format(d=SHARED), encoding="utf-8")
    return load_source(gh.extract(gh.load_config(cfg), workers=1, progress=False))


def _raster_crs(src: Source, name: str) -> CRS:
    return src.inputs[src.regions[0].id][name].grid.crs


@pytest.mark.realdata
def test_real_maps_show_the_boundary_in_their_crs(real: Source) -> None:
    bnd = real.study_area.boundary
    fig = plot_study_area(real, dpi=DPI)
    assert_not_blank(fig)
    assert_extent_contains(fig.axes[0], boundary_bounds(bnd, CRS.from_epsg(4326)))
    fig = plot_centers(real, dpi=DPI)
    assert_not_blank(fig)
    assert_extent_contains(fig.axes[0], boundary_bounds(bnd, _raster_crs(real, real.reference)))
    for m in real.modalities:
        fig = plot_grid(real, m, dpi=DPI)
        assert_not_blank(fig)
        assert_extent_contains(fig.axes[0], boundary_bounds(bnd, _raster_crs(real, m)))


@pytest.mark.realdata
def test_real_patch_figures(real: Source) -> None:
    assert_not_blank(plot_footprints(real, 0, dpi=DPI))
    assert_not_blank(plot_patch(real, len(real.index) // 2, dpi=DPI))


@pytest.mark.realdata
def test_real_footprints_in_another_crs_look_rotated(real: Source) -> None:
    """The UTM thickness footprint is rotated against SRTM's lon/lat rows (about 1.3°)."""
    if "thickness" not in real.modalities:
        pytest.skip("only the Ötztal case mixes a projected and a geographic raster")
    labels = [
        t.get_text()
        for leg in plot_footprints(real, 0, dpi=DPI).axes[0].get_legend().get_texts()
        for t in [leg]
    ]
    srtm = next(t for t in labels if t.startswith("srtm:"))
    rot = float(srtm.split("rotated ")[1].split("°")[0])
    assert 0.8 < abs(rot) < 2.0
    assert "EPSG:4326" in srtm and "63.6 x 92.6 m" in srtm  # non-square ground pixels


@pytest.fixture(scope="module")
def demo_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    demo_data = pytest.importorskip("geoharmony.demo.data")
    root = tmp_path_factory.mktemp("demo")
    cfg = demo_data.synthesize_study_area(root / "inputs", seed=0, size_km=3, patch_size=64)
    return cfg, gh.extract(gh.load_config(cfg), out=root / "dataset", workers=1, progress=False)


def test_demo_area_every_figure_and_the_report(
    demo_dataset: tuple[Path, Path], tmp_path: Path
) -> None:
    cfg, ds = demo_dataset
    paths = demo_figures(gh.load_config(cfg), ds, tmp_path / "figures", dpi=DPI)
    names = {p.name for p in paths}
    assert {"study_area.png", "centers.png", "report.html"} <= names
    assert {f"grid_{m}.png" for m in ("dem", "sar", "optical", "thermal")} <= names
    assert any(n.startswith("footprints_") for n in names)
    assert sum(n.startswith("patch_") for n in names) == 2
    from PIL import Image

    for p in paths:
        assert p.is_file() and p.stat().st_size > 5_000
        if p.suffix == ".png":
            with Image.open(p) as img:
                px = np.asarray(img.convert("RGB"))
            assert px.std() > 5
    src = load_source(ds)
    fig = plot_study_area(src, dpi=DPI)
    assert_extent_contains(
        fig.axes[0], boundary_bounds(src.study_area.boundary, CRS.from_epsg(4326))
    )
    fig = plot_grid(src, "sar", dpi=DPI)  # EPSG:5070, unlike the boundary and the DEM
    assert_extent_contains(
        fig.axes[0], boundary_bounds(src.study_area.boundary, CRS.from_epsg(5070))
    )
