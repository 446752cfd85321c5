"""The HTML report: valid, self-contained, right numbers, honest warnings, renders in a browser."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from PIL import Image
from vizdata import make_area

import geoharmony as gh
from geoharmony.report.html import NATIVE_MESSAGE, review, write_report
from geoharmony.viz.source import load_source

VOID = {"meta", "img", "br", "hr", "link", "input", "col", "source", "wbr", "area", "base"}


class _Checker(HTMLParser):
    """Collects tables and images; fails on unbalanced or misnested tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        self.text.append(data)


@pytest.fixture(scope="module")
def report(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(
        tiny_dataset, tmp_path_factory.mktemp("report") / "report.html", n_patches=2
    )


@pytest.fixture(scope="module")
def parsed(report: Path) -> _Checker:
    p = _Checker()
    p.feed(report.read_text(encoding="utf-8"))
    p.close()
    return p


def _table(parsed: _Checker, first_header: str) -> pd.DataFrame:
    for t in parsed.tables:
        if t and t[0] and t[0][0] == first_header:
            return pd.DataFrame(t[1:], columns=t[0])
    raise AssertionError(f"no table starting with {first_header!r}")


def test_report_is_valid_html(report: Path, parsed: _Checker) -> None:
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert parsed.errors == [] and parsed.stack == []
    # stricter: the document is also well-formed XML (every tag closed, attributes quoted)
    root = ET.fromstring(text.split("\n", 1)[1])
    assert root.tag == "html" and root.find("head/title") is not None


def test_report_is_self_contained_and_every_image_decodes(parsed: _Checker) -> None:
    # study area, centres, 4 grids, 2 x (footprints, patch), 2 histograms
    assert len(parsed.images) == 12
    for src in parsed.images:
        m = re.fullmatch(r"data:image/(png|jpeg);base64,([A-Za-z0-9+/=]+)", src)
        assert m, src[:60]
        img = Image.open(io.BytesIO(base64.b64decode(m.group(2))))
        img.load()
        assert img.width > 200 and img.height > 150
        assert np.asarray(img.convert("L")).std() > 5


def test_inputs_table_holds_the_input_files_facts(parsed: _Checker, tiny_config: Path) -> None:
    t = _table(parsed, "modality").set_index("modality")
    assert list(t.index) == ["dem", "sar", "optical", "thermal"]
    # facts the fixture wrote (conftest.make_area), checked against rasterio too
    expect = {
        "dem": ("dem.tif", "EPSG:32616", "10.00", "480 \u00d7 480", "float32", "-9999", "1"),
        # issue 9: true ground metres (Albers at 40 N: 10 m of map = 10.08 x 9.92 m)
        "sar": (
            "sar.tif",
            "EPSG:5070",
            "10.08 \u00d7 9.92",
            "500 \u00d7 500",
            "float32",
            "none",
            "1",
        ),
        "optical": (
            "optical.tif",
            "EPSG:32616",
            "30.01",  # issue 9: UTM's scale factor 0.9996 (true ground metres)
            "180 \u00d7 180",
            "uint16",
            "0",
            "1, 2, 3, 4, 5, 6",
        ),
        "thermal": ("thermal.tif", "EPSG:32616", "30.01", "180 \u00d7 180", "float32", "none", "1"),
    }
    for m, (file, crs, res, size, dtype, nodata, bands) in expect.items():
        row = t.loc[m]
        assert row["file"] == file
        assert row["CRS"].startswith(crs + " (")
        assert row["pixel size (m)"] == res
        assert row["size (px)"] == size
        assert row["dtype"] == dtype
        assert row["nodata"] == nodata
        assert row["bands"] == bands
        with rasterio.open(tiny_config.parent / file) as ds:
            assert f"{ds.width} \u00d7 {ds.height}" == size and ds.dtypes[0] == dtype


def test_outputs_and_split_tables_match_the_index(parsed: _Checker, tiny_dataset: Path) -> None:
    idx = pd.read_parquet(tiny_dataset / "index.parquet")
    t = _table(parsed, "region")
    splits = [c for c in t.columns if c not in ("region", "total")]
    assert set(splits) == set(idx["split"])
    total = t[t["region"] == "total"].iloc[0]
    for s in splits:
        assert int(total[s]) == int((idx["split"] == s).sum())
    assert int(total["total"]) == len(idx) == 88
    out = _table(parsed, "output").set_index("output")
    assert list(out.index) == ["dem", "sar", "optical", "thermal", "streams", "flowdir"]
    assert out.loc["optical", "array per patch"] == "6 \u00d7 32 \u00d7 32"
    assert out.loc["optical", "ground size"] == "960 m \u00d7 960 m"
    assert out.loc["streams", "kind"] == "label: vector burn"
    assert out.loc["flowdir", "kind"] == "label: D8"
    for name in out.index:
        v = idx[f"{name}_valid_fraction"]
        assert out.loc[name, "valid mean"] == f"{v.mean():.1%}"
        assert out.loc[name, "patches < 50 % valid"] == str(int((v < 0.5).sum()))
    off = _table(parsed, "modality")  # first "modality" table is the inputs one
    assert "max offset (m)" not in off.columns
    offs = [t for t in parsed.tables if t and t[0][:2] == ["modality", "max offset (m)"]]
    assert offs, "no offsets table"
    rows = {r[0]: r for r in offs[0][1:]}
    assert float(rows["sar"][1]) == pytest.approx(idx["sar_offset_m"].max(), abs=1e-3)
    assert float(rows["sar"][1]) <= float(rows["sar"][3])  # within the half-pixel bound


def test_native_warning_is_shown(parsed: _Checker) -> None:
    text = " ".join(parsed.text)
    assert (
        "modalities have different footprints: pixel (i, j) is not the same ground location" in text
    )
    assert "sar declares no nodata value" in text


@pytest.mark.parametrize(
    ("mode", "patch_size", "native", "rotated"),
    [
        ("footprint", 30, False, True),
        ("resample", 32, False, False),
    ],
)
def test_findings_follow_the_mode(
    tmp_path: Path, mode: str, patch_size: int, native: bool, rotated: bool
) -> None:
    cfg = gh.load_config(make_area(tmp_path / "a", mode=mode, patch_size=patch_size))
    texts = [f.text for f in review(load_source(cfg))]
    assert any(NATIVE_MESSAGE in t for t in texts) is native
    # footprint mode: same size but the Albers (sar) footprint is rotated against UTM
    assert any("still differ" in t and "sar" in t for t in texts) is rotated


def test_report_refuses_other_extensions(tiny_dataset: Path, tmp_path: Path) -> None:
    from geoharmony.viz.source import VizInputError

    with pytest.raises(VizInputError, match=r"use a \.html file name"):
        write_report(tiny_dataset, tmp_path / "report.pdf")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    _chromium() is None, reason="chromium is not installed (apt-get install chromium)"
)
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1280,6000",
        "--hide-scrollbars",
        report.resolve().as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)  # type: ignore[arg-type]
    img = np.asarray(Image.open(shot).convert("RGB")).astype(float)
    assert img.shape[:2] == (6000, 1280)
    assert img.std() > 20, "the screenshot is blank"
    # the page draws text (top) and images (further down): many non-white rows everywhere
    rows_with_ink = (img < 200).any(axis=(1, 2))
    assert rows_with_ink[:600].mean() > 0.2
    assert rows_with_ink[1500:6000].mean() > 0.5
