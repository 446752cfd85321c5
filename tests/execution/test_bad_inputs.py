# ruff: noqa: E501 - the catalogue asserts whole messages, one per line
"""The bad-input catalogue: each case through the installed CLI's ``extract``.

Every case must end with exit 2 and exactly one line on stderr, the exact message asserted
(it names the file or key, the rule, what was found and the fix), no traceback, and
nothing that looks like a dataset: no output folder, and an existing dataset untouched.
``{root}``, ``{cfg}``, ``{data}`` in the expected messages stand for the project folder,
the config file and ``{root}/data``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

from clirun import run_cli
from synth import write_boundary, write_coord_raster

T = Affine(10, 0, 480000, 0, -10, 4460000)
BOX = (480100, 4459500, 480500, 4459900)


def base_tables() -> dict[str, dict[str, str]]:
    return {
        "study_area": {"boundary": '"data/boundary.geojson"'},
        "grid": {"reference": '"dem"', "patch_size": "8", "stride": "8"},
        "modalities.dem": {"path": '"data/dem.tif"'},
        "output": {"path": '"out/ds"', "patches_per_shard": "4"},
    }


def render(tables: dict[str, dict[str, str]]) -> str:
    return "\n".join(
        f"[{t}]\n" + "".join(f"{k} = {v}\n" for k, v in kv.items()) for t, kv in tables.items()
    )


@dataclass
class Case:
    id: str
    expected: str
    tables: Callable[[dict[str, dict[str, str]]], None] | None = None
    files: Callable[[Path], None] | None = None
    text: str | None = None  # the whole config file, instead of tables


def _set(table: str, **kv: str) -> Callable[[dict[str, dict[str, str]]], None]:
    def f(t: dict[str, dict[str, str]]) -> None:
        t.setdefault(table, {}).update(kv)

    return f


def _drop(table: str, key: str) -> Callable[[dict[str, dict[str, str]]], None]:
    def f(t: dict[str, dict[str, str]]) -> None:
        t[table].pop(key)

    return f


def _raster(path: Path, **kw: object) -> None:
    write_coord_raster(path, crs="EPSG:32613", transform=T, width=64, height=64, **kw)  # type: ignore[arg-type]


def _uint16(path: Path) -> None:
    prof = dict(
        driver="GTiff", width=64, height=64, count=1, dtype="uint16", crs="EPSG:32613", transform=T
    )
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(np.ones((1, 64, 64), dtype="uint16"))


def _no_crs(d: Path) -> None:
    prof = dict(driver="GTiff", width=64, height=64, count=1, dtype="float32", transform=T)
    with rasterio.open(d / "nocrs.tif", "w", **prof) as dst:
        dst.write(np.ones((1, 64, 64), dtype="float32"))


def _truncated(d: Path) -> None:
    _raster(d / "big.tif")
    data = (d / "big.tif").read_bytes()
    (d / "big.tif").write_bytes(data[: len(data) // 2])


def _boundary(
    d: Path,
    geoms: list[object],
    crs: object = "EPSG:32613",
    props: list[dict[str, object]] | None = None,
) -> None:
    (d / "boundary.geojson").unlink()
    write_boundary(d / "boundary.geojson", geoms, crs, props)


def _ids(values: list[str]) -> Callable[[Path], None]:
    def f(d: Path) -> None:
        x0, y0, x1, y1 = BOX
        w = (x1 - x0) / len(values)
        geoms = [shapely.box(x0 + k * w, y0, x0 + (k + 1) * w, y1) for k in range(len(values))]
        _boundary(d, geoms, props=[{"hid": v} for v in values])

    return f


def _no_boundary_crs(d: Path) -> None:
    (d / "boundary.geojson").write_text(
        '{"type": "FeatureCollection", "crs": null, "features": [{"type": "Feature", '
        '"properties": {}, "geometry": {"type": "Polygon", "coordinates": '
        "[[[0, 0], [1, 0], [1, 1], [0, 0]]]}}]}"
    )
    # GeoJSON is always WGS 84: use a format without a CRS instead
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(geometry=[shapely.box(*BOX)], crs=None)
    gdf.to_file(d / "nocrs.gpkg", driver="GPKG")


def _complex(path: Path) -> None:
    prof = dict(
        driver="GTiff",
        width=64,
        height=64,
        count=1,
        dtype="complex64",
        crs="EPSG:32613",
        transform=T,
    )
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(np.ones((1, 64, 64), dtype="complex64"))


def _local_crs(path: Path) -> None:
    prof = dict(driver="GTiff", width=64, height=64, count=1, dtype="float32", transform=T)
    with rasterio.open(path, "w", crs='LOCAL_CS["arbitrary",UNIT["metre",1]]', **prof) as dst:
        dst.write(np.ones((1, 64, 64), dtype="float32"))


def _zero_pixel_vrt(d: Path) -> None:
    (d / "zero.vrt").write_text(
        '<VRTDataset rasterXSize="64" rasterYSize="64"><SRS>EPSG:32613</SRS>'
        "<GeoTransform>480000, 0, 0, 4460000, 0, -10</GeoTransform>"
        '<VRTRasterBand dataType="Float32" band="1"><SimpleSource>'
        '<SourceFilename relativeToVRT="1">dem.tif</SourceFilename><SourceBand>1</SourceBand>'
        "</SimpleSource></VRTRasterBand></VRTDataset>"
    )


def _fifo(name: str) -> Callable[[Path], None]:
    import os

    return lambda d: os.mkfifo(d / name)


def _vector_label(**source: str) -> Callable[[dict[str, dict[str, str]]], None]:
    fields = ", ".join(
        f"{k} = {v}" for k, v in {"path": '"data/boundary.geojson"', **source}.items()
    )
    return lambda t: t.update(
        {"labels.v": {"kind": '"vector"', "grid": '"dem"', "sources": f"[{{ {fields} }}]"}}
    )


NAME_RULE = "ASCII letters, digits and _, not starting with a digit, at most 64 characters"


CASES: list[Case] = [
    # -- TOML and the file itself ---------------------------------------------------------
    Case(
        "toml-syntax",
        "{cfg}: not valid TOML (Expected '=' after a key in a key/value pair (at line 3, column 12))",
        text='[study_area]\nboundary = "data/boundary.geojson"\npatch_size 8\n',
    ),
    Case(
        "toml-nesting",
        "{cfg}: not valid TOML (arrays or tables nested too deeply)",
        text="x = " + "[" * 3000 + "]" * 3000 + "\n",
    ),
    Case("not-utf8", "{cfg}: not a UTF-8 text file", text="\udcff"),
    Case(
        "unknown-table",
        "{cfg}: [gird] is not a known key; did you mean 'grid'?",
        tables=lambda t: t.update({"gird": {"x": "1"}}),
    ),
    Case(
        "missing-output",
        "{cfg}: the [output] table is required but missing",
        tables=lambda t: t.pop("output"),
    ),
    # -- [grid] ---------------------------------------------------------------------------
    Case(
        "patch-size-zero",
        "{cfg}: [grid].patch_size must be a positive integer, found 0",
        tables=_set("grid", patch_size="0"),
    ),
    Case(
        "patch-size-float",
        "{cfg}: [grid].patch_size must be int, found float 8.5",
        tables=_set("grid", patch_size="8.5"),
    ),
    Case(
        "patch-size-huge",
        "{cfg}: [grid].patch_size must be at most 65536, found 1000000",
        tables=_set("grid", patch_size="1000000"),
    ),
    Case(
        "stride-bool",
        "{cfg}: [grid].stride must be int, found bool True",
        tables=_set("grid", stride="true"),
    ),
    Case(
        "reference-unknown",
        "{cfg}: [grid].reference must name a modality, found 'dme'; did you mean 'dem'?",
        tables=_set("grid", reference='"dme"'),
    ),
    Case(
        "mode-unknown",
        "{cfg}: [grid].mode must be one of native, footprint, resample, found 'resampled' (did you mean 'resample'?)",
        tables=_set("grid", mode='"resampled"'),
    ),
    Case(
        "min-overlap-nan",
        "{cfg}: [grid].min_overlap must be a finite number, found nan",
        tables=_set("grid", keep='"overlap"', min_overlap="nan"),
    ),
    Case(
        "min-overlap-range",
        "{cfg}: [grid].min_overlap must be a fraction in (0, 1], found 1.5",
        tables=_set("grid", keep='"overlap"', min_overlap="1.5"),
    ),
    # -- [study_area] ---------------------------------------------------------------------
    Case(
        "buffer-inf",
        "{cfg}: [study_area].buffer_m must be a finite number, found inf",
        tables=_set("study_area", buffer_m="inf"),
    ),
    Case(
        "buffer-nan",
        "{cfg}: [study_area].buffer_m must be a finite number, found nan",
        tables=_set("study_area", buffer_m="nan"),
    ),
    Case(
        "boundary-missing",
        "{data}/nope.geojson: boundary file not found ([study_area].boundary); check the path",
        tables=_set("study_area", boundary='"data/nope.geojson"'),
    ),
    Case(
        "boundary-empty-path",
        "{cfg}: [study_area].boundary must be a file path, found ''",
        tables=_set("study_area", boundary='""'),
    ),
    Case(
        "boundary-no-crs",
        "{data}/nocrs.gpkg: the boundary has no CRS; geoharmony never assumes one. Fix: write it with a CRS (e.g. ogr2ogr -a_srs EPSG:4326) or add a .prj file",
        tables=_set("study_area", boundary='"data/nocrs.gpkg"'),
        files=_no_boundary_crs,
    ),
    Case(
        "where-empty",
        "{data}/boundary.geojson: the boundary has no features after [study_area].where = \"hid = 'zzz'\"",
        tables=_set("study_area", where="\"hid = 'zzz'\""),
        files=_ids(["a", "b"]),
    ),
    Case(
        "mixed-geometries",
        "{data}/boundary.geojson: boundary features must be polygons, found a Point; use a polygon layer",
        files=lambda d: _boundary(d, [shapely.box(*BOX), shapely.Point(480300, 4459700)]),
    ),
    Case(
        "id-field-unknown",
        "{data}/boundary.geojson: [study_area].id_field = 'huc' is not an attribute of the boundary; available: hid",
        tables=_set("study_area", id_field='"huc"'),
        files=_ids(["a", "b"]),
    ),
    Case(
        "id-collision",
        "{data}/boundary.geojson: region ids 'a/b' and 'a_b' ([study_area].id_field = 'hid') both become 'a_b' once '/' and '\\' are replaced; make the attribute values distinct",
        tables=_set("study_area", id_field='"hid"'),
        files=_ids(["a/b", "a_b"]),
    ),
    Case(
        "id-dotdot",
        "{data}/boundary.geojson: region id '..' ([study_area].id_field = 'hid') is not usable as a file name ({{id}} in paths would leave the folder); fix the attribute values",
        tables=_set("study_area", id_field='"hid"'),
        files=_ids(["..", "b"]),
    ),
    Case(
        "far-away",
        "{data}/far.tif: the study area does not overlap [modalities.dem] at all: the nearest region ('all') is 49.5 km from the raster's extent (measured in EPSG:32613); check [study_area].boundary and the raster (nothing was written)",
        tables=_set("modalities.dem", path='"data/far.tif"'),
        files=lambda d: write_coord_raster(
            d / "far.tif",
            crs="EPSG:32613",
            transform=Affine(10, 0, 530000, 0, -10, 4460000),
            width=64,
            height=64,
        ),
    ),
    # -- [modalities] ---------------------------------------------------------------------
    Case(
        "modality-mask-name",
        "{cfg}: [modalities.dem_mask] name 'dem_mask' ends with '_mask', reserved for the validity mask stored beside every output (e.g. dem_mask of dem); rename it",
        tables=lambda t: t.update({"modalities.dem_mask": {"path": '"data/dem.tif"'}}),
    ),
    Case(
        "modality-index-name",
        "{cfg}: [modalities.split] name 'split' is reserved (a column of the patch index); rename it",
        tables=lambda t: t.update({"modalities.split": {"path": '"data/dem.tif"'}}),
    ),
    Case(
        "modality-prefix",
        "{cfg}: [modalities.lattice_x] name 'lattice_x' starts with a reserved prefix (patch_, lattice_, center_: index columns); rename it",
        tables=lambda t: t.update({"modalities.lattice_x": {"path": '"data/dem.tif"'}}),
    ),
    Case(
        "categorical-bilinear",
        "{cfg}: [modalities.dem] is categorical but resampling = 'bilinear' would blend class codes; use 'nearest' or 'mode'",
        tables=_set("modalities.dem", categorical="true", resampling='"bilinear"'),
    ),
    Case(
        "id-without-id-field",
        "{cfg}: [modalities.dem].path contains {{id}} but [study_area].id_field is not set; set id_field to the boundary attribute whose values fill {{id}}",
        tables=_set("modalities.dem", path='"data/{id}.tif"'),
    ),
    Case(
        "bands-zero",
        "{cfg}: [modalities.dem].bands must be a non-empty list of 1-based band numbers, found [0]",
        tables=_set("modalities.dem", bands="[0]"),
    ),
    Case(
        "bands-too-many",
        "{data}/dem.tif: [modalities.dem].bands asks for band(s) [3], but the raster has 2 band(s)",
        tables=_set("modalities.dem", bands="[1, 3]"),
    ),
    Case(
        "nodata-inf",
        "{cfg}: [modalities.dem].nodata must be a finite number, found inf",
        tables=_set("modalities.dem", nodata="inf"),
    ),
    Case(
        "nodata-negative-uint16",
        "{data}/u16.tif: [modalities.dem].nodata = -1.0 does not fit the raster's dtype uint16 (nodata must be an integer in 0..65535): cast to 65535, it would mask real pixels; use a value the dtype holds, or remove the key to use the file's nodata",
        tables=_set("modalities.dem", path='"data/u16.tif"', nodata="-1"),
        files=lambda d: _uint16(d / "u16.tif"),
    ),
    Case(
        "nodata-big-uint16",
        "{data}/u16.tif: [modalities.dem].nodata = 70000.0 does not fit the raster's dtype uint16 (nodata must be an integer in 0..65535): cast to 4464, it would mask real pixels; use a value the dtype holds, or remove the key to use the file's nodata",
        tables=_set("modalities.dem", path='"data/u16.tif"', nodata="70000"),
        files=lambda d: _uint16(d / "u16.tif"),
    ),
    Case(
        "nodata-nan-uint16",
        "{data}/u16.tif: [modalities.dem].nodata = nan does not fit the raster's dtype uint16 (nodata must be an integer in 0..65535): cast to undefined, it would mask real pixels; use a value the dtype holds, or remove the key to use the file's nodata",
        tables=_set("modalities.dem", path='"data/u16.tif"', nodata="nan"),
        files=lambda d: _uint16(d / "u16.tif"),
    ),
    Case(
        "nodata-fraction-uint16",
        "{data}/u16.tif: [modalities.dem].nodata = 1.5 does not fit the raster's dtype uint16 (nodata must be an integer in 0..65535): cast to 1, it would mask real pixels; use a value the dtype holds, or remove the key to use the file's nodata",
        tables=_set("modalities.dem", path='"data/u16.tif"', nodata="1.5"),
        files=lambda d: _uint16(d / "u16.tif"),
    ),
    # -- raster files ---------------------------------------------------------------------
    Case(
        "raster-missing",
        "{data}/none.tif: raster not found ([modalities.dem].path); check the path",
        tables=_set("modalities.dem", path='"data/none.tif"'),
    ),
    Case(
        "raster-empty",
        "{data}/empty.tif: the raster file is empty (0 bytes) ([modalities.dem].path)",
        tables=_set("modalities.dem", path='"data/empty.tif"'),
        files=lambda d: (d / "empty.tif").write_bytes(b""),
    ),
    Case(
        "raster-folder",
        "{data}/folder.tif: is a folder, not a raster file ([modalities.dem].path); check the path",
        tables=_set("modalities.dem", path='"data/folder.tif"'),
        files=lambda d: (d / "folder.tif").mkdir(),
    ),
    Case(
        "raster-garbage",
        "{data}/junk.tif: cannot open the raster ([modalities.dem].path): '{data}/junk.tif' not recognized as being in a supported file format.",
        tables=_set("modalities.dem", path='"data/junk.tif"'),
        files=lambda d: (d / "junk.tif").write_bytes(b"not a tiff at all" * 20),
    ),
    Case(
        "raster-no-crs",
        "{data}/nocrs.tif: the raster ([modalities.dem].path) has no CRS; geoharmony never assumes one. Fix: assign it (e.g. gdal_edit.py -a_srs EPSG:XXXX)",
        tables=_set("modalities.dem", path='"data/nocrs.tif"'),
        files=_no_crs,
    ),
    # -- [output] -------------------------------------------------------------------------
    Case(
        "shard-huge",
        "{cfg}: [output].patches_per_shard must be at most 4096, found 100000",
        tables=_set("output", patches_per_shard="100000"),
    ),
    Case(
        "format-unknown",
        "{cfg}: [output].format must be one of zarr, hdf5, webdataset, tfrecord, geotiff, npz, found 'zar' (did you mean 'zarr'?)",
        tables=_set("output", format='"zar"'),
    ),
    Case(
        "output-is-file",
        "{root}/out/ds: the output path is a file, not a folder; choose another [output].path (nothing was written)",
        files=lambda d: ((d.parent / "out").mkdir(), (d.parent / "out" / "ds").write_text("x")),
    ),
    Case(
        "output-parent-is-file",
        "{root}/out/ds: cannot create the output folder: a parent path is a file; choose another [output].path (nothing was written)",
        files=lambda d: (d.parent / "out").write_text("x"),
    ),
    Case(
        "output-not-a-dataset",
        "{root}/out/ds: the output path exists and is not a geoharmony dataset; choose another [output].path (nothing was written)",
        files=lambda d: (
            (d.parent / "out" / "ds").mkdir(parents=True),
            (d.parent / "out" / "ds" / "notes.txt").write_text("mine"),
        ),
    ),
    # -- [split] and [labels] ------------------------------------------------------------
    Case(
        "seed-negative",
        "{cfg}: [split].seed must be a non-negative integer below 2**63, found -1",
        tables=_set("split", seed="-1"),
    ),
    Case(
        "fractions-sum",
        "{cfg}: [split].fractions must be three non-negative numbers (train, val, test) summing to 1, found [0.5, 0.5, 0.5]",
        tables=_set("split", fractions="[0.5, 0.5, 0.5]"),
    ),
    Case(
        "block-nan",
        "{cfg}: [split].block_m must be a finite number, found nan",
        tables=_set("split", by='"block"', block_m="nan"),
    ),
    Case(
        "label-mask-name",
        "{cfg}: [labels.dem_mask] name 'dem_mask' ends with '_mask', reserved for the validity mask stored beside every output (e.g. dem_mask of dem); rename it",
        tables=lambda t: t.update({"labels.dem_mask": {"kind": '"d8"', "dem": '"dem"'}}),
    ),
    Case(
        "label-value-range",
        "{cfg}: [labels.streams.sources[0]].value must be a label code in 1..255, found 300",
        tables=lambda t: t.update(
            {
                "labels.streams": {
                    "kind": '"vector"',
                    "grid": '"dem"',
                    "sources": '[{ path = "data/boundary.geojson", value = 300 }]',
                }
            }
        ),
    ),
    # -- found by an independent review (round 6) ----------------------------------------
    Case(
        "buffer-huge",
        "{cfg}: [study_area].buffer_m must be within +-1,000,000 m (1,000 km), found 1e+308",
        tables=_set("study_area", buffer_m="1e308"),
    ),
    Case(
        "label-buffer-huge",
        "{cfg}: [labels.v.sources[0]].buffer_m must be within +-100,000 m, found 1000000.0",
        tables=_vector_label(buffer_m="1e6"),
    ),
    Case(
        "min-valid-of-empty",
        "{cfg}: [grid].min_valid_of must list at least one modality, found []; remove it to use the reference modality",
        tables=_set("grid", min_valid_fraction="0.5", min_valid_of="[]"),
    ),
    Case(
        "id-null",
        "{data}/boundary.geojson: 1 feature(s) have no value for [study_area].id_field = 'hid' (the first: feature 1); give every feature an id, or drop them with [study_area].where = \"hid IS NOT NULL\"",
        tables=_set("study_area", id_field='"hid"'),
        files=_ids(["a", None]),  # type: ignore[list-item]
    ),
    Case(
        "id-too-long",
        "{data}/boundary.geojson: region id 'aaaaaaaaaaaaaaaaaaaaaaaa'... ([study_area].id_field = 'hid') is 300 bytes long; ids name files, so at most 128: use a shorter attribute",
        tables=_set("study_area", id_field='"hid"'),
        files=_ids(["a" * 300, "b"]),
    ),
    Case(
        "boundary-latitudes",
        "{data}/boundary.geojson: the boundary's CRS (WGS 84) is geographic but its coordinates span (-105, 95) to (-104, 96): latitudes must lie in -90..90; the file's CRS is probably wrong (projected coordinates labelled as degrees?)",
        files=lambda d: _boundary(d, [shapely.box(-105, 95, -104, 96)], crs="EPSG:4326"),
    ),
    Case(
        "boundary-fifo",
        "{data}/fifo.geojson: the boundary file ([study_area].boundary) is a named pipe (FIFO), not a file; give the path of a file on disk",
        tables=_set("study_area", boundary='"data/fifo.geojson"'),
        files=_fifo("fifo.geojson"),
    ),
    Case(
        "modality-unicode-name",
        "{cfg}: [modalities.d\u00e9m] name must be a plain identifier ("
        + NAME_RULE
        + "), found 'd\u00e9m'",
        tables=lambda t: t.update({'modalities."d\u00e9m"': {"path": '"data/dem.tif"'}}),
    ),
    Case(
        "modality-name-long",
        "{cfg}: [modalities."
        + "m" * 70
        + "] name must be a plain identifier ("
        + NAME_RULE
        + "), found '"
        + "m" * 70
        + "'",
        tables=lambda t: t.update({"modalities." + "m" * 70: {"path": '"data/dem.tif"'}}),
    ),
    Case(
        "path-name-too-long",
        "{cfg}: [modalities.dem].path has a file or folder name of 304 bytes ('dddddddddddddddddddddddd'...); a name has at most 255",
        tables=_set("modalities.dem", path='"data/' + "d" * 300 + '.tif"'),
    ),
    Case(
        "raster-fifo",
        "{data}/fifo.tif: the raster ([modalities.dem].path) is a named pipe (FIFO), not a file; give the path of a file on disk",
        tables=_set("modalities.dem", path='"data/fifo.tif"'),
        files=_fifo("fifo.tif"),
    ),
    Case(
        "raster-complex",
        "{data}/cplx.tif: the raster ([modalities.dem].path) holds complex numbers (complex64); patches are real-valued: write its amplitude, phase or real and imaginary parts as real bands first (e.g. gdal_calc.py or a VRT pixel function)",
        tables=_set("modalities.dem", path='"data/cplx.tif"'),
        files=lambda d: _complex(d / "cplx.tif"),
    ),
    Case(
        "raster-zero-pixel-size",
        "{data}/zero.vrt: the raster's geotransform ([modalities.dem].path) has a zero or non-finite pixel size (0, 0, 480000, 0, -10, 4.46e+06); fix the file (gdal_edit.py -a_ullr or -a_gt)",
        tables=_set("modalities.dem", path='"data/zero.vrt"'),
        files=_zero_pixel_vrt,
    ),
    Case(
        "raster-local-crs",
        "{data}/local.tif: [modalities.dem]'s CRS (arbitrary) cannot be related to the CRS of the boundary (EPSG:32613): Error creating Transformer from CRS.; a local or engineering CRS has no transformation: assign the raster its real CRS (gdal_edit.py -a_srs EPSG:XXXX)",
        tables=_set("modalities.dem", path='"data/local.tif"'),
        files=lambda d: _local_crs(d / "local.tif"),
    ),
    Case(
        "lattice-too-large",
        "{cfg}: [grid].stride = 8 px places 156,300,004 candidate patch centres over the study area's extent, more than the 50,000,000 one plan can hold in memory; use a larger [grid].stride or patch_size, or a smaller study area (nothing was written)",
        files=lambda d: _boundary(d, [shapely.box(480000, 3460000, 1480000, 4460000)]),
    ),
    Case(
        "label-source-missing",
        "{data}/nope.gpkg: vector label source not found ([labels.v]); check the path",
        tables=_vector_label(path='"data/nope.gpkg"'),
    ),
    Case(
        "label-where-syntax",
        "{data}/boundary.geojson: cannot read vector label source ([labels.v]): Invalid SQL query for layer 'b'boundary'': 'x = = 1'",
        tables=_vector_label(where='"x = = 1"'),
    ),
    Case(
        "label-value-field-missing",
        "{data}/boundary.geojson: value_field 'nope' is not an attribute of the vector label source ([labels.v]); attributes: none",
        tables=_vector_label(value_field='"nope"'),
    ),
    Case(
        "output-foreign-manifest",
        "{root}/out/ds: the output path exists and is not a geoharmony dataset (its manifest.json is not one of ours); --overwrite replaces only geoharmony datasets: choose another [output].path (nothing was written)",
        files=lambda d: (
            (d.parent / "out" / "ds").mkdir(parents=True),
            (d.parent / "out" / "ds" / "manifest.json").write_text("{}"),
            (d.parent / "out" / "ds" / "notes.txt").write_text("mine"),
        ),
    ),
    Case(
        "coverage-fifo",
        "{cfg}: [labels.v].coverage must be a polygon file; {data}/c.fifo is a named pipe (FIFO)",
        tables=lambda t: (
            _vector_label()(t),
            t["labels.v"].update({"coverage": '"data/c.fifo"'}),
        ),
        files=_fifo("c.fifo"),
    ),
    Case(
        "lock-is-a-folder",
        "{root}/out/.ds.lock: cannot open the output's lock file (Is a directory); remove whatever has that name, or choose another [output].path",
        files=lambda d: (d.parent / "out" / ".ds.lock").mkdir(parents=True),
    ),
    Case(
        "input-inside-output",
        "{root}/out/ds/dem.tif: an input ([modalities.dem]) lies inside the output folder {root}/out/ds, which a run writes and replaces; move the input out of it, or choose another [output].path (nothing was written)",
        tables=_set("modalities.dem", path='"out/ds/dem.tif"'),
        files=lambda d: (
            (d.parent / "out" / "ds").mkdir(parents=True),
            _raster(d.parent / "out" / "ds" / "dem.tif"),
        ),
    ),
    Case(
        "split-file-binary",
        "{cfg}: [split].train must name a UTF-8 text file of region ids (one per line); {data}/dem.tif is not",
        tables=_set("split", by='"region"', train='"data/dem.tif"'),
    ),
    Case(
        "split-file-fifo",
        "{cfg}: [split].train must name a text file of region ids; {data}/train.fifo is a named pipe (FIFO)",
        tables=_set("split", by='"region"', train='"data/train.fifo"'),
        files=_fifo("train.fifo"),
    ),
    Case(
        "raster-geographic-in-metres",
        "{data}/geo.tif: the raster's CRS ([modalities.dem].path) is geographic but its extent is (480000, 4.45936e+06) to (480640, 4.46e+06), not longitudes and latitudes; its CRS is probably wrong: assign the right one (gdal_edit.py -a_srs EPSG:XXXX)",
        tables=_set("modalities.dem", path='"data/geo.tif"'),
        files=lambda d: write_coord_raster(
            d / "geo.tif", crs="EPSG:4326", transform=T, width=64, height=64
        ),
    ),
]

TRUNCATED = Case(
    "raster-truncated", "", tables=_set("modalities.dem", path='"data/big.tif"'), files=_truncated
)


def _project(root: Path) -> Path:
    data = root / "data"
    data.mkdir(parents=True)
    _raster(data / "dem.tif")
    write_boundary(data / "boundary.geojson", [shapely.box(*BOX)], "EPSG:32613")
    return root


def _config(root: Path, case: Case) -> Path:
    cfg = root / "pipeline.toml"
    if case.text is not None:
        cfg.write_bytes(case.text.encode("utf-8", "surrogateescape"))
        return cfg
    tables = base_tables()
    if case.tables:
        case.tables(tables)
    cfg.write_text(render(tables), encoding="utf-8")
    return cfg


def _snapshot(root: Path) -> dict[str, int]:
    out = root / "out"
    if not out.exists():
        return {}
    return {str(p): p.stat().st_size for p in out.rglob("*")} | {".": 1}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, geoharmony_exe: Path) -> None:
    root = _project(tmp_path / "proj")
    if case.files:
        case.files(root / "data")
    cfg = _config(root, case)
    before = _snapshot(root)
    r = run_cli(geoharmony_exe, "--no-progress", "extract", cfg, "--workers", "1")
    expected = "error: " + case.expected.format(root=root, cfg=cfg.resolve(), data=root / "data")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    assert lines == [expected] or (case.id == "not-utf8" and lines[0].startswith(expected)), (
        f"\n got: {lines}\nwant: {expected}"
    )
    assert _snapshot(root) == before, "the failed run changed the output folder"
    assert not list((root / "out").glob(".ds.partial*")) if (root / "out").is_dir() else True


def test_catalogue_is_large_enough() -> None:
    assert len(CASES) + 3 >= 40  # + truncated raster, read-only folder, disk full below


def test_truncated_raster_names_the_file_and_keeps_nothing_complete(
    tmp_path: Path, geoharmony_exe: Path
) -> None:
    root = _project(tmp_path / "proj")
    _truncated(root / "data")
    cfg = _config(root, TRUNCATED)
    r = run_cli(geoharmony_exe, "--no-progress", "extract", cfg, "--workers", "1")
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip().splitlines()
    assert len(line) == 1 and "Traceback" not in r.stderr
    assert line[0].startswith(f"error: {root / 'data' / 'big.tif'}: cannot read pixels ")
    assert "the file is truncated or corrupt, or a source it refers to is missing" in line[0]
    assert not (root / "out" / "ds").exists()
    # the first rows of the file are readable: the task that read them is kept for a rerun
    (partial,) = (root / "out").glob(".ds.partial-*")
    assert line[0].endswith(f"(the work done is kept in {partial})")


def test_a_run_where_no_task_worked_leaves_nothing(tmp_path: Path, geoharmony_exe: Path) -> None:
    root = _project(tmp_path / "proj")
    vrt = root / "data" / "self.vrt"  # every read fails (GDAL: recursion), the header opens
    with rasterio.open(root / "data" / "dem.tif") as src:
        head = src.profile
    vrt.write_text(
        f'<VRTDataset rasterXSize="{head["width"]}" rasterYSize="{head["height"]}">'
        f"<SRS>EPSG:32613</SRS><GeoTransform>{', '.join(map(str, head['transform'].to_gdal()))}"
        '</GeoTransform><VRTRasterBand dataType="Float32" band="1"><SimpleSource>'
        '<SourceFilename relativeToVRT="1">self.vrt</SourceFilename><SourceBand>1</SourceBand>'
        "</SimpleSource></VRTRasterBand></VRTDataset>"
    )
    cfg = _config(root, Case("vrt", "", tables=_set("modalities.dem", path='"data/self.vrt"')))
    r = run_cli(geoharmony_exe, "--no-progress", "extract", cfg, "--workers", "1")
    assert r.returncode == 2, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"error: {vrt}: cannot read pixels "), line
    assert line.endswith(
        "failed, nothing was published: fix the input and rerun (nothing was written)"
    )
    # no task worked: no partial folder is kept, and the folders the run made are gone
    assert not (root / "out").exists()


def _mount_tmpfs(path: Path, size: str, *, ro: bool = False) -> None:
    import subprocess

    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if ro else "")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode})")


def _umount(path: Path) -> None:
    import subprocess

    subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def test_read_only_output_folder(tmp_path: Path, geoharmony_exe: Path) -> None:
    root = _project(tmp_path / "proj")
    ro = tmp_path / "ro"
    _mount_tmpfs(ro, "1m", ro=True)
    try:
        tables = base_tables()
        tables["output"]["path"] = f'"{ro}/ds"'
        cfg = root / "pipeline.toml"
        cfg.write_text(render(tables))
        r = run_cli(geoharmony_exe, "--no-progress", "extract", cfg, "--workers", "1")
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().splitlines() == [
            f"error: {ro}: the output's folder is not writable (read-only file system); "
            "choose a writable [output].path (nothing was written)"
        ]
    finally:
        _umount(ro)


def test_disk_full_then_rerun_after_freeing_space(tmp_path: Path, geoharmony_exe: Path) -> None:
    root = tmp_path / "proj"
    data = root / "data"
    data.mkdir(parents=True)
    big = Affine(10, 0, 480000, 0, -10, 4460000)
    write_coord_raster(data / "dem.tif", crs="EPSG:32613", transform=big, width=200, height=200)
    write_boundary(
        data / "boundary.geojson", [shapely.box(480000, 4458000, 482000, 4460000)], "EPSG:32613"
    )
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "2m")
    try:
        filler = disk / "filler.bin"
        tables = base_tables()
        tables["grid"].update(patch_size="16", stride="16")
        tables["output"].update(path=f'"{disk}/ds"', compression='"none"')
        cfg = root / "pipeline.toml"
        cfg.write_text(render(tables))
        filler.write_bytes(b"\0" * (1700 << 10))  # leaves room for a few shards only
        r = run_cli(geoharmony_exe, "--no-progress", "extract", cfg, "--workers", "1")
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
        assert ": no space left on the device while writing the dataset; " in lines[0]
        assert "free space and rerun the same command to resume" in lines[0]
        assert not (disk / "ds").exists()
        filler.unlink()
        r = run_cli(geoharmony_exe, "--no-progress", "extract", cfg, "--workers", "1")
        assert r.returncode == 0, r.stderr
        r = run_cli(geoharmony_exe, "validate", disk / "ds")
        assert r.returncode == 0, r.stdout + r.stderr
        assert not [p for p in disk.iterdir() if p.name.startswith(".ds.partial")]
    finally:
        _umount(disk)


def test_memory_refused_before_starting(tmp_path: Path, geoharmony_exe: Path) -> None:
    root = _project(tmp_path / "proj")
    tables = base_tables()
    # keep = "overlap" with a tiny min_overlap keeps the one patch over the small region, so
    # the memory check (not the "no patch" refusal) is what stops the run
    tables["grid"].update(patch_size="60000", stride="60000", keep='"overlap"', min_overlap="1e-7")
    cfg = root / "pipeline.toml"
    cfg.write_text(render(tables))
    r = run_cli(geoharmony_exe, "--no-progress", "extract", cfg, "--workers", "1")
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip().splitlines()
    assert len(line) == 1
    per_patch = 2 * 60000 * 60000 * 8 + 60000 * 60000
    assert line[0] == (
        f"error: {cfg.resolve()}: [grid].patch_size = 60000 needs "
        f"{per_patch / 2**30:.1f} GiB of patch arrays per task ({per_patch / 2**20:.1f} MiB per "
        "patch x 1 patches), more than the 8.0 GiB allowed; use a smaller patch_size or "
        "[output].patches_per_shard (nothing was written)"
    )
    assert "nothing was written" in line[0]
    assert not (root / "out" / "ds").exists()
    assert not list((root / "out").glob(".ds.partial*")) if (root / "out").exists() else True


def test_vrt_with_a_missing_source(tmp_path: Path, geoharmony_exe: Path) -> None:
    root = _project(tmp_path / "proj")
    data = root / "data"
    with rasterio.open(data / "dem.tif") as ds:
        w, h, crs, t = ds.width, ds.height, ds.crs.to_wkt(), ds.transform
    bands = "".join(
        f'<VRTRasterBand dataType="Float64" band="{b}"><SimpleSource>'
        '<SourceFilename relativeToVRT="1">moved.tif</SourceFilename>'
        f"<SourceBand>{b}</SourceBand>"
        f'<SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
        f'<DstRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
        "</SimpleSource></VRTRasterBand>"
        for b in (1, 2)
    )
    srs = crs.replace('"', "&quot;")
    (data / "mosaic.vrt").write_text(
        f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}"><SRS>{srs}</SRS>'
        f"<GeoTransform>{t.c}, {t.a}, {t.b}, {t.f}, {t.d}, {t.e}</GeoTransform>{bands}</VRTDataset>"
    )
    tables = base_tables()
    tables["modalities.dem"]["path"] = '"data/mosaic.vrt"'
    cfg = root / "pipeline.toml"
    cfg.write_text(render(tables))
    r = run_cli(geoharmony_exe, "--no-progress", "extract", cfg, "--workers", "1")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith(f"error: {data / 'mosaic.vrt'}: cannot read pixels ")
    assert "or a source it refers to is missing" in lines[0]
    assert not (root / "out" / "ds").exists()


OPTION_CASES = [
    (
        ["--workers", "0"],
        "error: geoharmony extract: Invalid value for '--workers': 0 is not in the range x>=1. "
        "(see geoharmony extract --help)",
    ),
    (
        ["--scheduler", "not an address"],
        "error: --scheduler not an address: cannot connect to a Dask scheduler there (missing "
        "port number in address 'not an address'); check the address (tcp://host:port) and "
        "that the scheduler is running (nothing was written)",
    ),
    (
        ["--no-such-option"],
        "error: geoharmony extract: No such option '--no-such-option'. "
        "(see geoharmony extract --help)",
    ),
]


@pytest.mark.parametrize(("args", "expected"), OPTION_CASES, ids=["workers", "scheduler", "option"])
def test_bad_option_is_one_line(
    args: list[str], expected: str, tmp_path: Path, geoharmony_exe: Path
) -> None:
    root = _project(tmp_path / "proj")
    cfg = _config(root, Case("ok", ""))
    r = run_cli(geoharmony_exe, "--no-progress", "extract", cfg, *args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [expected]
    assert not (root / "out").exists()


@pytest.mark.parametrize(
    ("damage", "file", "why"),
    [
        ("truncate", "plan.json", "line 1 column"),
        ("list", "plan.json", "'list' object has no attribute"),
        ("delete", "index.parquet", "missing"),
        ("truncate", "index.parquet", "Parquet"),
        ("null", "manifest.json", "not a geoharmony manifest (no store format)"),
    ],
)
def test_damaged_dataset_info_exit_2_validate_exit_1(
    damage: str, file: str, why: str, tmp_path: Path, geoharmony_exe: Path
) -> None:
    root = _project(tmp_path / "proj")
    cfg = _config(root, Case("ok", ""))
    assert run_cli(geoharmony_exe, "--no-progress", "extract", cfg).returncode == 0
    ds = root / "out" / "ds"
    target = ds / file
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    elif damage == "list":
        target.write_text("[1, 2]")
    elif damage == "null":
        target.write_text("null")
    else:
        target.unlink()
    head = f"error: {target}: cannot be read ("
    tail = "; the dataset is damaged: extract it again (geoharmony extract CONFIG --overwrite)"
    info = run_cli(geoharmony_exe, "info", ds)
    assert info.returncode == 2, info.stderr
    (line,) = info.stderr.strip().splitlines()
    assert line.startswith(head) and why in line and line.endswith(tail), line
    val = run_cli(geoharmony_exe, "validate", ds)
    assert val.returncode == 1, val.stderr
    assert "Traceback" not in val.stderr and why in val.stderr + val.stdout


def test_centres_never_overwrite_an_input(tmp_path: Path, geoharmony_exe: Path) -> None:
    root = _project(tmp_path / "proj")
    cfg = _config(root, Case("ok", ""))
    boundary = root / "data" / "boundary.geojson"
    before = boundary.read_bytes()
    r = run_cli(geoharmony_exe, "centers", cfg, "--out", boundary)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"error: --out {boundary}: is an input of the configuration ([boundary]); writing the "
        "centres there would replace it: choose another path (nothing was written)"
    ]
    assert boundary.read_bytes() == before


def test_validate_a_dataset_whose_store_is_gone(tmp_path: Path, geoharmony_exe: Path) -> None:
    import shutil

    root = _project(tmp_path / "proj")
    cfg = _config(root, Case("ok", ""))
    assert run_cli(geoharmony_exe, "--no-progress", "extract", cfg).returncode == 0
    ds = root / "out" / "ds"
    shutil.rmtree(ds / "patches.zarr")
    r = run_cli(geoharmony_exe, "validate", ds)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"{ds / 'patches.zarr'}: cannot be read (missing); the dataset is damaged" in r.stdout
