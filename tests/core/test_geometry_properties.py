"""Property tests of the geometry core (issue 2, part 1).

Every expectation is computed here independently of geoharmony (own affine inversion,
own geodesics, own window geometry) and compared with what the library returns.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from affine import Affine
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pyproj import CRS, Geod, Transformer

from geoharmony.errors import ConfigError, FootprintError
from geoharmony.geometry.grid import Grid
from geoharmony.geometry.lattice import Lattice
from geoharmony.geometry.modes import WHOLE_TOL, window_sizes
from geoharmony.geometry.window import nearest_offsets, nearest_windows

LAEA = "+proj=laea +lat_0=45 +lon_0=-100 +x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs"
#: (crs, kind): "geo" = degrees, "m" = metres, "ft" = US survey feet.
CRSS = [
    ("EPSG:32613", "m"),  # UTM 13N
    ("EPSG:32633", "m"),  # UTM 33N
    ("EPSG:32755", "m"),  # UTM 55S
    ("EPSG:4326", "geo"),
    ("EPSG:4269", "geo"),  # NAD83 (GRS80 ellipsoid)
    ("EPSG:5070", "m"),  # CONUS Albers
    (LAEA, "m"),  # custom, no EPSG code
    ("EPSG:2227", "ft"),  # California zone 3, US feet
]
US_FT = 1200 / 3937
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _ellipsoid_geod(crs: CRS) -> Geod:
    ell = crs.ellipsoid
    return Geod(a=ell.semi_major_metre, b=ell.semi_minor_metre)


@st.composite
def grids(draw: st.DrawFn, *, rotated: bool = True) -> Grid:
    """Random grids: any CRS of the list, non-square, rotated/sheared, either y sign."""
    crs_s, kind = draw(st.sampled_from(CRSS))
    if kind == "geo":
        sx = draw(st.floats(1e-5, 0.02))
        sy = sx * draw(st.floats(0.3, 3.0))
        x0 = draw(st.floats(-170.0, 160.0))
        y0 = draw(st.floats(-60.0, 60.0))
    else:
        sx = draw(st.floats(0.05, 1000.0))
        sy = sx * draw(st.floats(0.3, 3.0))
        x0 = draw(st.floats(-2e6, 2e6)) + (5e5 if crs_s.startswith("EPSG:326") else 0.0)
        y0 = draw(st.floats(-2e6, 5e6)) + (5e6 if crs_s == "EPSG:32755" else 0.0)
    sx *= draw(st.sampled_from([1.0, -1.0])) if rotated else 1.0
    sy *= draw(st.sampled_from([-1.0, 1.0]))
    theta = draw(st.floats(-60.0, 60.0)) if rotated and draw(st.booleans()) else 0.0
    shx = draw(st.floats(-25.0, 25.0)) if rotated and draw(st.booleans()) else 0.0
    shy = draw(st.floats(-25.0, 25.0)) if rotated and draw(st.booleans()) else 0.0
    a = (
        Affine.translation(x0, y0)
        @ Affine.rotation(theta)
        @ Affine.shear(shx, shy)
        @ Affine.scale(sx, sy)
    )
    assume(abs(a.determinant) > 1e-6 * abs(sx * sy))
    w = draw(st.integers(1, 5000))
    h = draw(st.integers(1, 5000))
    return Grid(CRS.from_user_input(crs_s), a, w, h)


def _inverse(t: Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Own inversion of an affine transform (numpy solve, not Affine.__invert__)."""
    m = np.array([[t.a, t.b], [t.d, t.e]], dtype=float)
    rhs = np.stack([np.asarray(x, float) - t.c, np.asarray(y, float) - t.f])
    col, row = np.linalg.solve(m, rhs)
    return col, row


def _apply(t: Affine, col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return t.a * col + t.b * row + t.c, t.d * col + t.e * row + t.f


# -- nearest_offsets --------------------------------------------------------------------
@SETTINGS
@given(
    frac=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50),
    size=st.integers(1, 1024),
)
def test_nearest_offsets_residual_at_most_half_a_pixel(frac: list[float], size: int) -> None:
    f = np.array(frac)
    off, res = nearest_offsets(f, size)
    assert off.dtype.kind == "i"
    centre = off + size / 2.0
    # residual is what it says, and at most half a pixel, in (-0.5, 0.5]
    assert np.all(np.abs(res - (centre - f)) <= 1e-9 * (1 + np.abs(f)))
    assert np.all(res <= 0.5 + 1e-9) and np.all(res > -0.5 - 1e-9)
    # no other integer offset is strictly nearer
    for alt in (off - 1, off + 1):
        assert np.all(np.abs(alt + size / 2.0 - f) >= np.abs(res) - 1e-9)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, 224, 225])
def test_nearest_offsets_ties_round_half_up(size: int) -> None:
    # start = frac - size/2 exactly k + 0.5: round half up -> k + 1, residual +0.5
    k = np.arange(-5, 6)
    frac = k + 0.5 + size / 2.0
    off, res = nearest_offsets(frac, size)
    np.testing.assert_array_equal(off, k + 1)
    np.testing.assert_array_equal(res, np.full(len(k), 0.5))
    # exact centres: zero residual
    off, res = nearest_offsets(k + size / 2.0, size)
    np.testing.assert_array_equal(off, k)
    np.testing.assert_array_equal(res, 0.0)


# -- nearest_windows --------------------------------------------------------------------
@SETTINGS
@given(
    grid=grids(),
    width=st.integers(1, 300),
    height=st.integers(1, 300),
    cols=st.lists(st.floats(-2000.0, 6000.0), min_size=1, max_size=20),
    rows=st.lists(st.floats(-2000.0, 6000.0), min_size=1, max_size=20),
)
def test_nearest_windows_centre_within_half_pixel(
    grid: Grid, width: int, height: int, cols: list[float], rows: list[float]
) -> None:
    n = min(len(cols), len(rows))
    c_true, r_true = np.array(cols[:n]), np.array(rows[:n])
    x, y = _apply(grid.transform, c_true, r_true)
    if grid.is_geographic:
        assume(np.all(np.abs(y) < 89.0))
    ch = nearest_windows(grid, x, y, width, height)
    col, row = _inverse(grid.transform, x, y)
    wc = ch.col_off + width / 2.0
    wr = ch.row_off + height / 2.0
    tol = 1e-6
    assert ch.col_off.dtype.kind == "i" and ch.row_off.dtype.kind == "i"
    assert (ch.width, ch.height) == (width, height)
    assert np.all(np.abs(wc - col) <= 0.5 + tol), wc - col
    assert np.all(np.abs(wr - row) <= 0.5 + tol), wr - row
    # the recorded residuals are the window centre minus the point, in (-0.5, 0.5]
    np.testing.assert_allclose(ch.dcol, wc - col, atol=tol)
    np.testing.assert_allclose(ch.drow, wr - row, atol=tol)
    assert np.all(ch.dcol <= 0.5) and np.all(ch.dcol > -0.5)
    assert np.all(ch.drow <= 0.5) and np.all(ch.drow > -0.5)
    # offset_m: the ground distance between the window centre and the point
    wx, wy = _apply(grid.transform, wc, wr)
    if grid.is_geographic:
        _, _, dist = _ellipsoid_geod(grid.crs).inv(x, y, wx, wy)
        np.testing.assert_allclose(ch.offset_m, dist, rtol=1e-6, atol=1e-6)
    else:
        unit = US_FT if "2227" in grid.crs.to_string() else 1.0
        dist = np.hypot(wx - x, wy - y) * unit
        np.testing.assert_allclose(ch.offset_m, dist, rtol=1e-6, atol=1e-6)
        t = grid.transform
        bound = 0.5 * (math.hypot(t.a, t.d) + math.hypot(t.b, t.e)) * unit
        assert np.all(ch.offset_m <= bound * (1 + 1e-9) + 1e-9)


@SETTINGS
@given(
    grid=grids(),
    patch=st.integers(1, 64),
    stride=st.integers(1, 64),
    i=st.integers(-50, 50),
    j=st.integers(-50, 50),
)
def test_reference_window_of_a_lattice_point_is_its_own_window(
    grid: Grid, patch: int, stride: int, i: int, j: int
) -> None:
    lat = Lattice(grid, patch, stride)
    x, y = lat.xy(np.array([i]), np.array([j]))
    ex, ey = _apply(
        grid.transform, np.array([j * stride + patch / 2]), np.array([i * stride + patch / 2])
    )
    np.testing.assert_allclose([x[0], y[0]], [ex[0], ey[0]], rtol=1e-12, atol=1e-9)
    ch = nearest_windows(grid, x, y, patch, patch)
    assert (int(ch.col_off[0]), int(ch.row_off[0])) == (j * stride, i * stride)
    assert abs(ch.dcol[0]) < 1e-6 and abs(ch.drow[0]) < 1e-6


# -- Lattice.covering -------------------------------------------------------------------
@SETTINGS
@given(
    grid=grids(),
    patch=st.integers(1, 48),
    stride=st.integers(1, 48),
    c0=st.floats(-300.0, 300.0),
    r0=st.floats(-300.0, 300.0),
    dc=st.floats(0.0, 120.0),
    dr=st.floats(0.0, 120.0),
)
@example(
    grid=Grid(CRS.from_epsg(32613), Affine(10, 0, 500000, 0, -10, 4000000), 100, 100),
    patch=4,
    stride=6,
    c0=0.0,
    r0=0.0,
    dc=12.0,
    dr=4.0,
)
def test_lattice_covering_includes_every_intersecting_window(
    grid: Grid, patch: int, stride: int, c0: float, r0: float, dc: float, dr: float
) -> None:
    # bounds: the CRS bounding box of a pixel-space rectangle
    bc = np.array([c0, c0 + dc, c0 + dc, c0])
    br = np.array([r0, r0, r0 + dr, r0 + dr])
    bx, by = _apply(grid.transform, bc, br)
    bounds = (bx.min(), by.min(), bx.max(), by.max())
    ii, jj = Lattice(grid, patch, stride).covering(bounds)
    got = set(zip(ii.tolist(), jj.tolist(), strict=True))
    assert len(got) == len(ii)  # no duplicates

    # brute force over a generous range of lattice indices
    pc, pr = _inverse(
        grid.transform, np.array(bounds)[[0, 2, 2, 0]], np.array(bounds)[[1, 1, 3, 3]]
    )
    jr = np.arange(math.floor((pc.min() - patch) / stride) - 3, math.ceil(pc.max() / stride) + 4)
    ir = np.arange(math.floor((pr.min() - patch) / stride) - 3, math.ceil(pr.max() / stride) + 4)
    assume(len(jr) * len(ir) <= 60_000)
    ii_, jj_ = (a.ravel() for a in np.meshgrid(ir, jr, indexing="ij"))
    cc = np.stack(
        [jj_ * stride, jj_ * stride + patch, jj_ * stride + patch, jj_ * stride], axis=1
    ).astype(float)
    rr = np.stack(
        [ii_ * stride, ii_ * stride, ii_ * stride + patch, ii_ * stride + patch], axis=1
    ).astype(float)
    wx, wy = _apply(grid.transform, cc, rr)
    polys = shapely.polygons(np.stack([wx, wy], axis=-1))
    box = shapely.box(*bounds)
    hit = shapely.intersects(polys, box)
    want = set(zip(ii_[hit].tolist(), jj_[hit].tolist(), strict=True))
    missing = want - got
    assert not missing, f"covering misses {sorted(missing)[:5]}"
    # and it is not wildly over-inclusive (a frame of at most 2 extra lattice steps)
    nj = (pc.max() - pc.min() + patch) / stride + 4
    ni = (pr.max() - pr.min() + patch) / stride + 4
    assert len(got) <= (nj + 1) * (ni + 1)


# -- footprint mode ---------------------------------------------------------------------
def _utm(res: float, crs: str = "EPSG:32613") -> Grid:
    return Grid.from_origin(crs, x0=500000, y0=4400000, res=res, width=1000, height=1000)


def test_footprint_refuses_non_whole_and_names_modality_and_sizes() -> None:
    # issue 9: refused only at a strict tolerance; same-CRS data nest exactly at 222, 225
    grids_ = {"dem": _utm(10.0), "optical": _utm(30.0)}
    ground = {n: g.res for n, g in grids_.items()}  # one CRS: the scale cancels
    with pytest.raises(FootprintError) as ei:
        window_sizes("footprint", "dem", 224, grids_, ground=ground, tolerance=0.01)
    msg = str(ei.value)
    assert isinstance(ei.value, ConfigError)
    assert "'optical'" in msg
    assert "74.67" in msg
    assert "222" in msg and "225" in msg
    assert "patch_size" in msg and "footprint_tolerance_px = 0.01" in msg
    strict = {"ground": ground, "tolerance": 0.01}
    assert window_sizes("footprint", "dem", 225, grids_, **strict) == {  # type: ignore[arg-type]
        "dem": (225, 225),
        "optical": (75, 75),
    }
    assert window_sizes("footprint", "dem", 222, grids_, **strict) == {  # type: ignore[arg-type]
        "dem": (222, 222),
        "optical": (74, 74),
    }
    # by default: the nearest whole count, never refused
    assert window_sizes("footprint", "dem", 224, grids_, ground=ground)["optical"] == (75, 75)


def test_footprint_three_modalities_suggests_sizes_that_work_for_all() -> None:
    laea = Grid.from_origin(LAEA, x0=0, y0=0, res=20.0, width=100, height=100)
    grids_ = {"dem": _utm(10.0), "optical": _utm(30.0, "EPSG:5070"), "sar": laea}
    ground = {n: g.res for n, g in grids_.items()}  # nominal metres: the nesting arithmetic
    with pytest.raises(FootprintError, match=r"74\.67 x 74\.67 px for 'optical'.*222, 228"):
        window_sizes(
            "footprint",
            "dem",
            224,
            grids_,
            ground=ground,
            tolerance=0.01,
            where="cfg.toml: [grid].patch_size",
        )
    assert window_sizes("footprint", "dem", 228, grids_, ground=ground, tolerance=0.01) == {
        "dem": (228, 228),
        "optical": (76, 76),
        "sar": (114, 114),
    }
    for mode in ("native", "resample"):
        assert set(window_sizes(mode, "dem", 224, grids_).values()) == {(224, 224)}


RES = st.sampled_from([2.5, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 60.0, 90.0, 100.0, 7.0])


@SETTINGS
@given(ref=RES, others=st.lists(RES, min_size=1, max_size=3), patch=st.integers(1, 300))
def test_footprint_accepts_exactly_when_whole_everywhere(
    ref: float, others: list[float], patch: int
) -> None:
    grids_ = {"ref": _utm(ref)} | {f"m{k}": _utm(r) for k, r in enumerate(others)}
    ground = {n: g.res for n, g in grids_.items()}
    kw = {"ground": ground, "tolerance": 1e-9}
    exact = {n: patch * ref / g.res[0] for n, g in grids_.items()}
    whole = all(abs(v - round(v)) <= 1e-9 and round(v) >= 1 for v in exact.values())
    if whole:
        got = window_sizes("footprint", "ref", patch, grids_, **kw)  # type: ignore[arg-type]
        assert got == {n: (round(v), round(v)) for n, v in exact.items()}
        return
    with pytest.raises(FootprintError) as ei:
        window_sizes("footprint", "ref", patch, grids_, **kw)  # type: ignore[arg-type]
    msg = str(ei.value)
    bad = [n for n, v in exact.items() if abs(v - round(v)) > 1e-9 or round(v) < 1]
    assert any(f"'{n}'" in msg for n in bad)
    if "nest for every modality: " in msg:
        sizes = [int(s) for s in msg.split("nest for every modality: ")[1].split(", ")]
        for s in sizes:
            assert s != patch
            window_sizes("footprint", "ref", s, grids_, **kw)  # type: ignore[arg-type]
    else:
        assert "resample" in msg


def _geo_grid_with_resolution(lat: float, rx: float, ry: float, crs: str = "EPSG:4326") -> Grid:
    """A geographic grid centred on ``lat`` whose ground pixel is ``rx`` x ``ry`` metres there."""
    geod = _ellipsoid_geod(CRS.from_user_input(crs))
    w = h = 100
    d = 1e-4
    _, _, mx = geod.inv(10.0, lat, 10.0 + d, lat)
    _, _, my = geod.inv(10.0, lat, 10.0, lat - d)
    sx, sy = rx * d / mx, ry * d / my
    t = Affine(sx, 0, 10.0 - w / 2 * sx, 0, -sy, lat + h / 2 * sy)
    return Grid(CRS.from_user_input(crs), t, w, h)


def test_footprint_rounds_geographic_pixels_within_tolerance() -> None:
    geo = _geo_grid_with_resolution(46.8, 30.0, 20.0)
    rx, ry = geo.resolution_m
    assert abs(rx - 30.0) < 0.01 and abs(ry - 20.0) < 0.01  # never exactly whole metres
    dem = _utm(10.0)
    got = window_sizes("footprint", "dem", 6, {"dem": dem, "geo": geo}, tolerance=0.01)
    assert got == {"dem": (6, 6), "geo": (2, 3)}
    # 2 % off a whole count is refused at a strict tolerance, accepted by default (issue 9)
    off = _geo_grid_with_resolution(46.8, 30.0 * 1.02, 20.0)
    with pytest.raises(FootprintError, match="'geo'"):
        window_sizes("footprint", "dem", 60, {"dem": dem, "geo": off}, tolerance=0.01)
    got = window_sizes("footprint", "dem", 60, {"dem": dem, "geo": off})
    assert got["geo"] == (round(60 * dem.resolution_m[0] / off.resolution_m[0]), 30)
    assert WHOLE_TOL == 0.5


# -- Grid.resolution_m ------------------------------------------------------------------
ELLIPSOIDS = ["EPSG:4326", "EPSG:4269", "+proj=longlat +R=6371000 +no_defs"]


@SETTINGS
@given(
    crs_s=st.sampled_from(ELLIPSOIDS),
    lon=st.floats(-179.0, 179.0),
    lat=st.floats(-84.0, 84.0),
    sx=st.floats(1e-6, 1e-2),
    sy=st.floats(1e-6, 1e-2),
    south_up=st.booleans(),
    w=st.integers(1, 400),
    h=st.integers(1, 400),
)
def test_geographic_resolution_matches_geodesics(
    crs_s: str, lon: float, lat: float, sx: float, sy: float, south_up: bool, w: int, h: int
) -> None:
    crs = CRS.from_user_input(crs_s)
    ysign = 1.0 if south_up else -1.0
    t = Affine(sx, 0, lon - w / 2 * sx, 0, ysign * sy, lat - ysign * h / 2 * sy)
    g = Grid(crs, t, w, h)
    rx, ry = g.resolution_m
    # exact geodesics across one pixel at the grid centre, on the CRS's own ellipsoid
    geod = _ellipsoid_geod(crs)
    cx, cy = lon, lat
    _, _, gx = geod.inv(cx, cy, cx + sx, cy)
    _, _, gy = geod.inv(cx, cy, cx, cy + ysign * sy)
    assert rx == pytest.approx(gx, rel=1e-7)
    assert ry == pytest.approx(gy, rel=1e-7)
    # and the textbook radii of curvature (independent of any geodesic code)
    a = crs.ellipsoid.semi_major_metre
    b = crs.ellipsoid.semi_minor_metre
    e2 = 1 - (b / a) ** 2
    phi = math.radians(lat)
    n = a / math.sqrt(1 - e2 * math.sin(phi) ** 2)
    m = a * (1 - e2) / (1 - e2 * math.sin(phi) ** 2) ** 1.5
    assert rx == pytest.approx(n * math.cos(phi) * math.radians(sx), rel=2e-4)
    assert ry == pytest.approx(m * math.radians(sy), rel=2e-4)


def _geodesic_steps(g: Grid, x: float, y: float) -> tuple[float, float]:
    """Oracle: geodesic length of one pixel step along columns and rows at (x, y)."""
    geo = g.crs.geodetic_crs
    t = Transformer.from_crs(g.crs, geo, always_xy=True)
    col, row = ~g.transform @ (x, y)
    pts = [g.transform @ (col + dc, row + dr) for dc, dr in ((0, 0), (0.1, 0), (0, 0.1))]
    lon, lat = t.transform([p[0] for p in pts], [p[1] for p in pts])
    geod = _ellipsoid_geod(geo)
    _, _, dx = geod.inv(lon[0], lat[0], lon[1], lat[1])
    _, _, dy = geod.inv(lon[0], lat[0], lon[2], lat[2])
    return dx * 10, dy * 10


def test_projected_resolution_in_metres() -> None:
    # issue 9: true ground metres (scale factors applied), not map units
    utm = _utm(10.0)
    assert utm.resolution_m == pytest.approx(_geodesic_steps(utm, *utm.center_xy), rel=1e-5)
    assert utm.resolution_m[0] == pytest.approx(10.0 / 0.9996, rel=1e-5)  # near the CM
    ft = Grid.from_origin("EPSG:2227", x0=6e6, y0=2e6, res=(3.0, 4.0), width=10, height=10)
    assert ft.resolution_m == pytest.approx(_geodesic_steps(ft, *ft.center_xy), rel=1e-5)
    assert ft.resolution_m == pytest.approx((3 * US_FT, 4 * US_FT), rel=1e-3)
    x, y = Transformer.from_crs(4326, 5070, always_xy=True).transform(-75.0, 40.0)
    rot = Grid(
        CRS.from_epsg(5070),
        Affine.translation(x, y) @ Affine.rotation(30) @ Affine.scale(30, -20),
        5,
        5,
    )
    assert rot.resolution_m == pytest.approx(_geodesic_steps(rot, *rot.center_xy), rel=1e-5)


@SETTINGS
@given(
    epsg=st.sampled_from([5070, 32613, 3857, 3413, 3031, 2227, 3035]),
    u=st.floats(0.1, 0.9),
    v=st.floats(0.1, 0.9),
)
def test_ground_resolution_matches_geodesic_steps(epsg: int, u: float, v: float) -> None:
    crs = CRS.from_epsg(epsg)
    lon0, lat0, lon1, lat1 = crs.area_of_use.bounds
    lon, lat = lon0 + u * (lon1 - lon0), lat0 + v * (lat1 - lat0)
    x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    g = Grid.from_origin(crs, x0=x - 500, y0=y + 500, res=(30.0, 20.0), width=100, height=100)
    got = g.ground_resolution(x, y)
    assert got == pytest.approx(_geodesic_steps(g, x, y), rel=1e-5)
