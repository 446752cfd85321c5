"""The npz export passes the writer contract and reads back through the users' own contract.

``read_national_ml`` below is written from the users' loader contract only (issue 12), not
from geoharmony: ``<base>/<HUC8>/patch_<i>.npz`` with ``dem (h, w)``, ``optical (h, w, 6)``
channels-last, ``thermal``, ``sar``, ``hydro_mask (h, w)`` uint8 {0, 1}, ``flow_dir (h, w)``
ESRI codes, and ``<HUC8>/normalization_stats.json`` with ``{"dem": {"elevation_mean",
"elevation_stdDev"}, "landsat": {"landsat_mean": [6], "landsat_stdDev": [6],
"landsat_B10_mean", "landsat_B10_stdDev"}, "sentinel1": {"sentinel1_VV_mean",
"sentinel1_VV_stdDev"}}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import CRS, Transformer

import geoharmony as gh
from geoharmony.errors import ConfigError
from geoharmony.writers.npz_writer import NpzWriter
from scenes import write_dem
from synth import write_config
from writers.contract import SPECS, WriterContract, assert_same, make_arrays, write_task

LON0, LAT0 = -88.9, 40.3
ESRI = {1, 2, 4, 8, 16, 32, 64, 128}
HUCS = ("07130009", "07130011")


class TestNpzWriter(WriterContract):
    writer_cls = NpzWriter


def test_files_without_layout_follow_the_documented_layout(tmp_path: Path) -> None:
    w = NpzWriter(tmp_path)
    w.create(SPECS, 10, patches_per_shard=4, compression="none")
    write_task(NpzWriter, tmp_path, 0, make_arrays(0, 10))
    data = make_arrays(0, 10)
    with np.load(tmp_path / "npz" / "all" / "patch_3.npz") as z:
        assert str(z["patch_id"]) == "3" and int(z["position"]) == 3
        assert_same(z["u8"], np.moveaxis(data["u8"][3], 0, -1), "u8 channels last")
        assert_same(z["i16"], data["i16"][3][0], "single band is 2-D")
        assert_same(z["u8_mask"], data["u8_mask"][3], "mask")
        assert_same(z["flag"], data["flag"][3], "2-D array")


# -- an end-to-end export in the users' layout ----------------------------------------------
def _raster(path: Path, data: np.ndarray, crs: int, transform: Affine, nodata: float) -> None:
    prof = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": CRS.from_epsg(crs).to_wkt(),
        "transform": transform,
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(data)


def _coords(n: int, transform: Affine) -> tuple[np.ndarray, np.ndarray]:
    cols, rows = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5)
    a, b, c, d, e, f = tuple(transform)[:6]
    return a * cols + b * rows + c, d * cols + e * rows + f


def national_ml_scene(root: Path, fmt: str = "npz") -> Path:
    """Two HUC8 regions; DEM + SAR 10 m (UTM), optical (6 bands) + thermal 30 m (Albers)."""
    x0, y0 = Transformer.from_crs(4326, 32616, always_xy=True).transform(LON0, LAT0)
    write_dem(root / "dem.tif", x0=x0 - 1600, y0=y0 + 1600, res=10, n=320)
    t10 = Affine(10, 0, x0 - 1600, 0, -10, y0 + 1600)
    sx, _ = _coords(320, t10)  # SAR = its pixels' easting: windows are checkable
    _raster(root / "sar.tif", sx[None].astype(np.float64), 32616, t10, -1.0)
    ax, ay = Transformer.from_crs(4326, 5070, always_xy=True).transform(LON0, LAT0)
    t30 = Affine(30, 0, ax - 1950, 0, -30, ay + 1950)
    rng = np.random.default_rng(3)
    opt = rng.integers(1, 5000, size=(6, 130, 130), dtype=np.uint16)
    opt[:, 60:64, 60:64] = 0  # nodata hole
    _raster(root / "optical.tif", opt, 5070, t30, 0)
    _, ty = _coords(130, t30)
    _raster(root / "thermal.tif", ty[None].astype(np.float32), 5070, t30, -9999.0)
    import geopandas as gpd

    boxes = [
        shapely.box(LON0 - 0.012, LAT0 - 0.01, LON0, LAT0 + 0.01),
        shapely.box(LON0, LAT0 - 0.01, LON0 + 0.012, LAT0 + 0.01),
    ]
    gpd.GeoDataFrame({"huc8": list(HUCS)}, geometry=boxes, crs=4326).to_file(
        root / "huc8.geojson", driver="GeoJSON"
    )
    stream = shapely.LineString([(LON0 - 0.02, LAT0), (LON0 + 0.02, LAT0 + 0.001)])
    gpd.GeoDataFrame({"kind": ["stream"]}, geometry=[stream], crs=4326).to_file(
        root / "streams.geojson", driver="GeoJSON"
    )
    npz = (
        """
    [output.npz]
    keys = { streams = "hydro_mask", flowdir = "flow_dir" }
    channels_last = true
    stats_schema = "national_ml"
    stats_blocks.dem = { block = "dem", prefix = "elevation" }
    stats_blocks.optical = { block = "landsat", prefix = "landsat" }
    stats_blocks.thermal = { block = "landsat", prefix = "landsat_B10" }
    stats_blocks.sar = { block = "sentinel1", prefix = "sentinel1_VV" }
    """
        if fmt == "npz"
        else ""
    )
    return write_config(
        root / f"{fmt}.toml",
        f"""
    [study_area]
    boundary = "huc8.geojson"
    id_field = "huc8"

    [grid]
    reference = "dem"
    patch_size = 16
    stride = 16

    [modalities.dem]
    path = "dem.tif"
    [modalities.optical]
    path = "optical.tif"
    [modalities.thermal]
    path = "thermal.tif"
    [modalities.sar]
    path = "sar.tif"

    [labels.streams]
    kind = "vector"
    grid = "dem"
    sources = [{{ path = "streams.geojson", buffer_m = 10 }}]
    [labels.flowdir]
    kind = "d8"
    dem = "dem"

    [output]
    path = "out_{fmt}"
    format = "{fmt}"
    patches_per_shard = 4
    {npz}
    """,
    )


def read_national_ml(base: Path) -> dict[str, list[dict[str, Any]]]:
    """The users' loader: every patch of every HUC8, normalised per HUC from its stats file."""
    out: dict[str, list[dict[str, Any]]] = {}
    for huc in sorted(p for p in base.iterdir() if p.is_dir()):
        stats = json.loads((huc / "normalization_stats.json").read_text())
        dem_m, dem_s = stats["dem"]["elevation_mean"], stats["dem"]["elevation_stdDev"]
        ls_m = np.asarray(stats["landsat"]["landsat_mean"], np.float32)
        ls_s = np.asarray(stats["landsat"]["landsat_stdDev"], np.float32)
        b10 = stats["landsat"]["landsat_B10_mean"], stats["landsat"]["landsat_B10_stdDev"]
        vv = stats["sentinel1"]["sentinel1_VV_mean"], stats["sentinel1"]["sentinel1_VV_stdDev"]
        assert ls_m.shape == ls_s.shape == (6,)
        for v in (dem_m, dem_s, *b10, *vv):
            assert isinstance(v, float)
        n = len(list(huc.glob("patch_*.npz")))
        samples = []
        for i in range(n):  # patch_0 .. patch_{n-1}, none missing
            with np.load(huc / f"patch_{i}.npz") as z:
                dem, opt = z["dem"], z["optical"]
                thermal, sar = z["thermal"], z["sar"]
                hydro, flow = z["hydro_mask"], z["flow_dir"]
                assert dem.shape == thermal.shape == sar.shape == hydro.shape == flow.shape
                assert dem.ndim == 2 and opt.shape == (*dem.shape, 6)
                assert dem.dtype == np.float32 and opt.dtype == np.uint16
                assert hydro.dtype == np.uint8 and set(np.unique(hydro)) <= {0, 1}
                assert flow.dtype == np.uint8 and set(np.unique(flow)) <= ESRI | {0}
                samples.append(
                    {
                        "patch_id": str(z["patch_id"]),
                        "dem": (dem - dem_m) / dem_s,
                        "optical": (opt.astype(np.float32) - ls_m) / ls_s,
                        "thermal": (thermal - b10[0]) / b10[1],
                        "sar": (sar - vv[0]) / vv[1],
                        "raw": {k: z[k] for k in z.files},
                    }
                )
        out[huc.name] = samples
    return out


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("national_ml")
    npz = gh.extract(gh.load_config(national_ml_scene(root, "npz")), workers=2, progress=False)
    ref = gh.extract(gh.load_config(national_ml_scene(root, "zarr")), progress=False)
    return npz, ref


def test_users_reader_loads_every_patch_and_its_region_stats(
    exports: tuple[Path, Path],
) -> None:
    npz, ref_path = exports
    ref = gh.open_dataset(ref_path)
    got = read_national_ml(npz / "npz")
    assert sorted(got) == sorted(HUCS)
    idx = ref.index
    assert sum(len(v) for v in got.values()) == len(ref)
    keys = {"dem": "dem", "optical": "optical", "thermal": "thermal", "sar": "sar"}
    keys |= {"streams": "hydro_mask", "flowdir": "flow_dir"}
    for huc, samples in got.items():
        rows = idx[idx["region"] == huc]
        assert [s["patch_id"] for s in samples] == list(rows["patch_id"])
        for s, pos in zip(samples, rows["patch_index"], strict=True):
            want = ref[int(pos)]
            for name, key in keys.items():
                a = want[name]
                a = a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1)
                assert_same(s["raw"][key], a, f"{huc} {key}")
                assert_same(s["raw"][f"{key}_mask"], want[f"{name}_mask"], f"{key}_mask")
        # the per-HUC statistics are those of that HUC's valid pixels, per band
        dem = np.stack([ref[int(p)]["dem"][0] for p in rows["patch_index"]])
        dmask = np.stack([ref[int(p)]["dem_mask"] for p in rows["patch_index"]])
        stats = json.loads((npz / "npz" / huc / "normalization_stats.json").read_text())
        v = dem[dmask].astype(np.float64)
        assert stats["dem"]["elevation_mean"] == pytest.approx(v.mean(), rel=1e-12)
        assert stats["dem"]["elevation_stdDev"] == pytest.approx(v.std(), rel=1e-9)
        opt = np.stack([ref[int(p)]["optical"] for p in rows["patch_index"]])
        omask = np.stack([ref[int(p)]["optical_mask"] for p in rows["patch_index"]])
        ov = np.moveaxis(opt, 1, 0)[:, omask].astype(np.float64)
        np.testing.assert_allclose(stats["landsat"]["landsat_mean"], ov.mean(axis=1), rtol=1e-12)
        np.testing.assert_allclose(stats["landsat"]["landsat_stdDev"], ov.std(axis=1), rtol=1e-9)
    assert got[HUCS[0]][0]["dem"].dtype == np.float32


def test_patch_window_and_transform_locate_the_pixels(exports: tuple[Path, Path]) -> None:
    npz, _ = exports
    files = sorted((npz / "npz").glob("*/patch_*.npz"))
    assert files
    with rasterio.open(npz.parent / "sar.tif") as src:
        for f in files[:: max(1, len(files) // 7)]:
            with np.load(f) as z:
                col, row, w, h = z["sar_window"].tolist()
                t = Affine(*z["sar_transform"].tolist())
                # SAR pixels hold their own easting: the window and transform say where
                cols = np.arange(w) + 0.5
                east = t.a * cols + t.b * 0.5 + t.c
                ok = z["sar_mask"][0]
                np.testing.assert_allclose(z["sar"][0][ok], east[ok])
                st = src.transform
                assert t.c == pytest.approx(st.a * col + st.b * row + st.c)
                assert (w, h) == (16, 16)


def test_manifest_holds_region_and_split_stats_in_one_schema(exports: tuple[Path, Path]) -> None:
    npz, _ = exports
    m = gh.open_dataset(npz).manifest
    assert set(m["stats_by_region"]["dem"]) == set(HUCS)
    for group in (m["stats"]["dem"]["all"], m["stats_by_region"]["dem"][HUCS[0]]):
        assert set(group) == {"count", "mean", "std", "min", "max", "p02", "p98"}
    assert "percentile_error" in m["stats_schema"]


def test_npz_options_are_validated(tmp_path: Path) -> None:
    cfg = national_ml_scene(tmp_path)
    text = cfg.read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('streams = "hydro_mask"', 'rivers = "hydro_mask"'))
    with pytest.raises(ConfigError, match=r"\[output.npz\].keys.rivers names no modality"):
        gh.load_config(bad)
    bad.write_text(text.replace('flowdir = "flow_dir"', 'flowdir = "hydro_mask"'))
    with pytest.raises(ConfigError, match="clashes"):
        gh.load_config(bad)
    bad.write_text(text.replace("stats_blocks.dem", "stats_blocks.streams"))
    with pytest.raises(ConfigError, match=r"stats_blocks\.streams names no modality"):
        gh.load_config(bad)
    bad.write_text(text.replace('format = "npz"', 'format = "zarr"'))
    with pytest.raises(ConfigError, match=r'\[output\].npz applies only to format = "npz"'):
        gh.load_config(bad)
