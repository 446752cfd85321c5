"""Configuration validation (issue 2, part 4): every bad config names the file and the key."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import shapely
from affine import Affine

import geoharmony as gh
from geoharmony.errors import ConfigError, GeoharmonyError, InputError
from synth import write_boundary, write_config, write_coord_raster

VALID = {
    "study_area": 'boundary = "data/boundary.geojson"',
    "grid": 'reference = "dem"\npatch_size = 8\nstride = 8\nmode = "native"\nkeep = "center"',
    "modalities.dem": 'path = "data/dem.tif"',
    "modalities.sar": 'path = "data/dem.tif"\nbands = [1, 2]',
    "output": 'path = "out/ds"',
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with ``data/dem.tif`` (2 bands, UTM 13N) and ``data/boundary.geojson``."""
    data = tmp_path / "proj" / "data"
    data.mkdir(parents=True)
    t = Affine(10, 0, 480000, 0, -10, 4460000)
    write_coord_raster(data / "dem.tif", crs="EPSG:32613", transform=t, width=64, height=64)
    write_boundary(
        data / "boundary.geojson", [shapely.box(480100, 4459500, 480500, 4459900)], "EPSG:32613"
    )
    return tmp_path / "proj"


def _write(project: Path, tables: dict[str, str | None], name: str = "pipeline.toml") -> Path:
    body = "\n".join(f"[{k}]\n{v}\n" for k, v in tables.items() if v is not None)
    return write_config(project / name, body)


def _with(**changes: str | None) -> dict[str, str | None]:
    t: dict[str, str | None] = dict(VALID)
    for k, v in changes.items():
        t[k.replace("__", ".")] = v
    return t


def _load_fails(project: Path, tables: dict[str, str | None], pattern: str) -> ConfigError:
    path = _write(project, tables)
    with pytest.raises(ConfigError, match=pattern) as ei:
        gh.load_config(path)
    msg = str(ei.value)
    assert msg.startswith(str(path.resolve())), f"message does not name the file: {msg}"
    assert "\n" not in msg
    return ei.value


def test_valid_config_loads(project: Path) -> None:
    cfg = gh.load_config(_write(project, VALID))
    assert cfg.grid.patch_size == 8 and cfg.grid.reference == "dem"
    assert list(cfg.modalities) == ["dem", "sar"]
    assert cfg.modalities["sar"].bands == (1, 2)


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        (
            {"grid": "patch_sise = 8"},
            r"\[grid\]\.patch_sise is not a known key; did you mean 'patch_size'\?",
        ),
        (
            {"grid": 'patch_size = 8\nrefrence = "dem"'},
            r"\[grid\]\.refrence .*did you mean 'reference'\?",
        ),
        (
            {"modalities__dem": 'path = "data/dem.tif"\nbnads = [1]'},
            r"\[modalities\.dem\]\.bnads .*did you mean 'bands'\?",
        ),
        (
            {"study_area": 'boundry = "data/boundary.geojson"'},
            r"\[study_area\]\.boundry .*did you mean 'boundary'\?",
        ),
        ({"output": 'path = "o"\nformt = "zarr"'}, r"\[output\]\.formt .*did you mean 'format'\?"),
        (
            {"grid": "patch_size = 8\nzzz = 1"},
            r"\[grid\]\.zzz is not a known key; valid keys: reference, patch_size",
        ),
    ],
)
def test_unknown_keys_are_refused_with_a_suggestion(
    project: Path, changes: dict[str, str], pattern: str
) -> None:
    _load_fails(project, _with(**changes), pattern)


def test_unknown_table_is_refused_with_a_suggestion(project: Path) -> None:
    tables = _with()
    tables["grdi"] = "patch_size = 3"
    _load_fails(project, tables, r"\[grdi\] is not a known key; did you mean 'grid'\?")


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"grid": 'patch_size = "224"'}, r"\[grid\]\.patch_size must be int, found str '224'"),
        ({"grid": "patch_size = 224.0"}, r"\[grid\]\.patch_size must be int, found float 224\.0"),
        ({"grid": "patch_size = true"}, r"\[grid\]\.patch_size must be int, found bool True"),
        ({"grid": "patch_size = 0"}, r"\[grid\]\.patch_size must be a positive integer, found 0"),
        ({"grid": "patch_size = -4"}, r"\[grid\]\.patch_size must be a positive integer, found -4"),
        (
            {"grid": "patch_size = 8\nstride = 1.5"},
            r"\[grid\]\.stride must be int, found float 1\.5",
        ),
        (
            {"grid": 'patch_size = 8\nmode = "fotprint"'},
            r"\[grid\]\.mode must be one of native, footprint, resample, found 'fotprint' "
            r"\(did you mean 'footprint'\?\)",
        ),
        ({"grid": "patch_size = 8\nkeep = 3"}, r"\[grid\]\.keep must be str, found int 3"),
        (
            {"grid": 'patch_size = 8\nkeep = "all"'},
            r"\[grid\]\.keep must be one of center, inside, overlap, found 'all'",
        ),
        (
            {"grid": "patch_size = 8\nreference = 1"},
            r"\[grid\]\.reference must be str, found int 1",
        ),
        ({"modalities__dem": "path = 5"}, r"\[modalities\.dem\]\.path must be str, found int 5"),
        (
            {"modalities__dem": 'path = "x.tif"\nbands = [0]'},
            r"\[modalities\.dem\]\.bands must be a non-empty list of 1-based band numbers, "
            r"found \[0\]",
        ),
        (
            {"modalities__dem": 'path = "x.tif"\nbands = []'},
            r"\[modalities\.dem\]\.bands must be a non-empty list",
        ),
        (
            {"modalities__dem": 'path = "x.tif"\nbands = 1'},
            r"\[modalities\.dem\]\.bands must be list, found int 1",
        ),
        (
            {"modalities__dem": 'path = "x.tif"\nbands = [true]'},
            r"\[modalities\.dem\]\.bands must be a non-empty list",
        ),
        (
            {"modalities__dem": 'path = "x.tif"\ncategorical = "yes"'},
            r"\[modalities\.dem\]\.categorical must be bool, found str 'yes'",
        ),
        (
            {"modalities__dem": 'path = "x.tif"\nresampling = "lanczos"'},
            r"\[modalities\.dem\]\.resampling must be one of nearest, bilinear",
        ),
        (
            {"study_area": 'boundary = "b.geojson"\nbuffer_m = "10"'},
            r"\[study_area\]\.buffer_m must be int or float, found str '10'",
        ),
        ({"study_area": "boundary = 1"}, r"\[study_area\]\.boundary must be str, found int 1"),
        (
            {"output": 'path = "o"\nformat = "parquet"'},
            r"\[output\]\.format must be one of zarr, hdf5, webdataset, tfrecord, geotiff, npz, "
            r"found 'parquet'",
        ),
        (
            {"output": 'path = "o"\npatches_per_shard = 0'},
            r"\[output\]\.patches_per_shard must be a positive integer",
        ),
        ({"grid": "[1, 2]"}, r": not valid TOML \(Expected"),
    ],
)
def test_wrong_types_and_values(project: Path, changes: dict[str, str], pattern: str) -> None:
    _load_fails(project, _with(**changes), pattern)


def test_table_of_wrong_type(project: Path) -> None:
    path = write_config(
        project / "pipeline.toml",
        'grid = 5\n[study_area]\nboundary = "b"\n'
        '[modalities.dem]\npath = "x"\n[output]\npath = "o"\n',
    )
    with pytest.raises(ConfigError, match=r"\[grid\] must be a table, found int 5"):
        gh.load_config(path)


@pytest.mark.parametrize("table", ["study_area", "grid", "modalities", "output"])
def test_missing_tables(project: Path, table: str) -> None:
    tables = _with()
    for k in list(tables):
        if k == table or k.startswith(f"{table}."):
            tables[k] = None
    _load_fails(project, tables, rf"the \[{table}\] table is required but missing")


def test_modalities_without_any_modality(project: Path) -> None:
    tables = _with(modalities__dem=None, modalities__sar=None)
    tables["modalities"] = ""
    _load_fails(
        project, tables, r"\[modalities\] must hold at least one \[modalities\.NAME\] table"
    )


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"grid": "stride = 8"}, r"\[grid\]\.patch_size is required but missing"),
        ({"modalities__dem": "bands = [1]"}, r"\[modalities\.dem\]\.path is required but missing"),
        ({"study_area": "buffer_m = 10"}, r"\[study_area\]\.boundary is required but missing"),
        ({"output": 'format = "zarr"'}, r"\[output\]\.path is required but missing"),
    ],
)
def test_missing_required_keys(project: Path, changes: dict[str, str], pattern: str) -> None:
    _load_fails(project, _with(**changes), pattern)


def test_reference_naming_an_unknown_modality(project: Path) -> None:
    _load_fails(
        project,
        _with(grid='reference = "dme"\npatch_size = 8'),
        r"\[grid\]\.reference must name a modality, found 'dme'; did you mean 'dem'\?",
    )
    _load_fails(
        project,
        _with(grid='reference = "optical"\npatch_size = 8'),
        r"\[grid\]\.reference must name a modality, found 'optical'; defined: dem, sar",
    )


def test_min_overlap_needs_keep_overlap(project: Path) -> None:
    _load_fails(
        project,
        _with(grid="patch_size = 8\nmin_overlap = 0.5"),
        r"\[grid\]\.min_overlap only applies with keep = 'overlap', but keep = 'center'",
    )
    _load_fails(
        project,
        _with(grid='patch_size = 8\nkeep = "inside"\nmin_overlap = 0.5'),
        r"\[grid\]\.min_overlap only applies with keep = 'overlap', but keep = 'inside'",
    )
    for bad in ("0", "0.0", "1.5", "-0.1"):
        _load_fails(
            project,
            _with(grid=f'patch_size = 8\nkeep = "overlap"\nmin_overlap = {bad}'),
            r"\[grid\]\.min_overlap must be a fraction in \(0, 1\]",
        )
    cfg = gh.load_config(
        _write(project, _with(grid='patch_size = 8\nkeep = "overlap"\nmin_overlap = 1'))
    )
    assert cfg.grid.min_overlap == 1.0 and cfg.grid.keep == "overlap"


def test_modality_name_must_be_an_identifier(project: Path) -> None:
    tables = _with()
    tables['modalities."my-dem"'] = 'path = "data/dem.tif"'
    _load_fails(project, tables, r"\[modalities\.my-dem\] name must be a plain identifier")


def test_split_fractions_must_sum_to_one(project: Path) -> None:
    tables = _with()
    tables["split"] = "fractions = [0.8, 0.1, 0.2]"
    _load_fails(
        project, tables, r"\[split\]\.fractions must be three non-negative numbers .* summing to 1"
    )


def test_config_file_not_found_or_not_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        gh.load_config(tmp_path / "nope.toml")
    bad = write_config(tmp_path / "bad.toml", "[grid\npatch_size = 3\n")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(bad.resolve()))}: not valid TOML"):
        gh.load_config(bad)


# -- errors found when the inputs are opened (InputError, still exit code 2) ---------------
def test_boundary_without_crs(project: Path) -> None:
    # a shapefile without .prj has no CRS (GeoJSON would be read as WGS84 by definition)
    import geopandas as gpd

    shp = project / "data" / "nocrs.shp"
    with warnings.catch_warnings():  # pyogrio warns that the file will have no CRS: intended
        warnings.simplefilter("ignore", UserWarning)
        gpd.GeoDataFrame(geometry=[shapely.box(480100, 4459500, 480500, 4459900)]).to_file(shp)
    assert not shp.with_suffix(".prj").exists()
    cfg = gh.load_config(_write(project, _with(study_area='boundary = "data/nocrs.shp"')))
    with pytest.raises(
        InputError, match=r"nocrs\.shp: the boundary has no CRS; geoharmony never assumes one"
    ):
        gh.plan(cfg)


def test_raster_without_crs(project: Path) -> None:
    import rasterio

    with rasterio.open(project / "data" / "dem.tif") as src:
        prof = src.profile | {"crs": None}
        data = src.read()
    with rasterio.open(project / "data" / "nocrs.tif", "w", **prof) as dst:
        dst.write(data)
    cfg = gh.load_config(_write(project, _with(modalities__sar='path = "data/nocrs.tif"')))
    with pytest.raises(
        InputError, match=r"nocrs\.tif: the raster \(\[modalities\.sar\]\.path\) has no CRS"
    ):
        gh.plan(cfg)


def test_missing_boundary_and_raster_files(project: Path) -> None:
    cfg = gh.load_config(_write(project, _with(study_area='boundary = "data/missing.geojson"')))
    with pytest.raises(
        InputError, match=r"missing\.geojson: boundary file not found \(\[study_area\]\.boundary\)"
    ):
        gh.plan(cfg)
    cfg = gh.load_config(_write(project, _with(modalities__sar='path = "data/missing.tif"')))
    with pytest.raises(
        InputError, match=r"missing\.tif: raster not found \(\[modalities\.sar\]\.path\)"
    ):
        gh.plan(cfg)


def test_band_out_of_range(project: Path) -> None:
    cfg = gh.load_config(
        _write(project, _with(modalities__sar='path = "data/dem.tif"\nbands = [1, 3]'))
    )
    with pytest.raises(
        InputError,
        match=r"\[modalities\.sar\]\.bands asks for band\(s\) \[3\], "
        r"but the raster has 2 band\(s\)",
    ):
        gh.plan(cfg)


def test_id_field_must_be_an_attribute(project: Path) -> None:
    cfg = gh.load_config(
        _write(project, _with(study_area='boundary = "data/boundary.geojson"\nid_field = "huc12"'))
    )
    with pytest.raises(
        ConfigError, match=r"\[study_area\]\.id_field = 'huc12' is not an attribute of the boundary"
    ):
        gh.plan(cfg)


def test_input_errors_are_geoharmony_errors() -> None:
    assert issubclass(InputError, GeoharmonyError) and issubclass(ConfigError, GeoharmonyError)


# -- relative paths -----------------------------------------------------------------------
def test_relative_paths_resolve_against_the_config_file(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = project / "configs" / "deep"
    sub.mkdir(parents=True)
    tables = _with(
        study_area='boundary = "../../data/boundary.geojson"',
        modalities__dem='path = "../../data/dem.tif"',
        modalities__sar=f'path = "{(project / "data" / "dem.tif").as_posix()}"',
        output='path = "../out/ds"',
    )
    path = _write(sub, tables)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    rel = Path(path).relative_to(tmp_path)
    cfg = gh.load_config(Path("..") / rel)  # a relative config path, from another folder
    assert cfg.source == path.resolve()
    assert cfg.study_area.boundary.resolve() == (project / "data" / "boundary.geojson").resolve()
    assert Path(cfg.modalities["dem"].path).resolve() == (project / "data" / "dem.tif").resolve()
    assert Path(cfg.modalities["sar"].path) == project / "data" / "dem.tif"
    assert cfg.output.path.resolve() == (project / "configs" / "out" / "ds").resolve()
    for p in (cfg.study_area.boundary, Path(cfg.modalities["dem"].path), cfg.output.path):
        assert p.is_absolute()
    # and the plan really finds the files from the other folder
    centres = gh.plan(cfg)
    assert len(centres) > 0
