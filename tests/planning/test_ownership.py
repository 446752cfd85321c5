"""One owner per lattice point (issue 9, item 1).

A 3 x 3 grid of adjacent square regions whose shared borders run through lattice centres,
with ``buffer_m`` 0 and 500 and every keep rule: the union of the multi-region plan is the
single-region plan of their union, every lattice point is planned once, and its region is
the one that contains it under the half-open rule ``[x0, x1) x [y0, y1)`` (east and north
win on shared edges), or the nearest region for buffered-only points.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st

import geoharmony as gh
from geoharmony.planning.ownership import cross_region_duplicates, duplicates_line, owners
from geoharmony.planning.plan import compute_plan
from synth import lonlat_to, write_boundary, write_config, write_coord_raster

CRS = "EPSG:32613"
X0, Y0 = lonlat_to(CRS, -105.3, 40.2)
X0, Y0 = float(round(X0, -1)), float(round(Y0, -1))
RES, PATCH, STRIDE = 10.0, 16, 16
N = 400  # raster pixels per side


def _edges() -> tuple[list[float], list[float]]:
    """Cell edges through lattice centres: centre of lattice column j is x(8 + 16 j)."""
    ks = [6, 10, 14, 18]  # lattice indices of the borders
    xs = [X0 + RES * (PATCH / 2 + STRIDE * k) for k in ks]
    ys = [Y0 - RES * (PATCH / 2 + STRIDE * k) for k in ks][::-1]  # south to north
    return xs, ys


def _cells() -> dict[str, shapely.Polygon]:
    xs, ys = _edges()
    out = {}
    for r in range(3):
        for c in range(3):
            out[f"r{r}{c}"] = shapely.box(xs[c], ys[r], xs[c + 1], ys[r + 1])
    return out


def _project(root: Path, *, multi: bool, buffer_m: float, keep: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "ref.tif").exists():
        write_coord_raster(
            root / "ref.tif",
            crs=CRS,
            transform=Affine(RES, 0, X0, 0, -RES, Y0),
            width=N,
            height=N,
        )
    cells = _cells()
    name = "multi.geojson" if multi else "single.geojson"
    if multi:
        write_boundary(root / name, list(cells.values()), CRS, [{"rid": k} for k in cells])
    else:
        union = shapely.union_all(list(cells.values()))
        write_boundary(root / name, [union], CRS)
    extra = 'id_field = "rid"' if multi else ""
    return write_config(
        root / f"{'multi' if multi else 'single'}_{keep}_{int(buffer_m)}.toml",
        f"""
        [study_area]
        boundary = "{name}"
        buffer_m = {buffer_m}
        {extra}

        [grid]
        patch_size = {PATCH}
        stride = {STRIDE}
        keep = "{keep}"

        [modalities.ref]
        path = "ref.tif"

        [output]
        path = "out"
        """,
    )


def _expected_owner(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Independent oracle: half-open cells, else the nearest cell (ties: smallest id)."""
    xs, ys = _edges()
    c = np.searchsorted(xs, x, side="right") - 1
    r = np.searchsorted(ys, y, side="right") - 1
    inside = (c >= 0) & (c < 3) & (r >= 0) & (r < 3)
    names = np.array([f"r{a}{b}" for a in range(3) for b in range(3)], dtype=object)
    out = np.empty(len(x), dtype=object)
    out[inside] = names[r[inside] * 3 + c[inside]]
    for k in np.flatnonzero(~inside):
        best = None
        for a in range(3):
            for b in range(3):
                dx = max(xs[b] - x[k], 0.0, x[k] - xs[b + 1])
                dy = max(ys[a] - y[k], 0.0, y[k] - ys[a + 1])
                d = float(np.hypot(dx, dy))
                if best is None or d < best[0]:
                    best = (d, f"r{a}{b}")
        out[k] = best[1]  # type: ignore[index]
    return out


@pytest.mark.parametrize("buffer_m", [0.0, 500.0])
@pytest.mark.parametrize("keep", ["center", "inside", "overlap"])
def test_adjacent_regions_share_one_lattice(tmp_path: Path, buffer_m: float, keep: str) -> None:
    kw = {"buffer_m": buffer_m, "keep": keep}
    single = compute_plan(gh.load_config(_project(tmp_path, multi=False, **kw))).table  # type: ignore[arg-type]
    multi = compute_plan(gh.load_config(_project(tmp_path, multi=True, **kw))).table  # type: ignore[arg-type]
    assert len(single) > 50
    # each lattice point once
    assert not cross_region_duplicates(multi).size
    assert duplicates_line(multi) == (True, "0 cross-region duplicates")
    assert not multi.duplicated(["lattice_i", "lattice_j"]).any()
    # the union of the regions' patches is the single region's
    key = ["lattice_i", "lattice_j"]
    a = set(map(tuple, single[key].to_numpy().tolist()))
    b = set(map(tuple, multi[key].to_numpy().tolist()))
    assert a == b, (len(a - b), len(b - a))
    # in the region that contains it (half-open), or the nearest one
    expect = _expected_owner(multi["center_x"].to_numpy(), multi["center_y"].to_numpy())
    wrong = multi.loc[multi["region"].to_numpy() != expect, ["patch_id", "center_x", "center_y"]]
    assert wrong.empty, wrong.head()
    # centres on shared borders exist, so the half-open rule was exercised
    xs, _ = _edges()
    on_x = np.isin(multi["center_x"].to_numpy(), xs[1:3])
    assert on_x.sum() >= 3
    # identical windows to the single-region plan for the same lattice point
    m = single.merge(multi, on=key, suffixes=("_s", "_m"))
    assert np.array_equal(m["ref_col_off_s"], m["ref_col_off_m"])
    # regions_touched names the owner whenever the centre is in its buffered area
    touched = multi["regions_touched"].str.split(",")
    inside = multi["regions_touched"] != ""
    assert all(r in t for r, t in zip(multi["region"][inside], touched[inside], strict=True))
    if buffer_m:
        assert (touched.str.len() > 1).sum() > 10  # buffers overlap neighbours


def test_buffered_neighbours_list_every_region_touched(tmp_path: Path) -> None:
    cfg = gh.load_config(_project(tmp_path, multi=True, buffer_m=500.0, keep="center"))
    t = compute_plan(cfg).table
    # every owned centre is in its own area; cells are 640 m, buffers 500 m: the centre
    # cell's points are inside all nine buffered areas near the middle
    touched = t["regions_touched"].str.split(",")
    assert all(r in x for r, x in zip(t["region"], touched, strict=True))
    assert touched.str.len().max() == 9
    outer = t.loc[~t["regions_touched"].str.contains("r11")]
    assert len(outer) and (outer["region"] != "r11").all()


@settings(max_examples=60, deadline=None)
@given(
    xs=st.lists(st.integers(-5, 25), min_size=1, max_size=40),
    ys=st.lists(st.integers(-5, 25), min_size=1, max_size=40),
)
def test_owners_property_on_a_partition(xs: list[int], ys: list[int]) -> None:
    n = min(len(xs), len(ys))
    x = np.array(xs[:n], float) / 2.0
    y = np.array(ys[:n], float) / 2.0
    # a 2 x 2 partition of [0, 10]^2 with edges at 5: integer/2 points hit edges often
    cells = [
        shapely.box(0, 0, 5, 5),
        shapely.box(5, 0, 10, 5),
        shapely.box(0, 5, 5, 10),
        shapely.box(5, 5, 10, 10),
    ]
    got = owners(x, y, cells)
    inside = (x >= 0) & (x < 10) & (y >= 0) & (y < 10)
    half_open = (x >= 5).astype(int) + 2 * (y >= 5).astype(int)
    assert np.array_equal(got[inside], half_open[inside])
    # outside: the nearest cell (ties: the first)
    d = np.array([shapely.distance(c, shapely.points(x, y)) for c in cells])
    assert np.array_equal(got[~inside], np.argmin(d, axis=0)[~inside])


def test_duplicates_check_reports_duplicates() -> None:
    t = pd.DataFrame(
        {
            "patch_id": ["a_r1_c1", "b_r1_c1", "b_r1_c2"],
            "lattice": ["L", "L", "L"],
            "lattice_i": [1, 1, 1],
            "lattice_j": [1, 1, 2],
        }
    )
    ok, line = duplicates_line(t)
    assert not ok and line.startswith("2 patches share a lattice point") and "a_r1_c1" in line
    t2 = t.assign(lattice=["L", "M", "L"])
    assert duplicates_line(t2)[0]


def test_qa_review_fails_on_duplicates() -> None:
    from geoharmony.qa.checks import ownership_findings

    t = pd.DataFrame(
        {
            "patch_id": ["a_r1_c1", "b_r1_c1"],
            "lattice": ["L", "L"],
            "lattice_i": [1, 1],
            "lattice_j": [1, 1],
        }
    )
    (f,) = ownership_findings(t)
    assert (f.severity, f.code) == ("error", "cross-region-duplicates")  # validate exits 1
    (ok,) = ownership_findings(t.iloc[:1])
    assert (ok.severity, ok.message) == ("note", "0 cross-region duplicates.")
