"""The one-call warp of a fully valid block equals the data + validity warp it replaces."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from pyproj import Transformer

from geoharmony.geometry.grid import Grid, norm_crs
from geoharmony.geometry.window import window_transform
from geoharmony.io.reader import Block
from geoharmony.io.warp import _warp_with_support, _wkt, warp_block


def _scene(bands: int) -> tuple[Block, Grid, Grid]:
    """A UTM block whose values encode their own coordinates, and an Albers patch grid."""
    src = Grid(
        norm_crs("EPSG:32616"), Affine(30.0, 0.0, 300_000.0, 0.0, -30.0, 4_470_000.0), 400, 400
    )
    rows, cols = np.mgrid[0:120, 0:120].astype(np.float64)
    data = np.stack([cols * 7.0 + rows * 0.3 + b for b in range(bands)])
    block = Block(100, 90, data, np.ones((120, 120), dtype=bool))
    x, y = src.transform @ (100 + 60, 90 + 60)  # the block's centre, in Albers
    ax, ay = Transformer.from_crs(32616, 5070, always_xy=True).transform(x, y)
    dst = Grid(norm_crs("EPSG:5070"), Affine(10.0, 0.0, ax - 400.0, 0.0, -10.0, ay + 400.0), 80, 80)
    return block, src, dst


@pytest.mark.parametrize("resampling", ["nearest", "bilinear", "cubic"])
@pytest.mark.parametrize("bands", [1, 3])
def test_fully_valid_block_one_call_equals_two(resampling: str, bands: int) -> None:
    block, src, dst = _scene(bands)
    data, valid = warp_block(
        block, src, dst, resampling=resampling, dtype=np.dtype("float64"), fill=-1.0
    )
    ref = np.full((bands, dst.height, dst.width), np.nan)
    want_valid = _warp_with_support(
        block,
        block.data.astype(np.float64),
        ref,
        window_transform(src.transform, block.col_off, block.row_off),
        _wkt(src.crs),
        dst,
        resampling,
    )
    assert valid.all()  # the patch lies well inside the block
    np.testing.assert_array_equal(valid, want_valid)
    np.testing.assert_allclose(data[:, valid], ref[:, valid], rtol=1e-12, atol=1e-9)


def test_a_block_with_a_hole_takes_the_validity_warp() -> None:
    block, src, dst = _scene(1)
    block.valid[50:70, 50:70] = False
    _, valid = warp_block(block, src, dst, resampling="bilinear", dtype=np.dtype("f8"), fill=0)
    assert 0 < valid.mean() < 1  # the hole (and its kernel's reach) is invalid
