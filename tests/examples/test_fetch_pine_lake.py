"""``fetch-example pine-lake`` on a local Zenodo-like server, then extract: the notebook's grid.

The server publishes a records API (``/api/records/15635067``: files[].key, size,
checksum "md5:...", links.self) and a small archive with the notebook's file names, in
EPSG:4326 like the notebook's data. No internet is used.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import CRS

import geoharmony as gh
from geoharmony.demo.examples import fetch_example
from geoharmony.errors import InputError

P = "HUC12_071300090405_Pine_Lake-Middle_Salt_Creek"
RECORD, KEY = "15635067", "harmonizing_multimodal_RMS.zip"
DEG10, DEG30 = 0.00009, 0.00027  # ~10 m and ~30 m pixels in degrees
W0, N0 = -96.70, 41.00  # north-west corner of the rasters
EXE = Path(sys.executable).parent / "geoharmony"


def _tif(data: np.ndarray, res: float, nodata: float) -> bytes:
    mem = rasterio.io.MemoryFile()
    with mem.open(
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype=data.dtype.name,
        crs=CRS.from_epsg(4326).to_wkt(),
        transform=Affine(res, 0, W0, 0, -res, N0),
        nodata=nodata,
        compress="deflate",
    ) as dst:
        dst.write(data)
    return bytes(mem.read())


def _boundary() -> shapely.Polygon:
    # an irregular watershed well inside the rasters (450 x 450 px at 10 m)
    return shapely.Polygon(
        [
            (W0 + 0.004, N0 - 0.003),
            (W0 + 0.036, N0 - 0.006),
            (W0 + 0.038, N0 - 0.030),
            (W0 + 0.020, N0 - 0.037),
            (W0 + 0.006, N0 - 0.028),
        ]
    )


def _geojson(geom: Any) -> bytes:
    feat = {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(geom)}
    return json.dumps({"type": "FeatureCollection", "features": [feat]}).encode()


def pine_lake_zip(folder: str = "") -> bytes:
    """The notebook's seven files (synthetic content, same names), optionally in a folder."""
    n10, n30 = 450, 150
    rows, cols = np.mgrid[0:n10, 0:n10].astype(np.float32)
    dem = (350 + 0.02 * cols - 0.03 * rows + 3 * np.sin(cols / 40))[None].astype(np.float32)
    sar = (W0 + (cols + 0.5) * DEG10)[None].astype(np.float32)  # its own longitude
    rng = np.random.default_rng(0)
    optical = rng.integers(5000, 20000, size=(6, n30, n30), dtype=np.uint16)
    thermal = (290 + rng.random((1, n30, n30)) * 10).astype(np.float32)
    b = _boundary()
    buf = b.buffer(0.045)
    members = {
        f"{P}_DEM_10m_Rect.tif": _tif(dem, DEG10, -9999.0),
        f"{P}_SAR_VV_10m_Rect.tif": _tif(sar, DEG10, -9999.0),
        f"{P}_Landsat_Optical_30m_Rect.tif": _tif(optical, DEG30, 0),
        f"{P}_Landsat_Thermal_30m_Rect.tif": _tif(thermal, DEG30, -9999.0),
        f"{P}_Original_Boundary.geojson": _geojson(b),
        f"{P}_5km_Buffered_Polygon_Boundary.geojson": _geojson(buf),
        f"{P}_BoundingBox_of_5km_Buffered.geojson": _geojson(shapely.box(*buf.bounds)),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(f"{folder}{name}", data)
    return out.getvalue()


class Zenodo:
    """A Zenodo-like records API and file server on 127.0.0.1 (counts file downloads)."""

    def __init__(self, archive: bytes, *, md5: str | None = None, size: int | None = None):
        self.archive, self.downloads = archive, 0
        self.md5 = md5 or hashlib.md5(archive).hexdigest()
        self.size = len(archive) if size is None else size
        zen = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                base = f"http://127.0.0.1:{self.server.server_address[1]}/api"
                content = f"{base}/records/{RECORD}/files/{KEY}/content"
                if self.path == f"/api/records/{RECORD}":
                    body = json.dumps(
                        {
                            "id": int(RECORD),
                            "files": [
                                {
                                    "key": KEY,
                                    "size": zen.size,
                                    "checksum": f"md5:{zen.md5}",
                                    "links": {"self": content},
                                }
                            ],
                        }
                    ).encode()
                    ctype = "application/json"
                elif self.path == f"/api/records/{RECORD}/files/{KEY}/content":
                    zen.downloads += 1
                    body, ctype = zen.archive, "application/octet-stream"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.api = f"http://127.0.0.1:{self.httpd.server_address[1]}/api"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def zenodo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Zenodo]:
    z = Zenodo(pine_lake_zip())
    monkeypatch.setenv("GEOHARMONY_ZENODO_API", z.api)
    monkeypatch.setenv("GEOHARMONY_CACHE", str(tmp_path / "cache"))
    yield z
    z.httpd.shutdown()


def notebook_centres(dem: Path, boundary: Path) -> set[tuple[int, int]]:
    """The notebook's Step 4, as (row // stride, col // stride) of every kept centre."""
    import geopandas as gpd

    poly = gpd.read_file(boundary).union_all()
    kept = set()
    with rasterio.open(dem) as ds:
        for r in range(0, ds.height, 224):
            for c in range(0, ds.width, 224):
                lon, lat = ds.xy(r + 112, c + 112)
                if shapely.Point(lon, lat).within(poly):
                    kept.add((r // 224, c // 224))
    return kept


def test_fetch_then_extract_reproduces_the_notebook_grid(zenodo: Zenodo, tmp_path: Path) -> None:
    env = {**os.environ}
    r = subprocess.run(
        [str(EXE), "fetch-example", "pine-lake", "--dir", str(tmp_path / "ex")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    sha = hashlib.sha256(zenodo.archive).hexdigest()
    assert f"sha256:  {sha}" in r.stdout
    assert f"md5 {zenodo.md5} verified" in r.stdout
    folder = tmp_path / "ex" / "pine-lake"
    source = json.loads((folder / "source.json").read_text())
    assert source["sha256"] == sha and source["size"] == len(zenodo.archive)
    cfg = gh.load_config(folder / "pipeline.toml")
    assert (cfg.grid.patch_size, cfg.grid.stride, cfg.grid.mode) == (224, 224, "native")
    assert cfg.grid.keep == "center" and cfg.study_area.keep_in == "boundary"
    assert cfg.study_area.buffer_m == 5000
    r = subprocess.run(
        [str(EXE), "extract", str(folder / "pipeline.toml")], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    ds = gh.open_dataset(folder / "dataset")
    ours = set(zip(ds.index["lattice_i"], ds.index["lattice_j"], strict=True))
    dem = folder / f"{P}_DEM_10m_Rect.tif"
    want = notebook_centres(dem, folder / f"{P}_Original_Boundary.geojson")
    assert ours == want and len(ours) >= 3
    sample = ds[0]
    assert sample["dem"].shape == (1, 224, 224) and sample["optical"].shape == (6, 224, 224)
    # a second fetch elsewhere is served from the pooch cache: no second download
    assert zenodo.downloads == 1
    fetch_example("pine-lake", tmp_path / "again")
    assert zenodo.downloads == 1


def test_study_area_figure_draws_the_buffer_and_keeps_by_boundary(
    zenodo: Zenodo, tmp_path: Path
) -> None:
    from geoharmony.viz.study_area import plot_study_area

    cfg = fetch_example("pine-lake", tmp_path / "ex")
    fig = plot_study_area(cfg)
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    joined = " ".join(texts)
    assert "buffered boundary (5000 m)" in joined
    assert "patches are kept inside the original boundary" in joined


def test_archive_in_a_folder_is_located(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    z = Zenodo(pine_lake_zip("data/"))
    monkeypatch.setenv("GEOHARMONY_ZENODO_API", z.api)
    monkeypatch.setenv("GEOHARMONY_CACHE", str(tmp_path / "cache"))
    try:
        cfg = gh.load_config(fetch_example("pine-lake", tmp_path / "ex"))
    finally:
        z.httpd.shutdown()
    assert cfg.modalities["dem"].path.endswith(f"data/{P}_DEM_10m_Rect.tif")
    assert Path(cfg.modalities["dem"].path).is_file()


@pytest.mark.parametrize("bad", ["md5", "size"])
def test_md5_or_size_mismatch_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bad: str
) -> None:
    archive = pine_lake_zip()
    z = Zenodo(archive, **({"md5": "0" * 32} if bad == "md5" else {"size": len(archive) + 1}))
    monkeypatch.setenv("GEOHARMONY_ZENODO_API", z.api)
    monkeypatch.setenv("GEOHARMONY_CACHE", str(tmp_path / "cache"))
    try:
        with pytest.raises(InputError, match="md5" if bad == "md5" else "the Zenodo record says"):
            fetch_example("pine-lake", tmp_path / "ex")
    finally:
        z.httpd.shutdown()
    assert list((tmp_path / "ex").iterdir()) == []
    assert not list((tmp_path / "cache").rglob(KEY))


def test_unreachable_api_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GEOHARMONY_ZENODO_API", "http://127.0.0.1:9/api")
    with pytest.raises(InputError, match="cannot read the Zenodo record"):
        fetch_example("pine-lake", tmp_path / "ex")
