"""Every figure renders (no warnings, not blank) and shows what it claims, in one CRS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import CRS
from vizcheck import assert_extent_contains, assert_not_blank, boundary_bounds, legend_texts

import geoharmony as gh
from geoharmony.geometry.footprint import to_crs
from geoharmony.planning.study_area import local_metric_crs
from geoharmony.viz.centers import plot_centers
from geoharmony.viz.footprints import patch_crs, plot_footprints
from geoharmony.viz.grid import plot_grid
from geoharmony.viz.patch import plot_patch
from geoharmony.viz.source import VizInputError, load_source
from geoharmony.viz.stats import plot_offsets, plot_valid_fractions
from geoharmony.viz.study_area import plot_study_area

DPI = 50
WGS84 = CRS.from_epsg(4326)
UTM16 = CRS.from_epsg(32616)


@pytest.fixture(scope="module")
def src(tiny_dataset: Path):
    return load_source(tiny_dataset)


def _boundary(src) -> Path:
    return src.study_area.boundary


# -- study area -------------------------------------------------------------------------
@pytest.mark.parametrize("crs", ["lonlat", "metric", "raster"])
def test_study_area_renders_in_one_crs_with_boundary_in_view(src, crs: str) -> None:
    fig = plot_study_area(src, crs=crs, dpi=DPI)
    assert_not_blank(fig)
    ax = fig.axes[0]
    if crs == "lonlat":
        target = WGS84
        assert ax.get_xlabel() == "longitude"
    elif crs == "metric":
        geom = shapely.union_all(np.array([r.boundary for r in src.regions], dtype=object))
        target = local_metric_crs(geom, src.regions[0].crs)
        assert "km" in ax.get_xlabel() or "(m)" in ax.get_xlabel()
    else:
        target = UTM16  # the DEM (background) raster's own CRS
        assert "easting" in ax.get_xlabel()
    assert_extent_contains(ax, boundary_bounds(_boundary(src), target))


def test_study_area_legend_names_the_three_outlines_and_the_buffer(src) -> None:
    labels = legend_texts(plot_study_area(src, dpi=DPI))
    assert "boundary" in labels
    assert "buffered boundary (300 m)" in labels
    assert "bounding box of the buffered area" in labels
    assert any("sar raster extent (EPSG:5070)" in t for t in labels)


def test_study_area_buffer_is_computed_not_loaded(src) -> None:
    """The buffered outline drawn lies 300 m outside the boundary (measured in metres)."""
    fig = plot_study_area(src, crs="metric", dpi=DPI)
    ax = fig.axes[0]
    geom = shapely.union_all(np.array([r.boundary for r in src.regions], dtype=object))
    local = local_metric_crs(geom, src.regions[0].crs)
    bnd = to_crs(np.array([geom]), src.regions[0].crs, local)[0]
    red = [ln for ln in ax.get_lines() if ln.get_color() == "#ff3b30"]
    assert red, "no buffered outline drawn"
    xy = np.column_stack(red[0].get_data())
    d = shapely.distance(shapely.points(xy), shapely.boundary(bnd))
    assert np.allclose(d, 300, atol=3)


# -- centres ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["config", "dataset"])
def test_centers_counts_in_legend_and_boundary_in_view(tiny_config, tiny_dataset, kind) -> None:
    source = tiny_config if kind == "config" else tiny_dataset
    fig = plot_centers(source, dpi=DPI)
    assert_not_blank(fig)
    ds = gh.open_dataset(tiny_dataset)
    labels = legend_texts(fig)
    n_all = ds.manifest["plan"]["n_candidates"]
    assert f"all lattice centres (n = {n_all:,})" in labels
    assert any(t.startswith(f"kept centres (n = {len(ds):,})") for t in labels)
    # drawn in the reference raster's CRS (UTM 16N metres), boundary inside the view
    assert_extent_contains(
        fig.axes[0], boundary_bounds(ds.manifest["config"]["study_area"]["boundary"], UTM16)
    )
    assert "EPSG:32616" in " ".join(t.get_text() for t in fig.axes[0].texts)


# -- footprints -------------------------------------------------------------------------
def test_footprints_in_local_metric_crs_show_rotation_and_sizes(src) -> None:
    fig = plot_footprints(src, 10, dpi=DPI)
    assert_not_blank(fig)
    ax = fig.axes[0]
    crs = patch_crs(src, 10)
    assert "azimuthal equidistant" in ax.get_title()
    assert "UTM" not in ax.get_title()
    polys = [src.index[f"{m}_footprint"].iloc[10] for m in src.modalities]
    local = to_crs(np.array(polys, dtype=object), WGS84, crs)
    assert_extent_contains(ax, shapely.bounds(shapely.union_all(local)))
    labels = legend_texts(fig)
    dem = next(t for t in labels if t.startswith("dem:"))
    assert "10 m, 32\u00d732 px = 320 m \u00d7 320 m" in dem
    opt = next(t for t in labels if t.startswith("optical:"))
    assert "30 m, 32\u00d732 px = 960 m \u00d7 960 m" in opt and "9\u00d7 the dem area" in opt
    sar = next(t for t in labels if t.startswith("sar:"))
    assert "EPSG:5070" in sar and "rotated" in sar  # Albers vs UTM: visibly rotated


def test_footprint_polygons_drawn_are_the_index_polygons(src) -> None:
    """The drawn sar outline is the index polygon (rotated), not an axis-aligned box."""
    fig = plot_footprints(src, 3, dpi=DPI)
    crs = patch_crs(src, 3)
    sar = to_crs(np.array([src.index["sar_footprint"].iloc[3]]), WGS84, crs)[0]
    ring = np.asarray(shapely.get_coordinates(shapely.get_exterior_ring(sar)))
    found = False
    for ln in fig.axes[0].get_lines():
        xy = np.column_stack(ln.get_data())
        if xy.shape == ring.shape and np.allclose(xy, ring):
            found = True
    assert found
    box = shapely.box(*shapely.bounds(sar))
    assert shapely.area(box) > shapely.area(sar) * 1.01  # really rotated


# -- grid ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("modality", "epsg"), [("dem", 32616), ("sar", 5070), ("optical", 32616)])
def test_grid_in_the_rasters_own_crs(src, modality: str, epsg: int) -> None:
    fig = plot_grid(src, modality, dpi=DPI)
    assert_not_blank(fig)
    ax = fig.axes[0]
    crs = CRS.from_epsg(epsg)
    assert_extent_contains(ax, boundary_bounds(_boundary(src), crs))
    polys = to_crs(np.array(list(src.index[f"{modality}_footprint"]), dtype=object), WGS84, crs)
    assert_extent_contains(ax, shapely.bounds(shapely.union_all(polys)))
    labels = legend_texts(fig)
    counts = src.index["split"].value_counts()
    for split, n in counts.items():
        assert f"{split}: {n:,} patches" in labels
    assert f"EPSG:{epsg}" in " ".join(t.get_text() for t in ax.texts)


def test_grid_unknown_modality_is_a_clear_error(src) -> None:
    with pytest.raises(VizInputError, match="no modality 'lidar'; modalities: dem, sar"):
        plot_grid(src, "lidar")


# -- patch --------------------------------------------------------------------------------
def test_patch_three_views_every_output(src) -> None:
    fig = plot_patch(src, 10, dpi=DPI)
    assert_not_blank(fig)
    titles = [a.get_title() for a in fig.axes]
    for name in ("dem", "sar", "optical", "thermal", "streams", "flowdir"):
        assert any(t.startswith(name) for t in titles), name
    maps_axes = [a for a in fig.axes if a.get_xlabel().startswith("east")]
    pixel_axes = [a for a in fig.axes if a.get_xlabel() == "column"]
    assert len(maps_axes) == 12 and len(pixel_axes) == 6
    opt = next(t for t in titles if t.startswith("optical"))
    assert "RGB = bands 3-2-1" in opt
    cbar_labels = [a.get_xlabel() for a in fig.axes]
    assert "dem elevation (m)" in cbar_labels
    assert "sar backscatter (dB)" in cbar_labels
    assert "flow direction" in cbar_labels and "class" in cbar_labels


def test_patch_common_extent_shows_10m_inside_30m(src) -> None:
    fig = plot_patch(src, 10, views=["common"], outputs=["dem", "optical"], dpi=DPI)
    a_dem, a_opt = fig.axes[0], fig.axes[1]
    assert a_dem.get_xlim() == a_opt.get_xlim()  # one common extent
    width = np.ptp(a_dem.get_xlim())
    assert 960 <= width <= 1100  # the 30 m footprint sets it


def test_patch_by_patch_id_and_from_config(tiny_config, src) -> None:
    pid = src.index["patch_id"].iloc[5]
    assert_not_blank(plot_patch(src, pid, views=["pixels"], dpi=DPI))
    fig = plot_patch(tiny_config, 5, dpi=DPI)  # before extraction: read from the inputs
    assert_not_blank(fig)
    assert not any(a.get_title().startswith("streams") for a in fig.axes)


def test_patch_bad_requests(src) -> None:
    with pytest.raises(VizInputError, match="out of range; it has 88 patches"):
        plot_patch(src, 1000)
    with pytest.raises(VizInputError, match="views must be some of"):
        plot_patch(src, 0, views=["sideways"])


def test_masked_dem_pixels_are_transparent(src) -> None:
    """The patch over the DEM's nodata hole draws those pixels fully transparent."""
    from geoharmony.viz import style
    from geoharmony.viz.source import read_patch

    k = int(np.argmin(src.index["dem_valid_fraction"].to_numpy()))
    arr = read_patch(src, k, ["dem"])
    mask = arr["dem_mask"]
    assert 0 < mask.mean() < 1
    r = style.render(arr["dem"], mask, "dem", res_m=(10, 10))
    assert (r.rgba[..., 3][~mask] == 0).all() and (r.rgba[..., 3][mask] == 1).all()
    assert_not_blank(plot_patch(src, k, dpi=DPI))


# -- histograms ---------------------------------------------------------------------------
def test_histograms_render(src) -> None:
    assert_not_blank(plot_valid_fractions(src, dpi=DPI))
    assert_not_blank(plot_offsets(src, dpi=DPI))
