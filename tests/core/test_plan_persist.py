"""The dataset keeps the plan it was made from: ``open_dataset(...).plan == compute_plan``."""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS

import geoharmony as gh
from geoharmony.errors import DatasetError
from geoharmony.geometry.window import subgrid
from geoharmony.io.codec import decode, encode, same
from geoharmony.planning.persist import PLAN, PLAN_FORMAT, load_plan
from geoharmony.planning.plan import Plan, compute_plan
from geoharmony.planning.windows import patch_grid, patch_window

sys.path.insert(0, str(Path(__file__).parents[1] / "viz"))
from vizdata import make_area


@pytest.mark.parametrize(
    ("mode", "patch_size"), [("native", 32), ("footprint", 30), ("resample", 32)]
)
def test_the_stored_plan_equals_the_computed_one(
    tmp_path: Path, mode: str, patch_size: int
) -> None:
    cfg = gh.load_config(make_area(tmp_path / "a", mode=mode, patch_size=patch_size))
    before = compute_plan(cfg)
    out = gh.extract(cfg, workers=1, progress=False)
    after = gh.open_dataset(out).plan
    for f in dataclasses.fields(Plan):
        assert same(getattr(before, f.name), getattr(after, f.name)), f.name
    assert after == before
    assert after.table.index.equals(before.table.index)
    doc = json.loads((out / PLAN).read_text())
    assert doc["plan_format"] == PLAN_FORMAT
    assert doc["table"]["file"] == "index.parquet"
    assert list(doc["table"]["columns"]) == list(before.table.columns)
    # the one answer to "grid and window of output o for patch k"
    for name in before.outputs:
        g, w = patch_window(after, name, 7)
        assert patch_grid(after, name, 7) == subgrid(g, w)
        assert (w.width, w.height) == (after.outputs[name].width, after.outputs[name].height)


def test_plans_differ_when_a_window_does(tmp_path: Path) -> None:
    cfg = gh.load_config(make_area(tmp_path / "a"))
    a = compute_plan(cfg)
    t = a.table.copy()
    t.loc[3, "dem_col_off"] += 1
    assert dataclasses.replace(a, table=t) != a
    assert a == compute_plan(cfg)


def test_codec_round_trips_nan_geometries_and_new_fields() -> None:
    import shapely

    @dataclasses.dataclass(frozen=True)
    class V:
        x: float
        g: object
        extra: int = 4

    v = V(float("nan"), shapely.box(0, 0, 1, 2))
    data = json.loads(json.dumps(encode(v)))
    assert data["x"] == {"$float": "NaN"}
    back = decode(V, data)
    assert same(back, v) and back.extra == 4
    data.pop("extra")  # written before the field existed: its default
    assert decode(V, data).extra == 4
    assert np.isnan(decode(V, data).x)


class Axis(enum.Enum):
    EAST = "east"
    SOUTH = "south"


@dataclasses.dataclass(frozen=True)
class Later:
    """Field types a later Plan, Grid or config field may use."""

    axes: tuple[Axis, Axis]
    kind: Literal["a", "b"]
    tags: frozenset[str]
    crs: CRS
    t: Affine
    path: Path
    opt: int | None = None


def test_codec_round_trips_what_later_fields_may_use() -> None:
    w = Later(
        (Axis.EAST, Axis.SOUTH),
        "b",
        frozenset({"y", "x"}),
        CRS.from_epsg(5070),
        Affine(10, 0, 5, 0, -10, 7),
        Path("/a/b.tif"),
        3,
    )
    assert decode(Later, json.loads(json.dumps(encode(w)))) == w


def test_a_dataset_without_plan_json_says_so(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"has no plan\.json"):
        load_plan(tmp_path)
