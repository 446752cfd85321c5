"""D8 flow direction and the augmentations that must keep it consistent."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geoharmony import augment
from geoharmony.labels import d8_flow_direction

CODES = {
    (0, 1): 1,
    (1, 1): 2,
    (1, 0): 4,
    (1, -1): 8,
    (0, -1): 16,
    (-1, -1): 32,
    (-1, 0): 64,
    (-1, 1): 128,
}


@pytest.mark.parametrize(("drow", "dcol"), list(CODES))
def test_plane_flows_downhill(drow: int, dcol: int) -> None:
    rows, cols = np.mgrid[0:12, 0:12].astype(float)
    dem = -(rows * drow + cols * dcol)  # lowest in direction (drow, dcol)
    codes, ok = d8_flow_direction(dem, np.ones_like(dem, bool), (10.0, 10.0))
    assert codes.shape == (10, 10)
    assert ok.all()
    assert (codes == CODES[(drow, dcol)]).all()


def test_pits_and_nodata_are_undefined() -> None:
    dem = np.ones((7, 7))
    dem[3, 3] = 0.0  # a pit: no neighbour lower
    valid = np.ones_like(dem, bool)
    valid[1, 5] = False
    codes, ok = d8_flow_direction(dem, valid, (10.0, 10.0))
    assert codes[2, 2] == 0  # the pit (interior coords shift by the halo)
    assert not ok[0, 4] and codes[0, 4] == 0  # the nodata cell itself
    assert not ok[1, 3]  # a neighbour of nodata


def test_diagonal_uses_metric_distance() -> None:
    # Non-square pixels: a drop of 1 over 10 m east vs sqrt(10^2+100^2) diagonally.
    dem = np.zeros((3, 3))
    dem[1, 2] = -1.0  # east neighbour, 10 m away
    dem[2, 2] = -1.5  # south-east neighbour, ~100.5 m away when rows are 100 m
    codes, _ = d8_flow_direction(dem, np.ones_like(dem, bool), (10.0, 100.0))
    assert codes[0, 0] == 1


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1), k=st.integers(0, 3), flip=st.sampled_from(["none", "lr", "ud"])
)
def test_augment_commutes_with_d8(seed: int, k: int, flip: str) -> None:
    """D8(transform(dem)) == transform(D8(dem)) with codes remapped, on square pixels."""
    rng = np.random.default_rng(seed)
    dem = rng.normal(size=(18, 18)).cumsum(0).cumsum(1)
    valid = np.ones_like(dem, bool)

    def op(sample: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if flip == "lr":
            sample = augment.flip_lr(sample, d8=["flowdir"])
        elif flip == "ud":
            sample = augment.flip_ud(sample, d8=["flowdir"])
        return augment.rot90(sample, k, d8=["flowdir"])

    codes, _ = d8_flow_direction(dem, valid, (10.0, 10.0))
    moved = op({"dem": dem[None, 1:-1, 1:-1], "flowdir": codes[None]})
    dem_t = op({"dem": dem[None]})["dem"][0]
    expected, _ = d8_flow_direction(dem_t, valid, (10.0, 10.0))
    np.testing.assert_array_equal(moved["flowdir"][0], expected)
    np.testing.assert_array_equal(moved["dem"][0], dem_t[1:-1, 1:-1])


def test_augment_moves_masks_with_data() -> None:
    data = np.arange(2 * 4 * 4).reshape(2, 4, 4)
    mask = data[0] % 3 == 0
    out = augment.rot90({"x": data, "x_mask": mask}, 1)
    np.testing.assert_array_equal(out["x"], np.rot90(data, 1, axes=(-2, -1)))
    np.testing.assert_array_equal(out["x_mask"], np.rot90(mask, 1))
    assert augment.flip_lr(augment.flip_lr({"x": data}))["x"].tolist() == data.tolist()
