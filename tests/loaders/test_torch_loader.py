"""PyTorch Dataset/DataLoader over a written dataset, with 0, 1 and 2 workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import geoharmony as gh
from geoharmony import augment
from scenes import small_scene

torch = pytest.importorskip("torch", reason="PyTorch is an optional extra")
from geoharmony.torch import PatchDataset  # noqa: E402

SPLIT = """
    [split]
    by = "block"
    fractions = [0.6, 0.2, 0.2]
    block_m = 400
    seed = 3
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("torch")
    return gh.extract(gh.load_config(small_scene(root, labels=True, split=SPLIT)))


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_dataloader_yields_every_patch_once(dataset: Path, workers: int) -> None:
    ds = PatchDataset(dataset)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=workers, shuffle=False)
    seen = []
    plain = gh.open_dataset(dataset)
    for batch in loader:
        assert batch["dem"].dtype == torch.float32 and batch["dem"].shape[1:] == (1, 16, 16)
        assert batch["opt"].shape[1:] == (3, 16, 16)
        assert batch["dem_mask"].dtype == torch.bool
        assert batch["flowdir"].dtype == torch.int64
        for k, i in enumerate(batch["index"].tolist()):
            np.testing.assert_array_equal(
                batch["opt"][k].numpy(), plain[i]["opt"].astype(np.float32)
            )
            np.testing.assert_array_equal(batch["dem_mask"][k].numpy(), plain[i]["dem_mask"])
        seen.extend(batch["index"].tolist())
    assert sorted(seen) == list(range(len(plain)))


def test_split_selection_and_normalisation(dataset: Path) -> None:
    plain = gh.open_dataset(dataset)
    splits = plain.index["split"].to_numpy()
    present = sorted(set(splits))
    assert len(present) >= 2, present
    stats = plain.stats("train")
    mean, std = stats["opt"]["mean"], stats["opt"]["std"]
    tr = PatchDataset(dataset, split="train", outputs=["opt"], normalize={"opt": (mean, std)})
    assert len(tr) == int((splits == "train").sum())
    item = tr[0]
    raw = plain[int(item["index"])]["opt"].astype(np.float32)
    expected = (raw - np.float32(mean[0])) / np.float32(std[0])
    np.testing.assert_allclose(item["opt"][0].numpy(), expected[0], rtol=1e-5)
    with pytest.raises(gh.ConfigError, match="split 'nope' has no patches"):
        PatchDataset(dataset, split="nope")


def test_stats_match_a_direct_computation(dataset: Path) -> None:
    plain = gh.open_dataset(dataset)
    train = np.flatnonzero(plain.index["split"].to_numpy() == "train")
    vals = np.concatenate(
        [plain[i]["opt"][:, plain[i]["opt_mask"]].astype(np.float64) for i in train], axis=1
    )
    st = plain.stats("train")["opt"]
    np.testing.assert_allclose(st["mean"], vals.mean(axis=1), rtol=1e-9)
    np.testing.assert_allclose(st["std"], vals.std(axis=1), rtol=1e-9)
    assert st["count"][0] == vals.shape[1]
    assert st["min"] == vals.min(axis=1).tolist()


def test_transform_applies_augment_with_d8(dataset: Path) -> None:
    plain = gh.open_dataset(dataset)
    ds = PatchDataset(dataset, transform=lambda s: augment.rot90(s, 1, d8=plain.d8_encodings))
    item = ds[0]
    raw = plain[0]
    np.testing.assert_array_equal(item["dem_mask"].numpy(), np.rot90(raw["dem_mask"]))
    codes = set(np.unique(item["flowdir"].numpy()).tolist())
    assert codes <= {0, 1, 2, 4, 8, 16, 32, 64, 128}
