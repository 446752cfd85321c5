"""A small multi-region scene whose rasters are tiled COGs served by nginx."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rasterio.shutil import copy

from infra.nginx import Nginx
from scenes import small_scene

RASTERS = ("dem", "opt")


@dataclass
class CogScene:
    """``www`` holds the COGs that ``server`` serves; ``toml`` the scene's config text."""

    root: Path
    www: Path
    server: Nginx
    toml: str

    def config(self, name: str, paths: dict[str, str], *, extra: str = "") -> Path:
        """Write ``name.toml`` with the given modality paths and output ``out_<name>``."""
        text = self.toml.replace('path = "out"', f'path = "out_{name}"')
        for mod, path in paths.items():
            text = text.replace(f'path = "{mod}.tif"', f'path = "{path}"')
        path = self.root / f"{name}.toml"
        path.write_text(text + extra, encoding="utf-8")
        return path

    def local(self, name: str = "local") -> Path:
        """Config reading the COGs from disk."""
        return self.config(name, {m: f"www/{m}.tif" for m in RASTERS})

    def remote(self, name: str = "remote", prefix: str = "") -> Path:
        """Config reading the COGs over HTTP (``dem`` as a URL, ``opt`` as /vsicurl/)."""
        url = self.server.url + ("/" + prefix.strip("/") if prefix else "")
        return self.config(name, {"dem": f"{url}/dem.tif", "opt": f"/vsicurl/{url}/opt.tif"})


def make_cog_scene(root: Path, serve: object, *, regions: int = 3, block: int = 128) -> CogScene:
    """Write :func:`scenes.small_scene`, convert its rasters to COGs and serve them."""
    toml = small_scene(root, regions=regions)
    www = root / "www"
    www.mkdir()
    for name in RASTERS:
        copy(
            root / f"{name}.tif",
            www / f"{name}.tif",
            driver="COG",
            BLOCKSIZE=block,
            COMPRESS="DEFLATE",
            OVERVIEWS="NONE",
        )
    server = serve(www)  # type: ignore[operator]
    return CogScene(root, www, server, toml.read_text(encoding="utf-8"))


def store_files(dataset: Path) -> dict[str, bytes]:
    """Every file of a dataset but manifest, plan (input paths, times) and index, by name."""
    return {
        str(p.relative_to(dataset)): p.read_bytes()
        for p in sorted(dataset.rglob("*"))
        if p.is_file() and p.name not in ("manifest.json", "index.parquet", "plan.json")
    }


def assert_same_dataset(a: Path, b: Path) -> None:
    """Byte-identical stores and equal indexes (``a`` and ``b`` are dataset folders)."""
    import geoharmony as gh

    fa, fb = store_files(a), store_files(b)
    assert fa.keys() == fb.keys()
    differ = [k for k in fa if fa[k] != fb[k]]
    assert not differ, f"files differ: {differ[:5]}"
    ia, ib = gh.open_dataset(a).index, gh.open_dataset(b).index
    assert ia.drop(columns="geometry").equals(ib.drop(columns="geometry"))
    assert len(ia) > 0
    ma = json.loads((a / "manifest.json").read_text())
    mb = json.loads((b / "manifest.json").read_text())
    assert ma["stats"] == mb["stats"]
    da, db = gh.open_dataset(a), gh.open_dataset(b)
    for k in (0, len(da) - 1):
        for name, arr in da[k].items():
            np.testing.assert_array_equal(arr, db[k][name])
