"""STAC inputs (pystac): items per region or one item, files or URLs, hrefs in the manifest."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pystac
import pytest
import shapely

import geoharmony as gh
from geoharmony.errors import ConfigError, InputError
from geoharmony.io.manifest import raster_record
from geoharmony.planning.plan import compute_plan
from infra.nginx import Nginx
from remote.remote_scene import assert_same_dataset, make_cog_scene, store_files
from scenes import LAT0, LON0


@pytest.fixture
def scene(tmp_path: Path, http_server: Callable[..., Nginx]):
    return make_cog_scene(tmp_path, http_server, regions=3)


def _item(item_id: str, bbox: tuple[float, float, float, float], assets: dict[str, str]):
    item = pystac.Item(
        id=item_id,
        geometry=shapely.geometry.mapping(shapely.box(*bbox)),
        bbox=list(bbox),
        datetime=datetime(2024, 6, 1, tzinfo=UTC),
        properties={},
    )
    for key, href in assets.items():
        item.add_asset(key, pystac.Asset(href=href, media_type=pystac.MediaType.COG))
    return item


def _region_boxes(n: int = 3) -> list[tuple[float, float, float, float]]:
    """Lon/lat boxes a little inside each region of ``small_scene`` (side by side)."""
    w = 0.024 / n
    return [
        (
            LON0 - 0.012 + k * w + 1e-4,
            LAT0 - 0.0099,
            LON0 - 0.012 + (k + 1) * w - 1e-4,
            LAT0 + 0.0099,
        )
        for k in range(n)
    ]


def _stac_extra(name: str, source: str, asset: str) -> str:
    return f'\n[modalities.{name}]\nstac = "{source}"\nasset = "{asset}"\n'


def _without(toml: str, name: str) -> str:
    return toml.replace(f'[modalities.{name}]\npath = "{name}.tif"\n', "")


def test_item_collection_over_http_equals_local_files(scene) -> None:
    # one item per region, picked by bbox; relative hrefs resolve against the URL
    items = [
        _item(f"tile-{k}", box, {"elevation": "dem.tif", "B04": "opt.tif"})
        for k, box in enumerate(_region_boxes())
    ]
    (scene.www / "items.json").write_text(json.dumps(pystac.ItemCollection(items).to_dict()))
    local = gh.extract(gh.load_config(scene.local()), workers=1)
    text = _without(_without(scene.toml, "dem"), "opt").replace('path = "out"', 'path = "out_s"')
    url = f"{scene.server.url}/items.json"
    cfg_path = scene.root / "stac.toml"
    cfg_path.write_text(
        text + _stac_extra("dem", url, "elevation") + _stac_extra("opt", url, "B04")
    )
    cfg = gh.load_config(cfg_path)
    assert cfg.modalities["dem"].stac == url and cfg.modalities["dem"].asset == "elevation"
    out = gh.extract(cfg, workers=1)
    assert_same_dataset(local, out)
    man = json.loads((out / "manifest.json").read_text())
    dem = {rid: raster_record(man, "dem", rid) for rid in ("h0", "h1", "h2")}
    assert len(man["inputs"]["modalities"]["dem"]) == 3  # one record per item
    assert {rid: rec["stac"]["item"] for rid, rec in dem.items()} == {
        "h0": "tile-0",
        "h1": "tile-1",
        "h2": "tile-2",
    }
    assert dem["h1"]["stac"]["href"] == f"{scene.server.url}/dem.tif"
    assert dem["h1"]["stac"]["asset"] == "elevation"
    assert dem["h1"]["path"] == f"{scene.server.url}/dem.tif"


def test_single_local_item_and_items_named_by_region(scene) -> None:
    whole = (LON0 - 0.02, LAT0 - 0.02, LON0 + 0.02, LAT0 + 0.02)
    item = _item("scene-1", whole, {"B04": str(scene.www / "opt.tif")})
    (scene.root / "item.json").write_text(json.dumps(item.to_dict()))
    # items whose ids are the region ids win over bboxes (all bboxes cover everything)
    by_id = [_item(f"h{k}", whole, {"dem": "www/dem.tif"}) for k in range(3)]
    (scene.root / "by_id.json").write_text(json.dumps(pystac.ItemCollection(by_id).to_dict()))
    text = _without(_without(scene.toml, "dem"), "opt")
    cfg_path = scene.root / "one.toml"
    cfg_path.write_text(
        text + _stac_extra("dem", "by_id.json", "dem") + _stac_extra("opt", "item.json", "B04")
    )
    plan = compute_plan(gh.load_config(cfg_path))
    assert {rid: s["opt"].stac.item_id for rid, s in plan.sources.items()} == dict.fromkeys(
        ("h0", "h1", "h2"), "scene-1"
    )
    assert {rid: s["dem"].stac.item_id for rid, s in plan.sources.items()} == {
        "h0": "h0",
        "h1": "h1",
        "h2": "h2",
    }
    assert plan.sources["h0"]["dem"].path == (scene.root / "www" / "dem.tif").resolve()


def test_stac_errors_are_clear(scene) -> None:
    item = _item("only", _region_boxes()[0], {"B03": "opt.tif"})
    (scene.root / "item.json").write_text(json.dumps(item.to_dict()))
    text = _without(scene.toml, "opt")
    bad = scene.root / "bad.toml"
    bad.write_text(text + _stac_extra("opt", "item.json", "B04"))
    with pytest.raises(InputError, match=r"item 'only' has no asset 'B04'.*its assets: B03"):
        compute_plan(gh.load_config(bad))
    bad.write_text(
        text + '\n[modalities.opt]\nstac = "item.json"\npath = "opt.tif"\nasset = "B03"\n'
    )
    with pytest.raises(ConfigError, match=r"\[modalities.opt\]: give either `path` or `stac`"):
        gh.load_config(bad)
    bad.write_text(text + '\n[modalities.opt]\nstac = "item.json"\n')
    with pytest.raises(ConfigError, match=r"\[modalities.opt\].asset is required with `stac`"):
        gh.load_config(bad)
    two = [_item(f"t{k}", box, {"B04": "www/opt.tif"}) for k, box in enumerate(_region_boxes())]
    (scene.root / "tiles.json").write_text(json.dumps(pystac.ItemCollection(two).to_dict()))
    bad.write_text(text + _stac_extra("opt", "tiles.json", "B04").replace("stac = ", "stac = "))
    plan = compute_plan(gh.load_config(bad))  # each region overlaps its own tile only
    assert plan.sources["h2"]["opt"].stac.item_id == "t2"
    bad.write_text(text + _stac_extra("opt", f"{scene.server.url}/missing.json", "B04"))
    with pytest.raises(InputError, match=r"missing.json: the STAC file .* HTTP 404"):
        compute_plan(gh.load_config(bad))


def _split_cog(src: Path, left: Path, right: Path, at: int) -> None:
    """Two COGs of one grid: columns ``[0, at)`` and ``[at, width)`` of ``src``."""
    import rasterio
    from rasterio.shutil import copy
    from rasterio.windows import Window

    with rasterio.open(src) as ds:
        for dst, win in (
            (left, Window(0, 0, at, ds.height)),
            (right, Window(at, 0, ds.width - at, ds.height)),
        ):
            prof = {
                **ds.profile,
                "driver": "GTiff",
                "width": int(win.width),
                "height": int(win.height),
                "transform": ds.window_transform(win),
            }
            tmp = dst.with_suffix(".tmp.tif")
            with rasterio.open(tmp, "w", **prof) as out:
                out.write(ds.read(window=win))
            copy(tmp, dst, driver="COG", BLOCKSIZE=128, COMPRESS="DEFLATE", OVERVIEWS="NONE")
            tmp.unlink()


def test_region_over_two_items_reads_their_mosaic(scene) -> None:
    import rasterio

    _split_cog(scene.www / "dem.tif", scene.www / "dem_w.tif", scene.www / "dem_e.tif", 128)
    boxes = []
    for name in ("dem_w.tif", "dem_e.tif"):
        with rasterio.open(scene.www / name) as ds:
            from rasterio.warp import transform_bounds

            boxes.append(transform_bounds(ds.crs, 4326, *ds.bounds))
    items = [
        _item(f"tile-{k}", box, {"dem": name})
        for k, (box, name) in enumerate(zip(boxes, ("dem_w.tif", "dem_e.tif"), strict=True))
    ]
    (scene.www / "tiles.json").write_text(json.dumps(pystac.ItemCollection(items).to_dict()))
    local = gh.extract(gh.load_config(scene.local()), workers=1)
    text = _without(scene.toml, "dem").replace('path = "opt.tif"', 'path = "www/opt.tif"')
    cfg_path = scene.root / "mosaic.toml"
    url = f"{scene.server.url}/tiles.json"
    cfg_path.write_text(
        text.replace('path = "out"', 'path = "out_m"') + _stac_extra("dem", url, "dem")
    )
    plan = compute_plan(gh.load_config(cfg_path))
    mosaics = {rid: s["dem"].stac.item_id for rid, s in plan.sources.items()}
    assert "tile-0+tile-1" in mosaics.values(), mosaics
    out = gh.extract(gh.load_config(cfg_path), workers=2)
    # same pixels; a region on one tile only has its windows counted on that tile's grid
    assert store_files(local) == store_files(out)
    ia, ib = gh.open_dataset(local).index, gh.open_dataset(out).index
    for col in ("region", "center_x", "center_y", "split", "dem_valid_fraction"):
        assert ia[col].equals(ib[col]), col
    man = json.loads((out / "manifest.json").read_text())
    rec = next(r for r in man["inputs"]["modalities"]["dem"] if "mosaic" in r["stac"])
    assert [p["href"] for p in rec["stac"]["mosaic"]] == [
        f"{scene.server.url}/dem_w.tif",
        f"{scene.server.url}/dem_e.tif",
    ]
