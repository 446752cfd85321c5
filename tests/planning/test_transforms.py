"""Transform accuracy (issue 9, item 8): one cached transformer per CRS pair; the operation
and its accuracy in the manifest; a warning when it is unknown or worse than a quarter
pixel of a modality."""

from __future__ import annotations

import warnings
from pathlib import Path

import shapely
from affine import Affine
from pyproj import CRS

import geoharmony as gh
from geoharmony.errors import TransformWarning
from geoharmony.geometry.transforms import crs_name, transformer
from geoharmony.planning.plan import compute_plan
from synth import lonlat_to, write_boundary, write_config, write_coord_raster


def _project(root: Path, other: str, res: float) -> Path:
    x, y = lonlat_to("EPSG:32613", -105.3, 40.2)
    write_coord_raster(
        root / "ref.tif",
        crs="EPSG:32613",
        transform=Affine(10, 0, x, 0, -10, y),
        width=50,
        height=50,
    )
    ox, oy = lonlat_to(other, -105.3, 40.2)
    write_coord_raster(
        root / "other.tif",
        crs=other,
        transform=Affine(res, 0, ox - 100, 0, -res, oy + 100),
        width=int(800 / res),
        height=int(800 / res),
    )
    write_boundary(
        root / "a.geojson", [shapely.box(x + 50, y - 450, x + 450, y - 50)], "EPSG:32613"
    )
    return write_config(
        root / "p.toml",
        """
        [study_area]
        boundary = "a.geojson"

        [grid]
        reference = "ref"
        patch_size = 8

        [modalities.ref]
        path = "ref.tif"

        [modalities.other]
        path = "other.tif"

        [output]
        path = "out"
        """,
    )


def test_one_cached_transformer_per_pair() -> None:
    a, b = CRS.from_epsg(32613), CRS.from_epsg(5070)
    assert transformer(a, b) is transformer(CRS.from_epsg(32613), CRS.from_epsg(5070))
    assert transformer(a, b) is not transformer(b, a)
    assert crs_name(a) == "EPSG:32613"
    laea = CRS.from_proj4("+proj=laea +lat_0=40 +lon_0=-105 +ellps=GRS80 +units=m +no_defs")
    name = crs_name(laea)  # no EPSG code: a name, never the WKT
    assert name and "PROJCRS" not in name and len(name) < 80


def test_nad27_at_10m_warns_and_is_recorded(tmp_path: Path) -> None:
    cfg = gh.load_config(_project(tmp_path, "EPSG:26713", 10.0))  # UTM 13N on NAD27
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        plan = compute_plan(cfg)
    msgs = [str(w.message) for w in got if issubclass(w.category, TransformWarning)]
    assert len(msgs) == 1, msgs
    assert "EPSG:32613 -> EPSG:26713" in msgs[0] and "NAD27" in msgs[0]
    assert "quarter pixel (2.50 m)" in msgs[0] and "other" in msgs[0]
    (rec,) = plan.transforms
    assert rec["accuracy_m"] is not None and rec["accuracy_m"] > 2.5
    out = gh.extract(cfg, progress=False)
    man = gh.open_dataset(out).manifest
    (mrec,) = man["plan"]["transforms"]
    assert mrec["operation"] == rec["operation"] and "NAD27" in mrec["operation"]
    assert any("accuracy" in n for n in man["plan"]["notes"])  # shown by info and the report


def test_same_datum_is_exact_and_silent(tmp_path: Path) -> None:
    cfg = gh.load_config(_project(tmp_path, "EPSG:32612", 10.0))  # another UTM zone, WGS 84
    with warnings.catch_warnings():
        warnings.simplefilter("error", TransformWarning)
        plan = compute_plan(cfg)
    (rec,) = plan.transforms
    assert rec["accuracy_m"] == 0.0 and "warning" not in rec
