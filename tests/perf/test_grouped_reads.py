"""Grouped, block-aware reads equal per-window boundless reads, edges included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from geoharmony.io.raster_info import read_info
from geoharmony.io.reader import RasterReader, plan_reads


def _raster(
    path: Path,
    *,
    width: int = 300,
    height: int = 260,
    count: int = 2,
    dtype: str = "float32",
    nodata: float | None = -9999.0,
    block: int | None = 64,
    interleave: str = "band",
    seed: int = 0,
) -> Path:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        data = rng.normal(100, 10, (count, height, width)).astype(dtype)
        data[0, 10:20, 30:50] = np.nan
    else:
        data = rng.integers(1, 1000, (count, height, width)).astype(dtype)
    if nodata is not None:
        data[:, 100:130, 200:260] = nodata
        data[-1, 5:9, 5:9] = nodata  # only one band: still invalid
    profile: dict = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": dtype,
        "crs": "EPSG:32616",
        "transform": Affine(10, 0, 500000, 0, -10, 4400000),
        "nodata": nodata,
        "compress": "deflate",
        "interleave": interleave,
    }
    if block:
        profile.update(tiled=True, blockxsize=block, blockysize=block)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def _reference(ds: rasterio.DatasetReader, info, c: int, r: int, w: int, h: int):
    win = Window(c, r, w, h)
    fill = info.fill_value
    data = ds.read(list(info.bands), window=win, boundless=True, fill_value=fill)
    valid = np.ones((h, w), dtype=bool)
    if data.dtype.kind == "f":
        valid &= ~np.isnan(data).any(axis=0)
    if info.nodata is not None and not np.isnan(info.nodata):
        valid &= ~(data == np.array(info.nodata).astype(data.dtype)).any(axis=0)
    inside = np.zeros((h, w), dtype=bool)
    c0, r0 = max(c, 0), max(r, 0)
    c1, r1 = min(c + w, ds.width), min(r + h, ds.height)
    if c1 > c0 and r1 > r0:
        inside[r0 - r : r1 - r, c0 - c : c1 - c] = True
    data = np.where(inside[None], data, np.array(fill).astype(data.dtype))
    return data, valid & inside


WINDOWS = [
    (0, 0),
    (40, 30),
    (-20, -15),
    (250, 220),
    (280, 10),
    (-100, 100),
    (150, 250),
    (-50, -50),
    (299, 259),
    (300, 0),
    (0, 260),
    (-37, 300),
    (64, 64),
    (63, 127),
]


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"dtype": "uint16", "nodata": 0, "count": 3, "interleave": "pixel"},
        {"dtype": "float64", "nodata": None, "count": 1},
        {"block": None},  # striped
        {"nodata": float("nan")},
        {"block": 16, "width": 97, "height": 45},
    ],
    ids=["f32-tiled", "u16-pixel", "f64-no-nodata", "striped", "nan-nodata", "small-odd"],
)
def test_read_into_equals_boundless_reads(tmp_path: Path, kw: dict) -> None:
    path = _raster(tmp_path / "r.tif", **kw)
    info = read_info(path, bands=None, nodata=None, where="[modalities.x].path")
    w, h = 50, 40
    co = np.array([c for c, _ in WINDOWS])
    ro = np.array([r for _, r in WINDOWS])
    with RasterReader(info) as rd, rasterio.open(path) as ds:
        data = np.empty((len(co), len(info.bands), h, w), dtype=info.dtype)
        valid = np.empty((len(co), h, w), dtype=bool)
        rd.read_into(co, ro, data, valid)
        for k, (c, r) in enumerate(WINDOWS):
            ref, ref_valid = _reference(ds, info, c, r, w, h)
            np.testing.assert_array_equal(data[k], ref, err_msg=f"window {k} at {c},{r}")
            np.testing.assert_array_equal(valid[k], ref_valid, err_msg=f"mask {k} at {c},{r}")


def test_read_group_any_sizes_and_read_block(tmp_path: Path) -> None:
    path = _raster(tmp_path / "r.tif")
    info = read_info(path, bands=(2,), nodata=None, where="x")
    rng = np.random.default_rng(1)
    co = rng.integers(-80, 320, 25)
    ro = rng.integers(-80, 280, 25)
    ws = rng.integers(1, 130, 25)
    hs = rng.integers(1, 130, 25)
    with RasterReader(info) as rd, rasterio.open(path) as ds:
        blocks = rd.read_group(co, ro, ws, hs)
        for b, c, r, w, h in zip(blocks, co, ro, ws, hs, strict=True):
            ref, ref_valid = _reference(ds, info, int(c), int(r), int(w), int(h))
            assert (b.col_off, b.row_off) == (c, r)
            np.testing.assert_array_equal(b.data, ref)
            np.testing.assert_array_equal(b.valid, ref_valid)
        one = rd.read_block(-5, -5, 20, 20)
        ref, ref_valid = _reference(ds, info, -5, -5, 20, 20)
        np.testing.assert_array_equal(one.data, ref)
        np.testing.assert_array_equal(one.valid, ref_valid)


def test_every_block_decoded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads are block-aligned, disjoint, and cover exactly the blocks windows touch."""
    path = _raster(tmp_path / "r.tif")
    info = read_info(path, bands=None, nodata=None, where="x")
    rng = np.random.default_rng(2)
    co, ro = rng.integers(-60, 310, 40), rng.integers(-60, 270, 40)
    with RasterReader(info) as rd:
        calls: list[Window] = []
        real = rd.ds.read

        def spy(*a, **k):
            calls.append(k["window"])
            return real(*a, **k)

        monkeypatch.setattr(rd.ds, "read", spy)
        data = np.empty((40, 2, 50, 50), dtype="float32")
        rd.read_into(co, ro, data, np.empty((40, 50, 50), dtype=bool))
    seen: set[tuple[int, int]] = set()
    for win in calls:
        assert win.col_off % 64 == 0 and win.row_off % 64 == 0
        for br in range(int(win.row_off) // 64, -(-int(win.row_off + win.height) // 64)):
            for bc in range(int(win.col_off) // 64, -(-int(win.col_off + win.width) // 64)):
                assert (br, bc) not in seen, "a block was decoded twice"
                seen.add((br, bc))
    want = set()
    for c, r in zip(co, ro, strict=True):
        c0, r0, c1, r1 = max(c, 0), max(r, 0), min(c + 50, 300), min(r + 50, 260)
        if c1 > c0 and r1 > r0:
            for br in range(r0 // 64, (r1 - 1) // 64 + 1):
                for bc in range(c0 // 64, (c1 - 1) // 64 + 1):
                    want.add((br, bc))
    assert seen == want


def test_plan_reads_rectangles() -> None:
    rects = plan_reads(
        np.array([0, 300, 0, -500]),
        np.array([0, 0, 600, -500]),
        np.array([10, 10, 10, 10]),
        np.array([10, 10, 10, 10]),
        raster_width=1000,
        raster_height=700,
        block_width=256,
        block_height=256,
    )
    # first two windows: blocks (0,0) and (0,1) -> one run; third: block (2,0), clipped
    assert [(r.col_off, r.row_off, r.width, r.height) for r in rects] == [
        (0, 0, 512, 256),
        (0, 512, 256, 188),
    ]
    assert (
        plan_reads(
            np.array([-50]),
            np.array([5]),
            np.array([10]),
            np.array([10]),
            raster_width=100,
            raster_height=100,
            block_width=16,
            block_height=16,
        )
        == []
    )
    # identical runs on consecutive block rows merge into one rectangle
    rects = plan_reads(
        np.array([10, 10]),
        np.array([10, 300]),
        np.array([400, 400]),
        np.array([250, 10]),
        raster_width=1000,
        raster_height=1000,
        block_width=256,
        block_height=256,
    )
    assert [(r.col_off, r.row_off, r.width, r.height) for r in rects] == [(0, 0, 512, 512)]
