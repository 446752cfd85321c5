"""Resample mode's own warp (geometry.sampling) against GDAL and PROJ.

* One CRS: the source positions are exact, so the kernels must give GDAL's values and
  GDAL's "whole kernel valid" mask (the ones-warp oracle of test_alignment_e2e) to 1e-9,
  with holes and edges, for axis-aligned, flipped and rotated grids.
* Across CRSs: every position within TOLERANCE_PX of PROJ's exact answer, and a pixel's
  position the same whichever window asks for it (the mesh is anchored to the grid).
* The separable path equals the general one; warp_window hands downsampling to GDAL.
"""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from rasterio.warp import Resampling, reproject

from geoharmony.geometry.grid import Grid, norm_crs
from geoharmony.geometry.sampling import (
    TOLERANCE_PX,
    sample,
    sample_axes,
    source_positions,
)
from geoharmony.geometry.window import Window, subgrid
from geoharmony.io.reader import Block
from geoharmony.io.warp import warp_block, warp_window

UTM = norm_crs("EPSG:32616")
ALBERS = norm_crs("EPSG:5070")
SRC_T = Affine(30.0, 0.0, 400_000.0, 0.0, -30.0, 4_000_000.0)
H, W = 60, 50


def _data(seed: int = 1, holes: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(2, H, W))
    valid = np.ones((H, W), dtype=bool)
    if holes:
        valid[20:24, 10:13] = False
        valid[40, 30] = False
        data[:, ~valid] = np.nan  # NaN under a hole must not reach a valid pixel
    return data, valid


def _gdal(
    data: np.ndarray, valid: np.ndarray, dst_t: Affine, shape: tuple[int, int], kernel: str
) -> tuple[np.ndarray, np.ndarray]:
    """GDAL's warp with NaN nodata, and the mask "the kernel's weight all on valid pixels"."""
    full = data.copy()
    full[:, ~valid] = np.nan
    want = np.full((2, *shape), np.nan)
    kw = {"src_crs": UTM, "dst_crs": UTM, "dst_transform": dst_t}
    reproject(
        full,
        want,
        src_transform=SRC_T,
        src_nodata=np.nan,
        dst_nodata=np.nan,
        resampling=Resampling[kernel],
        **kw,
    )
    ok = np.isfinite(want).all(axis=0)
    if kernel != "nearest":
        ones = np.pad(valid.astype(np.float64), 1)[None]
        kern = np.zeros((1, *shape))
        reproject(
            ones,
            kern,
            src_transform=SRC_T @ Affine.translation(-1, -1),
            resampling=Resampling[kernel],
            **kw,
        )
        ok &= np.abs(kern[0] - 1.0) <= 1e-6
    return want, ok


GRIDS = {
    "10 m, shifted": (Affine(10, 0, 400_003.7, 0, -10, 3_999_998.7), Window(-5, -7, 160, 190)),
    "30 m, quarter shift": (SRC_T @ Affine.translation(0.25, 0.5), Window(-3, -3, 56, 66)),
    "30 m, whole shift": (SRC_T @ Affine.translation(2, 3), Window(-3, -3, 56, 66)),
    "south-up 15 x 7 m": (Affine(15, 0, 400_003.7, 0, 7, 3_998_300.0), Window(-5, -7, 160, 190)),
    "rotated 17 deg": (
        Affine.translation(400_100, 3_999_900) @ Affine.rotation(17) @ Affine.scale(13, -11),
        Window(-10, -5, 120, 140),
    ),
}


@pytest.mark.parametrize("kernel", ["nearest", "bilinear", "cubic"])
@pytest.mark.parametrize("name", list(GRIDS))
@pytest.mark.parametrize("holes", [True, False])
def test_one_crs_equals_gdal(name: str, kernel: str, holes: bool) -> None:
    ref_t, win = GRIDS[name]
    data, valid = _data(holes=holes)
    src = Grid(UTM, SRC_T, W, H)
    pos = source_positions(src, Grid(UTM, ref_t, 2000, 2000), win)
    assert (pos.axes is None) == (name == "rotated 17 deg")
    got, ok = sample(data, valid, pos.cols, pos.rows, kernel)
    want, want_ok = _gdal(
        data,
        valid,
        ref_t @ Affine.translation(win.col_off, win.row_off),
        (win.height, win.width),
        kernel,
    )
    np.testing.assert_array_equal(ok, want_ok)
    assert ok.any() and not ok.all()
    close = np.isclose(got, want, rtol=0, atol=1e-9).all(axis=0)
    # Only a valid pixel whose kernel puts a weight (below 1e-6) on an invalid pixel may
    # differ: geoharmony keeps the weighted mean of the others, GDAL another fallback.
    may_differ = _weighs_a_hole(pos.cols, pos.rows, valid, kernel) & ok
    assert close[ok & ~may_differ].all()
    if kernel != "cubic":
        assert close[ok].all()
    assert np.isnan(got[:, ~ok]).all()
    if pos.axes is not None:  # the separable path: the same values and mask
        got2, ok2 = sample_axes(data, valid, pos.axes[0], pos.axes[1], kernel)
        np.testing.assert_array_equal(ok2, ok)
        np.testing.assert_allclose(got2[:, ok], got[:, ok], rtol=0, atol=1e-12)


def _weighs_a_hole(
    cols: np.ndarray, rows: np.ndarray, valid: np.ndarray, kernel: str
) -> np.ndarray:
    """Pixels whose kernel puts a non-zero weight on an invalid source pixel."""
    if kernel == "nearest":
        return np.zeros(cols.shape, dtype=bool)
    taps = range(0, 2) if kernel == "bilinear" else range(-1, 3)
    c0, r0 = np.floor(cols - 0.5).astype(int), np.floor(rows - 0.5).astype(int)
    fc, fr = cols - 0.5 - c0, rows - 0.5 - r0
    pad = 3
    hole = np.pad(~valid, pad)
    out = np.zeros(cols.shape, dtype=bool)
    for dr in taps:
        for dc in taps:
            # at a pixel centre (f = 0) every tap but the centre one weighs 0
            zero = ((fc == 0) & (dc != 0)) | ((fr == 0) & (dr != 0))
            r = np.clip(r0 + dr + pad, 0, hole.shape[0] - 1)
            c = np.clip(c0 + dc + pad, 0, hole.shape[1] - 1)
            out |= hole[r, c] & ~zero
    return out


def _albers_ref(step: float = 10.0) -> tuple[Grid, Grid]:
    src = Grid(UTM, SRC_T, 400, 400)
    x, y = Transformer.from_crs(UTM, ALBERS, always_xy=True).transform(406_000, 3_994_000)
    return src, Grid(ALBERS, Affine(step, 0, round(x), 0, -step, round(y)), 3000, 3000)


def _exact(src: Grid, ref: Grid, win: Window) -> tuple[np.ndarray, np.ndarray]:
    c, r = np.meshgrid(
        win.col_off + np.arange(win.width) + 0.5, win.row_off + np.arange(win.height) + 0.5
    )
    x, y = ref.transform.a * c + ref.transform.c, ref.transform.e * r + ref.transform.f
    sx, sy = Transformer.from_crs(ref.crs, src.crs, always_xy=True).transform(x, y)
    with np.errstate(invalid="ignore"):  # PROJ's inf where it has no answer
        return src.to_colrow(sx, sy)


windows = st.builds(
    Window,
    st.integers(-40, 1500),
    st.integers(-40, 1500),
    st.integers(1, 300),
    st.integers(1, 300),
)


@settings(max_examples=60, deadline=None)
@given(win=windows, step=st.sampled_from([3.0, 10.0, 30.0, 90.0]))
def test_positions_across_crs_are_within_tolerance_of_proj(win: Window, step: float) -> None:
    src, ref = _albers_ref(step)
    pos = source_positions(src, ref, win)
    cols, rows = _exact(src, ref, win)
    assert pos.cols.shape == (win.height, win.width) and pos.axes is None
    assert np.abs(pos.cols - cols).max() <= TOLERANCE_PX
    assert np.abs(pos.rows - rows).max() <= TOLERANCE_PX
    assert pos.span == pytest.approx(step / 30.0, rel=0.01)


@settings(max_examples=40, deadline=None)
@given(a=windows, dc=st.integers(-50, 50), dr=st.integers(-50, 50))
def test_a_pixel_has_one_position_whichever_window_asks(a: Window, dc: int, dr: int) -> None:
    src, ref = _albers_ref()
    b = Window(a.col_off + dc, a.row_off + dr, a.width + 7, a.height + 3)
    pa, pb = source_positions(src, ref, a), source_positions(src, ref, b)
    # the overlap of the two windows, in each one's pixels
    c0, r0 = max(a.col_off, b.col_off), max(a.row_off, b.row_off)
    c1 = min(a.col_off + a.width, b.col_off + b.width)
    r1 = min(a.row_off + a.height, b.row_off + b.height)
    if c1 <= c0 or r1 <= r0:
        return
    sa = np.s_[r0 - a.row_off : r1 - a.row_off, c0 - a.col_off : c1 - a.col_off]
    sb = np.s_[r0 - b.row_off : r1 - b.row_off, c0 - b.col_off : c1 - b.col_off]
    np.testing.assert_allclose(pa.cols[sa], pb.cols[sb], rtol=0, atol=1e-9)
    np.testing.assert_allclose(pa.rows[sa], pb.rows[sb], rtol=0, atol=1e-9)


def test_positions_outside_projs_domain_are_invalid_not_garbage() -> None:
    # a geographic source asked for a polar-stereographic window reaching past the pole
    src = Grid(norm_crs("EPSG:4326"), Affine(0.01, 0, -180, 0, -0.01, 90), 36000, 18000)
    ref = Grid(norm_crs("EPSG:3413"), Affine(100_000, 0, -4e7, 0, -100_000, 4e7), 800, 800)
    pos = source_positions(src, ref, Window(0, 0, 40, 40))
    data = np.ones((1, 10, 10))
    _, ok = sample(data, np.ones((10, 10), bool), pos.cols, pos.rows, "bilinear")
    assert not ok.any()


def test_points_proj_cannot_transform_are_nan_and_invalid_the_rest_exact() -> None:
    # an orthographic source sees one hemisphere: PROJ returns inf for longitudes past 90
    ortho = norm_crs("+proj=ortho +lat_0=0 +lon_0=0 +datum=WGS84 +units=m")
    src = Grid(ortho, Affine(20_000, 0, -6.4e6, 0, -20_000, 6.4e6), 640, 640)
    ref = Grid(norm_crs("EPSG:4326"), Affine(0.5, 0, 60, 0, -0.5, 10), 120, 40)
    win = Window(0, 0, 120, 40)  # longitudes 60..120: the limb at 90 crosses the window
    pos = source_positions(src, ref, win)
    lon = 60 + (np.arange(120) + 0.5) * 0.5
    beyond = np.broadcast_to(lon > 90, (40, 120))
    assert np.isnan(pos.cols[beyond]).all() and np.isnan(pos.rows[beyond]).all()
    cols, rows = _exact(src, ref, win)
    seen = ~beyond & np.isfinite(cols)
    assert seen.sum() > 1000  # the mesh failed: every seen pixel was transformed exactly
    np.testing.assert_allclose(pos.cols[seen], cols[seen], rtol=0, atol=1e-9)
    np.testing.assert_allclose(pos.rows[seen], rows[seen], rtol=0, atol=1e-9)
    block = Block(0, 0, np.ones((1, 640, 640)), np.ones((640, 640), dtype=bool))
    got, ok = warp_window(
        block, src, ref, win, resampling="bilinear", dtype=np.dtype("f8"), fill=-9
    )
    assert not ok[beyond].any() and (got[0][beyond] == -9).all()
    assert ok[:, lon < 80].all()
    np.testing.assert_allclose(got[0][ok], 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kernel", ["bilinear", "cubic", "nearest"])
def test_warp_window_upsampling_is_geoharmony_downsampling_is_gdal(kernel: str) -> None:
    src, ref10 = _albers_ref(10.0)
    data = np.stack([np.add.outer(np.arange(400.0) * 0.3, np.arange(400.0) * 7.0)])
    block = Block(0, 0, data, np.ones((400, 400), dtype=bool))
    win = Window(100, 120, 64, 48)
    got, ok = warp_window(block, src, ref10, win, resampling=kernel, dtype=np.dtype("f8"), fill=-1)
    cols, rows = _exact(src, ref10, win)
    value = (rows - 0.5) * 0.3 + (cols - 0.5) * 7.0  # the linear field at each position
    assert ok.all()
    if kernel == "nearest":
        want = np.floor(rows) * 0.3 + np.floor(cols) * 7.0
        np.testing.assert_allclose(got[0], want, atol=1e-9)
    else:  # linear data: every kernel gives the field's value at the exact position
        np.testing.assert_allclose(got[0], value, rtol=0, atol=7.0 * TOLERANCE_PX)
    # 90 m pixels onto 30 m: three source pixels per pixel, GDAL's widened kernel
    _, ref90 = _albers_ref(90.0)
    win = Window(33, 40, 30, 20)
    got, ok = warp_window(block, src, ref90, win, resampling=kernel, dtype=np.dtype("f8"), fill=-1)
    gdal, gdal_ok = warp_block(
        block, src, subgrid(ref90, win), resampling=kernel, dtype=np.dtype("f8"), fill=-1
    )
    np.testing.assert_array_equal(ok, gdal_ok)
    np.testing.assert_array_equal(got, gdal)


def test_integers_are_rounded_and_clipped_and_invalid_is_filled() -> None:
    src = Grid(UTM, SRC_T, W, H)
    data = np.full((1, H, W), 65_535, dtype=np.uint16)
    data[0, :, 25:] = 0
    valid = np.ones((H, W), dtype=bool)
    valid[:, :5] = False
    block = Block(0, 0, data, valid)
    ref = Grid(UTM, Affine(10, 0, 400_000.0, 0, -10, 4_000_000.0), 150, 180)
    got, ok = warp_window(
        block, src, ref, Window(0, 0, 150, 180), resampling="cubic", dtype=np.dtype("u2"), fill=7
    )
    assert got.dtype == np.uint16
    assert (got[0][~ok] == 7).all() and (~ok[:, :15]).all()
    # cubic overshoots 65,535 and undershoots 0 beside the step: clipped, not wrapped
    assert got[0][ok].max() == 65_535 and got[0][ok].min() == 0


def test_an_unknown_kernel_is_refused() -> None:
    with pytest.raises(ValueError, match="kernel must be one of"):
        sample(np.ones((1, 2, 2)), np.ones((2, 2), bool), np.ones((1, 1)), np.ones((1, 1)), "mode")


def test_a_large_window_is_warped_in_strips_with_the_same_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import geoharmony.io.warp as warp

    src, ref = _albers_ref(10.0)
    rng = np.random.default_rng(3)
    block = Block(0, 0, rng.normal(size=(2, 400, 400)), rng.random((400, 400)) > 0.01)
    win = Window(90, 110, 70, 53)
    whole = warp_window(block, src, ref, win, resampling="cubic", dtype=np.dtype("f8"), fill=-1)
    monkeypatch.setattr(warp, "STRIP_PIXELS", 70 * 5)  # strips of 5 rows, the last of 3
    assert len(warp._strips(win)) == 11
    strips = warp_window(block, src, ref, win, resampling="cubic", dtype=np.dtype("f8"), fill=-1)
    np.testing.assert_array_equal(strips[1], whole[1])
    np.testing.assert_array_equal(strips[0], whole[0])


@pytest.mark.parametrize("ref_px", [250.0, 1000.0])
def test_conformal_pairs_are_checked_at_cell_edges_too(ref_px: float) -> None:
    # Web Mercator onto UTM 33N at 70 N: both conformal, so the mesh's error cancels at
    # the cell centres and peaks at the edge midpoints (a centre-only check let 1e-2 px by)
    utm, merc = norm_crs("EPSG:32633"), norm_crs("EPSG:3857")
    x, y = Transformer.from_crs(4326, 32633, always_xy=True).transform(15.0, 70.0)
    ref = Grid(utm, Affine(ref_px, 0, x, 0, -ref_px, y), 400, 400)
    mx, my = Transformer.from_crs(4326, 3857, always_xy=True).transform(14.0, 70.5)
    src = Grid(merc, Affine(3 * ref_px, 0, mx, 0, -3 * ref_px, my), 4000, 4000)
    win = Window(10, 20, 120, 90)
    pos = source_positions(src, ref, win)
    c, r = np.meshgrid(
        win.col_off + np.arange(win.width) + 0.5, win.row_off + np.arange(win.height) + 0.5
    )
    ex, ey = ref.transform.a * c + ref.transform.c, ref.transform.e * r + ref.transform.f
    sx, sy = Transformer.from_crs(utm, merc, always_xy=True).transform(ex, ey)
    cols, rows = src.to_colrow(sx, sy)
    assert max(np.abs(pos.cols - cols).max(), np.abs(pos.rows - rows).max()) <= TOLERANCE_PX


def test_downsampling_anywhere_in_a_striped_window_sends_all_of_it_to_gdal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import geoharmony.io.warp as warp

    # Web Mercator stretches rows with latitude: a geographic window from the equator to
    # 60 S spans 0.9 Mercator pixels per pixel at its top and 1.8 at its bottom
    merc, geo = norm_crs("EPSG:3857"), norm_crs("EPSG:4326")
    step = 0.05
    px = 6_378_137.0 * np.radians(step) / 0.9
    src = Grid(merc, Affine(px, 0, 0, 0, -px, 200_000), 900, 2400)
    ref = Grid(geo, Affine(step, 0, 0.5, 0, -step, 0), 100, 1200)
    rng = np.random.default_rng(5)
    block = Block(0, 0, rng.normal(size=(1, 2400, 900)), np.ones((2400, 900), dtype=bool))
    win = Window(0, 0, 100, 1200)
    monkeypatch.setattr(warp, "STRIP_PIXELS", 100 * 50)
    assert source_positions(src, ref, warp._strips(win)[0]).span <= warp.MAX_SPAN
    assert source_positions(src, ref, warp._strips(win)[-1]).span > 1.5
    got = warp_window(block, src, ref, win, resampling="bilinear", dtype=np.dtype("f8"), fill=-1)
    gdal = warp_block(
        block, src, subgrid(ref, win), resampling="bilinear", dtype=np.dtype("f8"), fill=-1
    )
    np.testing.assert_array_equal(got[1], gdal[1])
    np.testing.assert_array_equal(got[0], gdal[0])


def test_each_strip_samples_only_the_rows_its_kernels_reach() -> None:
    import geoharmony.io.warp as warp

    src, ref = _albers_ref(10.0)
    block = Block(5, 7, np.zeros((2, 400, 400)), np.ones((400, 400), dtype=bool))
    pos = source_positions(src, ref, Window(90, 110, 70, 5))
    part = warp._crop(block, pos)
    assert part.data.shape[1] < 20 and part.data.shape[2] < 40
    assert np.shares_memory(part.data, block.data)
    c, r = pos.cols - part.col_off, pos.rows - part.row_off
    h, w = part.valid.shape
    assert c.min() >= 2 and r.min() >= 2 and c.max() <= w - 2 and r.max() <= h - 2


@pytest.mark.parametrize("dtype", ["i8", "u8", "i4", "u1"])
def test_integer_outputs_saturate_at_their_limits_without_wrapping(dtype: str) -> None:
    import geoharmony.io.warp as warp

    info = np.iinfo(dtype)
    out = np.array([[[-1e30, 1e30, float(info.max) * 2, -5.4, 3.6]]])
    got = warp._cast(out, np.ones((1, 5), dtype=bool), np.dtype(dtype), 0)
    assert got[0, 0, 0] <= info.min + 2**11 and got[0, 0, 0] >= info.min
    assert got[0, 0, 1] >= info.max - 2**11 and got[0, 0, 2] == got[0, 0, 1]
    assert got[0, 0, 3] == max(-5, info.min) and got[0, 0, 4] == 4
