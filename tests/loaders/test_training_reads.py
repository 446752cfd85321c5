"""Training reads: normalisation modes, index columns, shard-aware sampling, Lightning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import geoharmony as gh
from geoharmony.reading.sampler import ShardSampler
from scenes import small_scene

torch = pytest.importorskip("torch", reason="PyTorch is an optional extra")
from geoharmony.torch import PatchDataset  # noqa: E402

SPLIT = """
    [split]
    by = "block"
    fractions = [0.6, 0.2, 0.2]
    block_m = 1200  # issue 9's leakage guard: 400 m blocks left val/test empty
    seed = 3
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    return gh.extract(gh.load_config(small_scene(root, labels=True, split=SPLIT, regions=2)))


def _valid_values(plain: gh.Dataset, positions: np.ndarray, name: str) -> np.ndarray:
    return np.concatenate(
        [plain[int(i)][name][:, plain[int(i)][f"{name}_mask"]] for i in positions], axis=1
    ).astype(np.float64)


def test_region_stats_and_percentiles_match_numpy(dataset: Path) -> None:
    plain = gh.open_dataset(dataset)
    regions = plain.index["region"].to_numpy()
    by_region = plain.manifest["stats_by_region"]["opt"]
    assert sorted(by_region) == ["h0", "h1"]
    assert plain.region_stats("h1")["opt"] == by_region["h1"]
    with pytest.raises(gh.errors.DatasetError, match="no statistics for region 'nope'"):
        plain.region_stats("nope")
    for rid, entry in by_region.items():
        v = _valid_values(plain, np.flatnonzero(regions == rid), "opt")
        np.testing.assert_allclose(entry["mean"], v.mean(axis=1), rtol=1e-12)
        np.testing.assert_allclose(entry["std"], v.std(axis=1), rtol=1e-9)
        # uint16 bands: the percentiles are exact (numpy's "lower" rank)
        for q, key in ((2, "p02"), (98, "p98")):
            assert entry[key] == np.percentile(v, q, axis=1, method="lower").tolist()
    dem = plain.manifest["stats"]["dem"]["all"]  # float32: within the documented bound
    v = _valid_values(plain, np.arange(len(plain)), "dem")[0]
    for q, key in ((2, "p02"), (98, "p98")):
        truth = np.percentile(v, q, method="lower")
        assert abs(dem[key][0] - truth) <= 0.005 * abs(truth) + 1e-9


@pytest.mark.parametrize("mode", ["region", "split", "global"])
def test_torch_normalize_modes(dataset: Path, mode: str) -> None:
    plain = gh.open_dataset(dataset)
    ds = PatchDataset(dataset, split="train", outputs=["opt", "flowdir"], normalize=mode)
    m = plain.manifest
    for i in (0, len(ds) - 1):
        item = ds[i]
        pos = int(item["index"])
        region = str(plain.index["region"].iloc[pos])
        entry = {
            "region": m["stats_by_region"]["opt"][region],
            "split": m["stats"]["opt"]["train"],
            "global": m["stats"]["opt"]["all"],
        }[mode]
        raw = plain[pos]["opt"].astype(np.float32)
        mean = np.asarray(entry["mean"], np.float32)[:, None, None]
        std = np.asarray(entry["std"], np.float32)[:, None, None]
        np.testing.assert_allclose(item["opt"].numpy(), (raw - mean) / std, rtol=1e-5)
        assert item["flowdir"].dtype == torch.int64  # labels are never normalised
    with pytest.raises(gh.ConfigError, match="not a mode"):
        PatchDataset(dataset, normalize="watershed")


def test_tf_normalize_by_region(dataset: Path) -> None:
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is an optional extra")
    from geoharmony.tf import to_tf_dataset

    plain = gh.open_dataset(dataset)
    for item in to_tf_dataset(dataset, outputs=["opt"], normalize="region").take(3):
        pos = int(item["index"].numpy())
        region = str(plain.index["region"].iloc[pos])
        e = plain.manifest["stats_by_region"]["opt"][region]
        raw = plain[pos]["opt"].astype(np.float32)
        exp = (raw - np.float32(e["mean"][2])) / np.float32(e["std"][2])
        assert item["opt"].dtype == tf.float32
        np.testing.assert_allclose(item["opt"].numpy()[2], exp[2], rtol=1e-5)


def test_dataset_reads_only_the_columns_it_needs(dataset: Path) -> None:
    ds = PatchDataset(dataset, split="val")
    assert "index" not in ds.ds.__dict__  # the GeoDataFrame (footprints) was never loaded
    plain = gh.open_dataset(dataset)
    assert ds.positions.tolist() == np.flatnonzero(plain.index["split"] == "val").tolist()


def test_shard_sampler_is_a_permutation_read_shard_by_shard() -> None:
    positions = np.arange(3, 203)  # a split's store positions
    s = ShardSampler(positions, 16, buffer=8, seed=1)
    order = list(s)
    assert sorted(order) == list(range(len(positions)))
    assert list(s) == order  # same epoch, same order
    s.set_epoch(1)
    assert list(s) != order and sorted(s) == sorted(order)
    # bounded shuffle: a sample leaves at most buffer + shard positions after its shard began
    shards = positions[np.asarray(order)] // 16
    changes = int(np.count_nonzero(np.diff(shards)))
    assert changes < len(order) / 2  # consecutive samples mostly share a shard
    plain = list(ShardSampler(positions, 16, shuffle=False))
    assert plain == list(range(len(positions)))


def test_dataloader_with_shard_sampler_and_persistent_workers(dataset: Path) -> None:
    ds = PatchDataset(dataset, outputs=["dem"])
    sampler = ds.shard_sampler(buffer=4)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=5, sampler=sampler, num_workers=2, persistent_workers=True
    )
    for epoch in range(2):
        sampler.set_epoch(epoch)
        seen = [i for b in loader for i in b["index"].tolist()]
        assert sorted(seen) == ds.positions.tolist()


def test_lightning_datamodule_splits(dataset: Path) -> None:
    pytest.importorskip("lightning", reason="Lightning is an optional extra")
    from geoharmony.lightning import PatchDataModule

    dm = PatchDataModule(dataset, batch_size=4, num_workers=0, outputs=["opt"], normalize="region")
    dm.setup("fit")
    plain = gh.open_dataset(dataset)
    splits = plain.index["split"].to_numpy()
    for split, loader in (("train", dm.train_dataloader()), ("val", dm.val_dataloader())):
        seen = [i for b in loader for i in b["index"].tolist()]
        assert sorted(seen) == np.flatnonzero(splits == split).tolist()
    dm.setup("test")
    seen = [i for b in dm.test_dataloader() for i in b["index"].tolist()]
    assert seen == np.flatnonzero(splits == "test").tolist()  # store order
    assert dm.pin_memory is torch.cuda.is_available()


@pytest.mark.parametrize("workers", [0, 2])
def test_batched_reads_equal_collated_samples(dataset: Path, workers: int) -> None:
    def batches(batched: bool) -> list[dict[str, torch.Tensor]]:
        ds = PatchDataset(dataset, normalize="region", batched=batched)
        loader = torch.utils.data.DataLoader(ds, batch_size=6, num_workers=workers)
        return list(loader)

    fast, slow = batches(True), batches(False)
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow, strict=True):
        assert set(a) == set(b)
        for k in a:
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("batched", [True, False])
def test_stored_dtypes_on_request(dataset: Path, batched: bool) -> None:
    plain = gh.open_dataset(dataset)
    ds = PatchDataset(
        dataset,
        outputs=["opt", "dem"],
        normalize={"dem": ([200.0], [5.0])},
        float32=False,
        batched=batched,
    )
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["opt"].dtype == torch.uint16  # neither normalised nor scaled: as stored
    assert batch["dem"].dtype == torch.float32  # normalised: float32
    for k, i in enumerate(batch["index"].tolist()):
        np.testing.assert_array_equal(batch["opt"][k].numpy(), plain[i]["opt"])
