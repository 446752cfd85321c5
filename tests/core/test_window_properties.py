"""Property tests of the windows vocabulary (geometry/window.py), against brute force.

Every expectation is computed here from pixel sets or plain arithmetic, independently of
the vectorised functions under test.
"""

from __future__ import annotations

import numpy as np
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st

from geoharmony.geometry.grid import Grid
from geoharmony.geometry.window import (
    Window,
    Windows,
    block_cover,
    pixel_axes,
    subgrid,
    window_of,
)

SETTINGS = settings(max_examples=150, deadline=None)
offs = st.integers(-40, 80)
sizes = st.integers(0, 50)
windows = st.lists(st.tuples(offs, offs, sizes, sizes), min_size=1, max_size=12)


def _ws(items: list[tuple[int, int, int, int]]) -> Windows:
    c, r, w, h = zip(*items, strict=True)
    return Windows.of(np.array(c), np.array(r), np.array(w), np.array(h))


def _pixels(c: int, r: int, w: int, h: int) -> set[tuple[int, int]]:
    return {(x, y) for x in range(c, c + w) for y in range(r, r + h)}


@SETTINGS
@given(windows, windows)
def test_intersect_is_the_common_pixels(a: list, b: list) -> None:
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    got = _ws(a).intersect(_ws(b))
    for k in range(n):
        want = _pixels(*a[k]) & _pixels(*b[k])
        w = (int(got.col_off[k]), int(got.row_off[k]), int(got.width[k]), int(got.height[k]))
        assert _pixels(*w) == want
        assert bool(got.empty[k]) == (not want)
    assert _ws(b).intersect(_ws(a)) == got  # commutative


@SETTINGS
@given(windows, st.integers(1, 90), st.integers(1, 90))
def test_clipped_and_inside(items: list, width: int, height: int) -> None:
    ws = _ws(items)
    clipped = ws.clipped(width, height)
    raster = _pixels(0, 0, width, height)
    for k, it in enumerate(items):
        inner = _pixels(*it) & raster
        w = clipped[k : k + 1]
        got = _pixels(int(w.col_off[0]), int(w.row_off[0]), int(w.width[0]), int(w.height[0]))
        assert got == inner
        if it[2] and it[3]:  # a non-empty window is inside when all its pixels are
            assert bool(ws.inside(width, height)[k]) == (_pixels(*it) <= raster)


@SETTINGS
@given(windows, st.integers(0, 5), st.integers(-30, 30), st.integers(-30, 30))
def test_grow_shift_and_relative(items: list, p: int, dc: int, dr: int) -> None:
    ws = _ws(items)
    assert ws.grown(p).grown(-p) == ws
    moved = ws.shifted(dc, dr)
    assert np.array_equal(moved.col_off, ws.col_off + dc)
    assert np.array_equal(moved.row_off, ws.row_off + dr)
    rel = moved.relative_to(ws)
    assert (rel.col_off == dc).all() and (rel.row_off == dr).all()
    cc, rc = ws.centers()
    assert np.allclose(cc, ws.col_off + ws.width / 2) and np.allclose(
        rc, ws.row_off + ws.height / 2
    )


@SETTINGS
@given(
    st.floats(-1e6, 1e6),
    st.floats(-1e6, 1e6),
    st.floats(0.5, 100),
    st.floats(-0.3, 0.3),
    st.tuples(offs, offs, st.integers(1, 50), st.integers(1, 50)),
    st.integers(1, 20),
    st.integers(1, 20),
)
def test_subgrid_is_the_window_on_the_ground(
    x0: float, y0: float, res: float, shear: float, win: tuple, zw: int, zh: int
) -> None:
    g = Grid(
        Grid.from_origin("EPSG:32616", x0=0, y0=0, res=1, width=1, height=1).crs,
        Affine(res, shear * res, x0, shear * res, -res, y0),
        100,
        100,
    )
    w = Window(*win)
    s = subgrid(g, w)
    assert (s.width, s.height) == (w.width, w.height)
    # pixel (i, j) of the sub-grid is pixel (col_off + i, row_off + j) of the grid
    i = np.array([0.0, w.width, 0.5, w.width - 0.5])
    j = np.array([0.0, w.height, 0.25, 1.0])
    sx, sy = s.to_xy(i, j)
    gx, gy = g.to_xy(i + w.col_off, j + w.row_off)
    assert np.allclose(sx, gx, atol=1e-6 * (1 + abs(x0))) and np.allclose(
        sy, gy, atol=1e-6 * (1 + abs(y0))
    )
    assert window_of(g, s) == w
    z = subgrid(g, w, shape=(zh, zw))  # the same ground rectangle, other pixel count
    assert (z.width, z.height) == (zw, zh)
    assert np.allclose(z.bounds, s.bounds, atol=1e-6 * (1 + abs(x0) + abs(y0)))


@SETTINGS
@given(
    windows,
    st.integers(1, 120),
    st.integers(1, 120),
    st.sampled_from([1, 7, 16, 32]),
    st.sampled_from([1, 5, 16, 32]),
)
def test_block_cover_decodes_each_needed_block_once(
    items: list, width: int, height: int, bw: int, bh: int
) -> None:
    rects = block_cover(
        _ws(items), raster_width=width, raster_height=height, block_width=bw, block_height=bh
    )
    needed = set()
    for c, r, w, h in items:
        for x, y in _pixels(c, r, w, h) & _pixels(0, 0, width, height):
            needed.add((x // bw, y // bh))
    covered: list[tuple[int, int]] = []
    for rect in rects:
        assert rect.col_off % bw == 0 and rect.row_off % bh == 0  # aligned
        assert rect.col_off + rect.width <= width and rect.row_off + rect.height <= height
        assert (rect.col_off + rect.width) % bw == 0 or rect.col_off + rect.width == width
        assert (rect.row_off + rect.height) % bh == 0 or rect.row_off + rect.height == height
        for bx in range(rect.col_off // bw, -(-(rect.col_off + rect.width) // bw)):
            for by in range(rect.row_off // bh, -(-(rect.row_off + rect.height) // bh)):
                covered.append((bx, by))
    assert len(covered) == len(set(covered)), "a block is decoded twice"
    assert set(covered) == needed, "a needed block is missing or an unneeded one is read"


def test_pixel_axes_names_the_orientation() -> None:
    north_up = Grid.from_origin("EPSG:32616", x0=0, y0=0, res=10, width=5, height=5)
    assert pixel_axes(north_up) == ("east", "south")
    south_up = Grid(north_up.crs, Affine(10, 0, 0, 0, 10, 0), 5, 5)
    assert pixel_axes(south_up) == ("east", "north")
    rotated = Grid(north_up.crs, Affine(0, 10, 0, 10, 0, 0), 5, 5)
    assert pixel_axes(rotated) == ("north", "east")


def test_windows_build_and_index() -> None:
    ws = Windows.of(np.array([1, 2, 3]), 5, 10, np.array([4, 5, 6]))
    assert len(ws) == 3 and ws[1] == Window(2, 5, 10, 5)
    assert list(ws)[2] == Window(3, 5, 10, 6)
    assert ws[np.array([True, False, True])] == Windows.of([1, 3], 5, 10, [4, 6])
