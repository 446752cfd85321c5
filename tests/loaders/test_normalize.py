"""Loader normalisation (issue 9, item 10): masked pixels stay at a chosen fill value;
unknown keys and wrong-length mean/std are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import geoharmony as gh
from geoharmony.reading.normalize import apply_normalize, check_normalize
from scenes import small_scene

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def dem_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("norm")
    cfg = small_scene(root)
    return gh.extract(gh.load_config(cfg), progress=False)


def test_masked_pixels_stay_at_the_fill_value(dem_dataset: Path) -> None:
    from geoharmony.reading.torch import PatchDataset

    ds = gh.open_dataset(dem_dataset)
    masks = ds.store.read("dem_mask", slice(None))
    k = int(np.flatnonzero(~masks.reshape(len(ds), -1).all(axis=1))[0])  # a patch with a hole
    raw = ds[k]["dem"].astype(np.float32)
    assert (raw[:, ~masks[k]] == -9999).all()  # the DEM's nodata
    for fill in (0.0, -5.0):
        tr = PatchDataset(
            dem_dataset, outputs=["dem"], normalize={"dem": ([200.0], [5.0])}, fill=fill
        )
        got = tr[k]["dem"].numpy()
        assert np.all(got[:, ~masks[k]] == fill)  # never (-9999 - 200) / 5 = -2039.8
        np.testing.assert_allclose(got[:, masks[k]], (raw[:, masks[k]] - 200.0) / 5.0, rtol=1e-6)


def test_unknown_keys_and_wrong_lengths_refused(dem_dataset: Path) -> None:
    from geoharmony.reading.torch import PatchDataset

    meta = gh.open_dataset(dem_dataset).manifest["outputs"]
    with pytest.raises(
        gh.ConfigError, match=r"normalize key 'dme' is not an output; did you mean 'dem'"
    ):
        PatchDataset(dem_dataset, normalize={"dme": ([0.0], [1.0])})
    with pytest.raises(gh.ConfigError, match=r"needs 3 mean and 3 std values .* found 1 and 1"):
        PatchDataset(dem_dataset, normalize={"opt": ([0.0], [1.0])})
    with pytest.raises(gh.ConfigError, match="std must be positive"):
        check_normalize({"dem": ([0.0], [0.0])}, meta, "x")
    ok = check_normalize({"opt": ([1, 2, 3], [1, 1, 1])}, meta, "x")
    a = np.ones((3, 2, 2), np.float32)
    out = apply_normalize(a, np.array([[True, False], [True, True]]), ok["opt"], 7.0)
    assert out[0, 0, 1] == 7.0 and out[2, 0, 0] == -2.0


@pytest.mark.parametrize("normalize", [{"dem": ([200.0], [5.0])}, "global", "region"])
def test_batched_reads_fill_masked_pixels_too(dem_dataset: Path, normalize: object) -> None:
    """The batched path (``__getitems__``, issue 12) applies the same fill as per sample."""
    from geoharmony.reading.torch import PatchDataset

    masks = gh.open_dataset(dem_dataset).store.read("dem_mask", slice(None))
    holes = np.flatnonzero(~masks.reshape(len(masks), -1).all(axis=1))
    assert len(holes)
    tr = PatchDataset(dem_dataset, outputs=["dem"], normalize=normalize, fill=-5.0)  # type: ignore[arg-type]
    (batch,) = tr.__getitems__([int(k) for k in holes])
    got = batch.data["dem"].numpy()
    for j, k in enumerate(holes):
        assert np.all(got[j][:, ~masks[k]] == -5.0)
        np.testing.assert_allclose(got[j], tr[int(k)]["dem"].numpy(), rtol=1e-6)


def test_tf_fills_masked_pixels(dem_dataset: Path) -> None:
    pytest.importorskip("tensorflow")
    from geoharmony.reading.tf import to_tf_dataset

    masks = gh.open_dataset(dem_dataset).store.read("dem_mask", slice(None))
    k = int(np.flatnonzero(~masks.reshape(len(masks), -1).all(axis=1))[0])
    tds = to_tf_dataset(dem_dataset, outputs=["dem"], normalize="global", fill=3.0)
    got = next(iter(tds.skip(k).take(1)))["dem"].numpy()
    assert np.all(got[:, ~masks[k]] == 3.0)
    with pytest.raises(gh.ConfigError, match="normalize key 'dme' is not an output"):
        to_tf_dataset(dem_dataset, normalize={"dme": ([0.0], [1.0])})
