"""Fuzz ``load_config``: thousands of mutated configurations load or raise ConfigError.

Two mutation levels: the TOML text (bytes inserted, deleted, replaced: syntax errors,
bad escapes, deep nesting) and the parsed structure (values swapped for other types,
extreme numbers, NaN/inf, empty or odd strings, nested tables and lists, keys removed
or added). Nothing else may escape: no RecursionError, OSError, TypeError, ...
"""

from __future__ import annotations

import contextlib
import copy
import math
from pathlib import Path
from typing import Any

import pytest
import shapely
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geoharmony.errors import ConfigError
from geoharmony.planning.config import config_from_dict, load_config
from synth import write_boundary, write_coord_raster

BASE: dict[str, Any] = {
    "study_area": {"boundary": "data/b.geojson", "buffer_m": 10.0},
    "grid": {"reference": "dem", "patch_size": 8, "stride": 8, "mode": "native"},
    "modalities": {
        "dem": {"path": "data/dem.tif"},
        "sar": {"path": "data/dem.tif", "bands": [1, 2], "nodata": -9999.0},
    },
    "output": {"path": "out/ds", "patches_per_shard": 4},
    "split": {"by": "block", "fractions": [0.8, 0.1, 0.1], "seed": 1, "block_m": 100.0},
    "labels": {"flow": {"kind": "d8", "dem": "dem"}},
}

TEXT = """
[study_area]
boundary = "data/b.geojson"
buffer_m = 10.0

[grid]
reference = "dem"
patch_size = 8
stride = 8

[modalities.dem]
path = "data/dem.tif"

[modalities.sar]
path = "data/dem.tif"
bands = [1, 2]
nodata = -9999.0

[output]
path = "out/ds"
patches_per_shard = 4

[split]
by = "block"
fractions = [0.8, 0.1, 0.1]
seed = 1
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "data").mkdir()
    t = Affine(10, 0, 480000, 0, -10, 4460000)
    write_coord_raster(root / "data" / "dem.tif", crs=32613, transform=t, width=32, height=32)
    write_boundary(
        root / "data" / "b.geojson", [shapely.box(480050, 4459750, 480250, 4459950)], 32613
    )
    return root


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 2**63, 65537, 1e308, -0.0, math.nan, math.inf]),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "..",
            "/",
            "\x00",
            "{id}",
            "a" * 5000,
            "nearest",
            "bilinear",
            "dem",
            "block",
            "region",
            "zarr",
            "overlap",
            "center",
            "resample",
            "data/dem.tif",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(d: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(d, dict):
        for k, v in d.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    cfg = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(cfg)[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = cfg
        for k in path[:-1]:
            parent = parent[k]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(values)
    return cfg


def _clean(v: Any) -> Any:  # tomllib never yields None: drop them as TOML would
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_clean(x) for x in v if x is not None]
    return v


@settings(
    max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cfg=mutated())
def test_mutated_structures_load_or_raise_config_error(project: Path, cfg: dict[str, Any]) -> None:
    with contextlib.suppress(ConfigError):
        config_from_dict(_clean(cfg), source=project / "pipeline.toml")


@settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, len(TEXT)),
            st.integers(0, 6),
            st.text(
                alphabet=st.sampled_from(list("[]{}\"'=#.,\\\n 0123456789abcinfnaeE+-_")),
                max_size=6,
            ),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_text_loads_or_raises_config_error(
    project: Path, tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[int, int, str]]
) -> None:
    text = TEXT
    for pos, n, ins in edits:
        pos = min(pos, len(text))
        text = text[:pos] + ins + text[pos + n :]
    path = project / "pipeline.toml"
    path.write_text(text, encoding="utf-8")
    with contextlib.suppress(ConfigError):
        load_config(path)


def test_deeply_nested_toml_is_a_config_error(project: Path) -> None:
    path = project / "deep.toml"
    path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(path)
