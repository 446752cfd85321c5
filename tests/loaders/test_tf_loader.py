"""TensorFlow tf.data over a written dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import geoharmony as gh
from scenes import small_scene

tf = pytest.importorskip("tensorflow", reason="TensorFlow is an optional extra")
from geoharmony.tf import to_tf_dataset  # noqa: E402


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tf")
    return gh.extract(gh.load_config(small_scene(root, labels=True)))


def test_tf_dataset_matches_store(dataset: Path) -> None:
    plain = gh.open_dataset(dataset)
    seen = []
    for batch in to_tf_dataset(dataset).batch(3):
        assert batch["opt"].dtype == tf.uint16
        assert tuple(batch["opt"].shape[1:]) == (3, 16, 16)
        assert batch["flowdir"].dtype == tf.uint8
        for k, i in enumerate(batch["index"].numpy().tolist()):
            np.testing.assert_array_equal(batch["dem"][k].numpy(), plain[i]["dem"])
            np.testing.assert_array_equal(batch["dem_mask"][k].numpy(), plain[i]["dem_mask"])
        seen += batch["index"].numpy().tolist()
    assert seen == list(range(len(plain)))


def test_tf_channels_last_and_normalize(dataset: Path) -> None:
    plain = gh.open_dataset(dataset)
    st = plain.stats("all")["opt"]
    tfds = to_tf_dataset(
        dataset, outputs=["opt"], normalize={"opt": (st["mean"], st["std"])}, channels_last=True
    )
    first = next(iter(tfds))
    assert set(first) == {"index", "opt", "opt_mask"}
    assert tuple(first["opt"].shape) == (16, 16, 3) and first["opt"].dtype == tf.float32
    raw = np.transpose(plain[0]["opt"].astype(np.float32), (1, 2, 0))
    exp = (raw - np.float32(st["mean"][1])) / np.float32(st["std"][1])
    np.testing.assert_allclose(first["opt"].numpy()[..., 1], exp[..., 1], rtol=1e-5)
    with pytest.raises(gh.ConfigError, match="unknown outputs"):
        to_tf_dataset(dataset, outputs=["nope"])


def test_tf_transform_augments_d8_from_the_manifest(dataset: Path) -> None:
    """``transform=`` runs on the numpy sample; D8 outputs are remapped by the manifest."""
    from geoharmony import augment

    plain = gh.open_dataset(dataset)
    t = lambda s: augment.flip_lr(s, d8=plain.d8_encodings)  # noqa: E731
    for sample in to_tf_dataset(dataset, transform=t).take(3):
        i = int(sample["index"].numpy())
        want = augment.flip_lr(plain[i], d8={"flowdir": "esri"})
        np.testing.assert_array_equal(sample["flowdir"].numpy(), want["flowdir"])
        np.testing.assert_array_equal(sample["dem"].numpy(), plain[i]["dem"][..., ::-1])
        assert not np.array_equal(sample["flowdir"].numpy(), plain[i]["flowdir"][..., ::-1])
