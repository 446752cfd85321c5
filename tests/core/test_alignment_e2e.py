"""End-to-end alignment on synthetic rasters whose pixels encode their own coordinates.

Issue 2, part 2. Five rasters in five CRSs (EPSG:4326 with non-square pixels, UTM 13N,
a rotated UTM 12N grid, EPSG:5070 Albers, a custom LAEA without EPSG code) around one
point in Colorado, a boundary with a hole in EPSG:3857, and, for every mode, every
patch and modality:

* the centre decoded from the pixel values is within half a pixel of the patch centre
  transformed into that raster's CRS;
* data and mask equal a direct rasterio read of the nearest-centre window computed here
  (``oracle``), including patches half outside a raster and nodata holes;
* the kept lattice points are exactly those the keep rule selects (checked with shapely
  on every candidate, in the boundary's own CRS).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import CRS, Geod
from rasterio.warp import Resampling, reproject

import geoharmony as gh
from core import oracle
from geoharmony.io.warp import MAX_SPAN
from synth import write_boundary, write_config, write_coord_raster

LON0, LAT0 = -105.40, 40.30
LAEA = "+proj=laea +lat_0=40 +lon_0=-105 +x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs"
BOUNDARY_CRS = "EPSG:3857"
NODATA_HOLES = {
    "utm": [(40, 60, 16, 11)],
    "alb": [(5, 20, 5, 7)],
    "rot": [(70, 30, 11, 7)],
    "laea": [(30, 30, 6, 6)],
    "sup": [(50, 40, 8, 8)],
}


@dataclass
class Scene:
    root: Path
    rasters: dict[str, Path]
    boundary: Path
    polygon: Any  # shapely polygon in EPSG:3857 (with a hole)
    ref_t: Affine


def _xy(crs: Any, lon: float, lat: float) -> tuple[float, float]:
    x, y = oracle.transform("EPSG:4326", crs, [lon], [lat])
    return float(x[0]), float(y[0])


def _geo_sizes(lat: float, rx: float, ry: float) -> tuple[float, float]:
    """Degrees per pixel giving ``rx`` x ``ry`` metres at latitude ``lat`` (WGS84)."""
    geod = Geod(ellps="WGS84")
    d = 1e-4
    _, _, mx = geod.inv(0.0, lat, d, lat)
    _, _, my = geod.inv(0.0, lat, 0.0, lat - d)
    return rx * d / mx, ry * d / my


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    root = tmp_path_factory.mktemp("alignment_scene")
    r: dict[str, Path] = {}
    # reference: UTM 13N, 10 m; ends at +520 m east (the boundary reaches +650 m)
    x, y = _xy("EPSG:32613", LON0, LAT0)
    ref_t = Affine(10, 0, round(x) - 760 + 0.25, 0, -10, round(y) + 760 - 0.5)
    r["utm"] = write_coord_raster(
        root / "utm.tif",
        crs="EPSG:32613",
        transform=ref_t,
        width=128,
        height=152,
        nodata=-9999.0,
        holes=NODATA_HOLES["utm"],
    )
    # Albers 30 m, NaN nodata, covering only the western part
    x, y = _xy("EPSG:5070", LON0, LAT0)
    r["alb"] = write_coord_raster(
        root / "alb.tif",
        crs="EPSG:5070",
        transform=Affine(30, 0, x - 900, 0, -30, y + 900),
        width=40,
        height=60,
        nodata=float("nan"),
        holes=NODATA_HOLES["alb"],
    )
    # geographic, non-square pixels, no nodata (fill 0), missing the southern part
    r["geo"] = write_coord_raster(
        root / "geo.tif",
        crs="EPSG:4326",
        transform=Affine(0.0003, 0, LON0 - 0.012, 0, -0.0002, LAT0 + 0.009),
        width=80,
        height=60,
        nodata=None,
    )
    # UTM 12N (outside its zone), rotated by 20 degrees, 15 x 12 m pixels, nodata -1
    x, y = _xy("EPSG:32612", LON0, LAT0)
    rot_t = (
        Affine.translation(x + 40, y - 30)
        @ Affine.rotation(20)
        @ Affine.scale(15, -12)
        @ Affine.translation(-55, -55)
    )
    r["rot"] = write_coord_raster(
        root / "rot.tif",
        crs="EPSG:32612",
        transform=rot_t,
        width=110,
        height=110,
        nodata=-1.0,
        holes=NODATA_HOLES["rot"],
    )
    # south-up UTM 13N (positive y scale: row 0 is the southern edge), 12 m, nodata -1
    x, y = _xy("EPSG:32613", LON0, LAT0)
    r["sup"] = write_coord_raster(
        root / "sup.tif",
        crs="EPSG:32613",
        transform=Affine(12, 0, x - 500, 0, 12, y - 700),
        width=100,
        height=92,
        nodata=-1.0,
        holes=NODATA_HOLES["sup"],
    )
    # custom LAEA (no EPSG code), 20 m
    x, y = _xy(LAEA, LON0, LAT0)
    r["laea"] = write_coord_raster(
        root / "laea.tif",
        crs=CRS.from_proj4(LAEA),
        transform=Affine(20, 0, x - 700, 0, -20, y + 700),
        width=70,
        height=65,
        nodata=-9999.0,
        holes=NODATA_HOLES["laea"],
    )
    # geographic grid of exactly 30 x 20 m at its centre (footprint mode rounds it)
    clon, clat = LON0 + 0.002, LAT0 - 0.001
    sx, sy = _geo_sizes(clat, 30.0, 20.0)
    r["geofp"] = write_coord_raster(
        root / "geofp.tif",
        crs="EPSG:4326",
        transform=Affine(sx, 0, clon - 25 * sx, 0, -sy, clat + 30 * sy),
        width=50,
        height=60,
        nodata=None,
    )
    # boundary: an irregular polygon with a hole, in Web Mercator
    cx, cy = _xy(BOUNDARY_CRS, LON0, LAT0)
    k = 1 / np.cos(np.radians(LAT0))  # ground metres -> Web Mercator units
    outer = [(-600, -600), (600, -500), (650, 550), (-100, 650), (-620, 200)]
    hole = [(-50, -100), (250, -100), (250, 200), (-50, 200)]
    poly = shapely.Polygon(
        [(cx + k * a, cy + k * b) for a, b in outer], [[(cx + k * a, cy + k * b) for a, b in hole]]
    )
    assert poly.is_valid and len(poly.interiors) == 1
    boundary = write_boundary(root / "boundary.geojson", [poly], BOUNDARY_CRS)
    return Scene(root, r, boundary, poly, ref_t)


def _config(
    scene: Scene,
    out: Path,
    mods: list[str],
    *,
    mode: str,
    patch: int,
    stride: int,
    keep: str = "center",
    min_overlap: float | None = None,
    shard: int = 4,
    ref: str = "utm",
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    mo = f"min_overlap = {min_overlap}\n" if min_overlap is not None else ""
    body = f"""
[study_area]
boundary = "{scene.boundary}"

[grid]
reference = "{ref}"
patch_size = {patch}
stride = {stride}
mode = "{mode}"
keep = "{keep}"
{mo}
[output]
path = "dataset"
patches_per_shard = {shard}
"""
    for m in mods:
        body += f'\n[modalities.{m}]\npath = "{scene.rasters[m]}"\n'
    return write_config(out / "pipeline.toml", body)


# -- the independent lattice / keep-rule oracle -------------------------------------------
def _ref(scene: Scene, ref: str) -> tuple[Affine, CRS]:
    """Transform and CRS of the reference raster, read from the file."""
    with rasterio.open(scene.rasters[ref]) as ds:
        return ds.transform, CRS.from_wkt(ds.crs.to_wkt())


def _candidates(
    scene: Scene, patch: int, stride: int, ref: str = "utm"
) -> tuple[np.ndarray, np.ndarray]:
    """Lattice indices around the boundary (generous margin)."""
    xs, ys = shapely.get_coordinates(shapely.segmentize(scene.polygon.exterior, 20.0)).T
    rt, rcrs = _ref(scene, ref)
    ux, uy = oracle.transform(BOUNDARY_CRS, rcrs, xs, ys)
    c, rr = oracle.inverse(rt, ux, uy)
    j = np.arange(int(np.floor((c.min() - patch) / stride)) - 2, int(np.ceil(c.max() / stride)) + 3)
    i = np.arange(
        int(np.floor((rr.min() - patch) / stride)) - 2, int(np.ceil(rr.max() / stride)) + 3
    )
    ii, jj = np.meshgrid(i, j, indexing="ij")
    return ii.ravel(), jj.ravel()


def expected_lattice(
    scene: Scene,
    patch: int,
    stride: int,
    keep: str,
    min_overlap: float = 0.5,
    eps: float = 1e-3,
    ref: str = "utm",
) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """(definitely kept, ambiguous within ``eps``) lattice points, decided in EPSG:3857."""
    ii, jj = _candidates(scene, patch, stride, ref)
    rt, rcrs = _ref(scene, ref)
    poly = scene.polygon
    edge = poly.boundary
    if keep == "center":
        x, y = oracle.lattice_centres(rt, ii, jj, patch, stride)
        mx, my = oracle.transform(rcrs, BOUNDARY_CRS, x, y)
        pts = shapely.points(mx, my)
        kept = shapely.intersects(poly, pts)
        amb = shapely.distance(edge, pts) < eps
    else:
        c0, r0 = jj * stride, ii * stride
        k = 8
        t = np.arange(k) / k
        uc = np.concatenate([t, np.ones(k), 1 - t, np.zeros(k)]) * patch
        ur = np.concatenate([np.zeros(k), t, np.ones(k), 1 - t]) * patch
        x, y = oracle.forward(rt, c0[:, None] + uc, r0[:, None] + ur)
        mx, my = oracle.transform(rcrs, BOUNDARY_CRS, x.ravel(), y.ravel())
        ring = np.stack([mx.reshape(x.shape), my.reshape(x.shape)], axis=-1)
        polys = shapely.polygons(np.concatenate([ring, ring[:, :1]], axis=1))
        if keep == "inside":
            kept = shapely.covers(poly, polys)
            amb = shapely.distance(edge, shapely.boundary(polys)) < eps
        else:
            frac = shapely.area(shapely.intersection(polys, poly)) / shapely.area(polys)
            kept = frac >= min_overlap
            amb = np.abs(frac - min_overlap) < 1e-4
    pairs = list(zip(ii.tolist(), jj.tolist(), strict=True))
    definite = {p for p, k_, a in zip(pairs, kept, amb, strict=True) if k_ and not a}
    ambiguous = {p for p, a in zip(pairs, amb, strict=True) if a}
    return definite, ambiguous


def _check_lattice(
    index: Any,
    scene: Scene,
    patch: int,
    stride: int,
    keep: str,
    min_overlap: float = 0.5,
    ref: str = "utm",
) -> None:
    got = list(zip(index["lattice_i"].tolist(), index["lattice_j"].tolist(), strict=True))
    assert len(got) == len(set(got)), "a lattice point is present more than once"
    assert index["patch_id"].is_unique
    definite, ambiguous = expected_lattice(scene, patch, stride, keep, min_overlap, ref=ref)
    got_s = set(got)
    assert definite <= got_s, f"missing lattice points: {sorted(definite - got_s)[:10]}"
    extra = got_s - definite - ambiguous
    assert not extra, f"lattice points kept although the rule rejects them: {sorted(extra)[:10]}"
    assert len(definite) > 20


# -- tests ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("keep", "min_overlap", "patch", "stride"),
    [
        ("center", None, 20, 10),
        ("inside", None, 20, 10),
        ("overlap", None, 20, 10),
        ("overlap", 0.25, 13, 7),
        ("overlap", 0.9, 16, 16),
        ("center", None, 1, 3),
    ],
)
def test_keep_rules_match_shapely_on_every_candidate(
    scene: Scene, tmp_path: Path, keep: str, min_overlap: float | None, patch: int, stride: int
) -> None:
    cfg = gh.load_config(
        _config(
            scene,
            tmp_path,
            ["utm"],
            mode="native",
            patch=patch,
            stride=stride,
            keep=keep,
            min_overlap=min_overlap,
        )
    )
    centres = gh.plan(cfg)
    _check_lattice(centres, scene, patch, stride, keep, 0.5 if min_overlap is None else min_overlap)
    # the hole: with keep = center no centre falls in it; with inside no window touches it
    hole = shapely.Polygon(scene.polygon.interiors[0])
    x, y = oracle.lattice_centres(
        scene.ref_t, centres["lattice_i"], centres["lattice_j"], patch, stride
    )
    mx, my = oracle.transform("EPSG:32613", BOUNDARY_CRS, x, y)
    if keep in ("center", "inside"):
        assert not shapely.contains_xy(hole, mx, my).any()


def _check_dataset(
    scene: Scene,
    out: Path,
    mods: list[str],
    *,
    mode: str,
    patch: int,
    stride: int,
    sizes: dict[str, tuple[int, int]],
    ref_name: str = "utm",
) -> dict[str, Any]:
    rt, rcrs = _ref(scene, ref_name)
    ds = gh.open_dataset(out)
    idx = ds.index.sort_values("patch_index").reset_index(drop=True)
    assert list(idx["patch_index"]) == list(range(len(ds)))
    n = len(ds)
    assert n == len(idx) > 20
    # the index: GeoParquet in EPSG:4326, one row per patch, the contract's columns
    assert idx.crs.to_epsg() == 4326
    for col in ("patch_id", "region", "lon", "lat", "split"):
        assert col in idx.columns, col
    for m in mods:
        for col in ("footprint", "col_off", "row_off", "offset_m", "valid_fraction"):
            assert f"{m}_{col}" in idx.columns, f"{m}_{col}"
        assert idx[f"{m}_footprint"].crs.to_epsg() == 4326
    np.testing.assert_allclose(idx.geometry.x, idx["lon"], atol=1e-12)
    _check_lattice(idx, scene, patch, stride, "center", ref=ref_name)
    ii, jj = idx["lattice_i"].to_numpy(), idx["lattice_j"].to_numpy()
    cx, cy = oracle.lattice_centres(rt, ii, jj, patch, stride)
    lon, lat = oracle.transform(rcrs, "EPSG:4326", cx, cy)
    np.testing.assert_allclose(idx["lon"], lon, rtol=0, atol=1e-9)
    np.testing.assert_allclose(idx["lat"], lat, rtol=0, atol=1e-9)
    stats: dict[str, Any] = {}
    ref = oracle.Source(scene.rasters[ref_name])
    for m in mods:
        src = oracle.Source(scene.rasters[m])
        w, h = sizes[m]
        data = ds.store.read(m, slice(None))
        mask = ds.store.read(f"{m}_mask", slice(None))
        assert data.shape == (n, 2, h, w) and data.dtype == np.float64
        assert mask.shape == (n, h, w) and mask.dtype == np.bool_
        mx, my = oracle.transform(rcrs, src.crs, cx, cy)
        pc, pr = oracle.inverse(src.t, mx, my)  # patch centres in this raster's pixels
        decoded = partial = holes = own = 0
        if mode != "resample":
            col_off, row_off = src.windows(mx, my, w, h)
            np.testing.assert_array_equal(idx[f"{m}_col_off"], col_off)
            np.testing.assert_array_equal(idx[f"{m}_row_off"], row_off)
            np.testing.assert_allclose(idx[f"{m}_dcol"], col_off + w / 2 - pc, atol=1e-6)
            np.testing.assert_allclose(idx[f"{m}_drow"], row_off + h / 2 - pr, atol=1e-6)
            # the alignment offset in metres: window centre to patch centre, on the ground
            wx, wy = oracle.forward(src.t, col_off + w / 2, row_off + h / 2)
            if src.crs.is_geographic:
                _, _, dist = Geod(ellps="WGS84").inv(mx, my, wx, wy)
            else:
                dist = np.hypot(wx - mx, wy - my)
            np.testing.assert_allclose(idx[f"{m}_offset_m"], dist, rtol=1e-6, atol=1e-6)
            for k in range(n):
                want, valid = src.read(int(col_off[k]), int(row_off[k]), w, h)
                assert oracle.equal_data(data[k], want), (
                    f"{m} patch {idx['patch_id'][k]}: data differ"
                )
                assert np.array_equal(mask[k], valid), (
                    f"{m} patch {idx['patch_id'][k]}: mask differs"
                )
                # the centre decoded from the pixel values, in this raster's own pixels
                c = oracle.central(data[k], mask[k])
                if c is not None:
                    dc, dr = oracle.inverse(src.t, [c[0]], [c[1]])
                    assert abs(dc[0] - pc[k]) <= 0.5 + 1e-6, (m, k, dc[0] - pc[k])
                    assert abs(dr[0] - pr[k]) <= 0.5 + 1e-6, (m, k, dr[0] - pr[k])
                    decoded += 1
                inside = src.inside(int(col_off[k]), int(row_off[k]), w, h)
                partial += bool(inside.any() and not inside.all())
                holes += bool((inside & ~valid).any())
        else:
            full = src.ds.read().astype(np.float64)
            if src.flip_rows:  # the oracle's north-up view of a south-up file
                full = np.ascontiguousarray(full[:, ::-1, :])
            if src.nod is not None and not np.isnan(src.nod):
                full[:, (full == src.nod).any(axis=0)] = np.nan
            # 1 where valid, 0 where not or off the raster (a 1-px frame): warped bilinearly
            # it is 1 exactly where the whole kernel was valid. GDAL alone renormalises the
            # weights of partly valid kernels (at holes and in the half pixel along a raster's
            # edge); geoharmony marks such pixels invalid, so the mask is "whole kernel valid".
            ones = np.pad(np.isfinite(full).all(axis=0).astype(np.float64), 1)[None]
            ones_t = src.t @ Affine.translation(-1, -1)
            kw = {"src_crs": src.crs.to_wkt(), "dst_crs": ref.crs.to_wkt()}
            # one source pixel's size along each CRS axis (the values are CRS coordinates)
            pixel_x, pixel_y = float(np.hypot(src.t.a, src.t.b)), float(np.hypot(src.t.d, src.t.e))
            for k in range(n):
                # the same destination grid as the patch (GDAL's approximate transformer
                # makes a warp onto a larger grid differ by up to ~0.1 source pixel)
                dst_t = rt @ Affine.translation(jj[k] * stride, ii[k] * stride)
                want = np.full((2, patch, patch), np.nan)
                reproject(
                    full,
                    want,
                    src_transform=src.t,
                    dst_transform=dst_t,
                    src_nodata=np.nan,
                    dst_nodata=np.nan,
                    resampling=Resampling.bilinear,
                    **kw,
                )
                kern = np.zeros((1, patch, patch))
                reproject(
                    ones,
                    kern,
                    src_transform=ones_t,
                    dst_transform=dst_t,
                    resampling=Resampling.bilinear,
                    **kw,
                )
                valid = np.isfinite(want).all(axis=0) & (np.abs(kern[0] - 1) <= 1e-6)
                assert np.array_equal(mask[k], valid), (
                    f"{m} patch {idx['patch_id'][k]}: mask differs"
                )
                # where a destination pixel spans at most one source pixel (MAX_SPAN)
                # geoharmony applies the kernel itself at each pixel centre's source
                # position: the values, the source coordinates (linear in the pixels,
                # which every kernel reproduces), are within 1e-3 source pixel of PROJ's
                # exact answer and of GDAL's (whose approximate transformer errs by up to
                # ~1e-4 px here); when downsampling, GDAL warps the patch (its widened
                # kernels are not exact on linear data)
                cc, rr = np.meshgrid(np.arange(patch) + 0.5, np.arange(patch) + 0.5)
                ex, ey = oracle.transform(ref.crs, src.crs, *oracle.forward(dst_t, cc, rr))
                ex, ey = np.reshape(ex, cc.shape), np.reshape(ey, cc.shape)
                ec, er = (np.reshape(v, cc.shape) for v in oracle.inverse(src.t, ex, ey))
                span = max(
                    np.hypot(np.diff(ec, axis=1), np.diff(er, axis=1)).max(),
                    np.hypot(np.diff(ec, axis=0), np.diff(er, axis=0)).max(),
                )
                if span > MAX_SPAN:
                    np.testing.assert_allclose(data[k][:, valid], want[:, valid], rtol=0, atol=1e-6)
                else:
                    for band, exact, px in ((0, ex, pixel_x), (1, ey, pixel_y)):
                        np.testing.assert_allclose(
                            data[k][band][valid], exact[valid], rtol=0, atol=1e-3 * px
                        )
                    atol = 1e-3 * max(pixel_x, pixel_y)
                    np.testing.assert_allclose(data[k][:, valid], want[:, valid], rtol=0, atol=atol)
                    own += 1
                c = oracle.central(data[k], mask[k])
                if c is not None:  # decoded centre, back in the reference's pixels
                    rx, ry = oracle.transform(src.crs, ref.crs, [c[0]], [c[1]])
                    dc, dr = oracle.inverse(rt, rx, ry)
                    assert abs(dc[0] - (jj[k] * stride + patch / 2)) <= 0.5, (m, k)
                    assert abs(dr[0] - (ii[k] * stride + patch / 2)) <= 0.5, (m, k)
                    decoded += 1
                partial += bool(valid.any() and not valid.all())
        stats[m] = {"decoded": decoded, "partial": partial, "holes": holes, "own": own}
        assert decoded >= n // 4, f"{m}: only {decoded} of {n} centres could be decoded"
        # valid fraction recorded in the index
        np.testing.assert_allclose(
            idx[f"{m}_valid_fraction"], mask.reshape(n, -1).mean(axis=1), atol=1e-6
        )
        src.close()
    ref.close()
    # ds[i] is the same as the store rows
    for k in (0, n // 2, n - 1):
        sample = ds[k]
        for m in mods:
            assert oracle.equal_data(sample[m], ds.store.read(m, k))
            assert np.array_equal(sample[f"{m}_mask"], ds.store.read(f"{m}_mask", k))
    return stats


# issue 9: a rotated raster is refused in native mode (see test_rotated_refused_unless_resample)
NATIVE = ["utm", "alb", "geo", "sup"]


@pytest.mark.parametrize(("patch", "stride", "workers"), [(5, 7, 1), (6, 6, 2)])
def test_native_mode_alignment(
    scene: Scene, tmp_path: Path, patch: int, stride: int, workers: int
) -> None:
    cfg = gh.load_config(
        _config(scene, tmp_path, NATIVE, mode="native", patch=patch, stride=stride)
    )
    out = gh.extract(cfg, workers=workers, progress=False)
    stats = _check_dataset(
        scene,
        out,
        NATIVE,
        mode="native",
        patch=patch,
        stride=stride,
        sizes={m: (patch, patch) for m in NATIVE},
    )
    # the scene really exercises edges and nodata holes
    for m in ("alb", "geo", "utm"):
        assert stats[m]["partial"] > 0, (m, stats)
    for m in ("alb", "utm", "sup"):
        assert stats[m]["holes"] > 0, (m, stats)
    # lattice points beyond the reference raster's edge are planned too, all invalid
    ds = gh.open_dataset(out)
    utm_mask = ds.store.read("utm_mask", slice(None))
    assert (~utm_mask.reshape(len(ds), -1).any(axis=1)).sum() > 0


def test_footprint_mode_alignment(scene: Scene, tmp_path: Path) -> None:
    mods = ["utm", "alb", "laea", "geofp"]
    cfg = gh.load_config(_config(scene, tmp_path, mods, mode="footprint", patch=6, stride=8))
    sizes = {"utm": (6, 6), "alb": (2, 2), "laea": (3, 3), "geofp": (2, 3)}
    out = gh.extract(cfg, workers=1, progress=False)
    stats = _check_dataset(scene, out, mods, mode="footprint", patch=6, stride=8, sizes=sizes)
    assert stats["alb"]["partial"] > 0 and stats["laea"]["holes"] > 0
    # footprints: same ground size for every modality (to the rounding of geofp)
    idx = gh.open_dataset(out).index
    geod = Geod(ellps="WGS84")
    areas = {
        m: np.array([abs(geod.geometry_area_perimeter(p)[0]) for p in idx[f"{m}_footprint"]])
        for m in mods
    }
    for m in mods:
        np.testing.assert_allclose(areas[m], 3600.0, rtol=2e-3)


def test_footprint_mode_refuses_geographic_pixels_that_are_not_whole(
    scene: Scene, tmp_path: Path
) -> None:
    # issue 9: accepted by default (the nearest whole count, footprint_tolerance_px = 0.5);
    # refused only at a strict tolerance
    path = _config(scene, tmp_path, ["utm", "geo"], mode="footprint", patch=6, stride=8)
    assert len(gh.plan(gh.load_config(path))) > 0
    path.write_text(path.read_text().replace("[grid]\n", "[grid]\nfootprint_tolerance_px = 0.01\n"))
    with pytest.raises(
        gh.ConfigError,
        match=r"'geo'.*more than \[grid\]\.footprint_tolerance_px = 0.01 px.*(nest|resample)",
    ):
        gh.plan(gh.load_config(path))


def test_resample_mode_alignment(scene: Scene, tmp_path: Path) -> None:
    mods = ["utm", "alb", "geo", "rot", "laea", "sup"]
    cfg = gh.load_config(_config(scene, tmp_path, mods, mode="resample", patch=6, stride=11))
    out = gh.extract(cfg, workers=1, progress=False)
    stats = _check_dataset(
        scene, out, mods, mode="resample", patch=6, stride=11, sizes={m: (6, 6) for m in mods}
    )
    assert stats["alb"]["partial"] > 0
    # every raster here is as fine as the 10 m reference or coarser: geoharmony's kernels
    assert all(stats[m]["own"] > 0 for m in mods), stats


def test_plan_columns_describe_windows(scene: Scene, tmp_path: Path) -> None:
    """The plan's per-modality columns and footprints are consistent with the oracle."""
    cfg = gh.load_config(_config(scene, tmp_path, NATIVE, mode="native", patch=4, stride=8))
    centres = gh.plan(cfg)
    assert centres.crs.to_epsg() == 4326
    for m in NATIVE:
        src = oracle.Source(scene.rasters[m])
        with rasterio.open(scene.rasters[m]) as ds:
            assert ds.transform == src.t or src.flip_rows  # issue 9: south-up read north-up
        cx, cy = oracle.lattice_centres(
            scene.ref_t, centres["lattice_i"], centres["lattice_j"], 4, 8
        )
        mx, my = oracle.transform("EPSG:32613", src.crs, cx, cy)
        col_off, row_off = src.windows(mx, my, 4, 4)
        # the footprint's corners are the window's corners
        fx, fy = oracle.forward(
            src.t, np.stack([col_off, col_off + 4], 1), np.stack([row_off, row_off + 4], 1)
        )
        lon, lat = oracle.transform(src.crs, "EPSG:4326", fx.ravel(), fy.ravel())
        for k, poly in enumerate(centres[f"{m}_footprint"]):
            verts = np.asarray(poly.exterior.coords)
            for c in ((lon[2 * k], lat[2 * k]), (lon[2 * k + 1], lat[2 * k + 1])):
                assert np.min(np.hypot(verts[:, 0] - c[0], verts[:, 1] - c[1])) < 1e-9
            assert poly.contains(shapely.Point(centres["lon"][k], centres["lat"][k]))
        # the recorded offset in metres is at most half a pixel diagonal
        gx, gy = (abs(src.t.a) + abs(src.t.b)), (abs(src.t.d) + abs(src.t.e))
        if src.crs.is_geographic:
            gx *= 111_320 * np.cos(np.radians(LAT0))
            gy *= 110_950
        assert (centres[f"{m}_offset_m"] <= 0.5 * np.hypot(gx, gy) * 1.01).all()
        src.close()


def test_resample_categorical_is_nearest_neighbour(scene: Scene, tmp_path: Path) -> None:
    """``categorical = true``: every warped pixel is one source pixel, the nearest one."""
    body = _config(scene, tmp_path, ["utm"], mode="resample", patch=6, stride=12).read_text()
    body += f'\n[modalities.cat]\npath = "{scene.rasters["rot"]}"\ncategorical = true\n'
    cfg = gh.load_config(write_config(tmp_path / "pipeline.toml", body))
    assert cfg.modalities["cat"].warp_resampling == "nearest"
    ds = gh.open_dataset(gh.extract(cfg, workers=1, progress=False))
    idx = ds.index.sort_values("patch_index").reset_index(drop=True)
    data = ds.store.read("cat", slice(None))
    mask = ds.store.read("cat_mask", slice(None))
    src = oracle.Source(scene.rasters["rot"])
    cols, rows = np.meshgrid(np.arange(6) + 0.5, np.arange(6) + 0.5)
    checked = 0
    for k in range(len(idx)):
        if not mask[k].any():
            continue
        i, j = int(idx["lattice_i"][k]), int(idx["lattice_j"][k])
        x, y = oracle.forward(scene.ref_t, cols + j * 12, rows + i * 12)
        sx, sy = oracle.transform("EPSG:32613", src.crs, x[mask[k]], y[mask[k]])
        want_c, want_r = oracle.inverse(src.t, sx, sy)  # dest pixel centres, source pixels
        got_c, got_r = oracle.inverse(src.t, data[k, 0][mask[k]], data[k, 1][mask[k]])
        # a source pixel's own value: its centre, at a half-integer position
        np.testing.assert_allclose(got_c % 1, 0.5, atol=1e-6)
        np.testing.assert_allclose(got_r % 1, 0.5, atol=1e-6)
        # the nearest one (GDAL's approximate transformer: up to 1/8 px)
        assert np.all(np.abs(got_c - want_c) <= 0.5 + 0.125)
        assert np.all(np.abs(got_r - want_r) <= 0.5 + 0.125)
        checked += int(mask[k].sum())
    src.close()
    assert checked > 100


def test_native_band_selection_and_internal_mask(scene: Scene, tmp_path: Path) -> None:
    """``bands = [2]`` reads only that band; a GDAL internal mask (no nodata) is honoured."""
    with rasterio.open(scene.rasters["geo"]) as src:
        prof = {**src.profile, "nodata": None}
        data = src.read()
        prof.pop("nodata")
    masked = tmp_path / "masked.tif"
    gdal_mask = np.full(data.shape[1:], 255, np.uint8)
    gdal_mask[10:30, 20:45] = 0
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(masked, "w", **prof) as dst:
        dst.write(data)
        dst.write_mask(gdal_mask)
    body = _config(scene, tmp_path, ["utm"], mode="native", patch=6, stride=6).read_text()
    body += f'\n[modalities.aly]\npath = "{scene.rasters["alb"]}"\nbands = [2]\n'
    body += f'\n[modalities.msk]\npath = "{masked}"\n'
    cfg = gh.load_config(write_config(tmp_path / "pipeline.toml", body))
    ds = gh.open_dataset(gh.extract(cfg, workers=1, progress=False))
    idx = ds.index.sort_values("patch_index").reset_index(drop=True)
    n = len(ds)
    cx, cy = oracle.lattice_centres(scene.ref_t, idx["lattice_i"], idx["lattice_j"], 6, 6)

    aly = oracle.Source(scene.rasters["alb"], bands=[2])
    got, got_m = ds.store.read("aly", slice(None)), ds.store.read("aly_mask", slice(None))
    assert got.shape == (n, 1, 6, 6)
    mx, my = oracle.transform("EPSG:32613", aly.crs, cx, cy)
    c0, r0 = aly.windows(mx, my, 6, 6)
    for k in range(n):
        want, valid = aly.read(int(c0[k]), int(r0[k]), 6, 6)
        assert oracle.equal_data(got[k], want) and np.array_equal(got_m[k], valid)
    aly.close()

    msk = oracle.Source(masked)
    got, got_m = ds.store.read("msk", slice(None)), ds.store.read("msk_mask", slice(None))
    mx, my = oracle.transform("EPSG:32613", msk.crs, cx, cy)
    c0, r0 = msk.windows(mx, my, 6, 6)
    full_mask = msk.ds.dataset_mask() > 0
    masked_px = 0
    for k in range(n):
        want, inside = msk.read(int(c0[k]), int(r0[k]), 6, 6)
        valid = inside.copy()
        rr, cc = np.nonzero(inside)
        valid[rr, cc] = full_mask[rr + r0[k], cc + c0[k]]
        assert oracle.equal_data(got[k], want)
        assert np.array_equal(got_m[k], valid), f"patch {idx['patch_id'][k]}: internal mask ignored"
        masked_px += int((inside & ~valid).sum())
    msk.close()
    assert masked_px > 0


@pytest.mark.parametrize("keep", ["center", "inside", "overlap"])
def test_keep_rules_on_a_geographic_reference(scene: Scene, tmp_path: Path, keep: str) -> None:
    """The lattice anchored on a non-square EPSG:4326 grid, the boundary in EPSG:3857."""
    cfg = gh.load_config(
        _config(scene, tmp_path, ["geo"], mode="native", patch=4, stride=3, keep=keep, ref="geo")
    )
    _check_lattice(gh.plan(cfg), scene, 4, 3, keep, ref="geo")


@pytest.mark.parametrize("mode", ["native", "resample"])
def test_geographic_reference_alignment(scene: Scene, tmp_path: Path, mode: str) -> None:
    # issue 9: the rotated raster only in resample mode (refused in native)
    mods = ["geo", "utm", "alb", "rot"] if mode == "resample" else ["geo", "utm", "alb"]
    patch, stride = (5, 6) if mode == "native" else (4, 7)
    cfg = gh.load_config(
        _config(scene, tmp_path, mods, mode=mode, patch=patch, stride=stride, ref="geo")
    )
    out = gh.extract(cfg, workers=1, progress=False)
    stats = _check_dataset(
        scene,
        out,
        mods,
        mode=mode,
        patch=patch,
        stride=stride,
        sizes={m: (patch, patch) for m in mods},
        ref_name="geo",
    )
    assert stats["alb"]["partial"] > 0
    if mode == "resample":  # 10 m onto ~25 m pixels: GDAL's widened kernel; 30 m: ours
        assert stats["utm"]["own"] == 0 and stats["alb"]["own"] > 0, stats


def test_float32_with_huge_negative_nodata(scene: Scene, tmp_path: Path) -> None:
    """The NED's nodata (-3.4028230607370965e38, float32): fill and mask are exact."""
    nod = -3.4028230607370965e38
    x, y = _xy("EPSG:32613", LON0, LAT0)
    f32 = write_coord_raster(
        tmp_path / "f32.tif",
        crs="EPSG:32613",
        transform=Affine(20, 0, x - 300, 0, -20, y + 500),
        width=40,
        height=45,
        nodata=nod,
        holes=[(10, 10, 4, 4)],
        dtype="float32",
    )
    body = _config(scene, tmp_path, ["utm"], mode="native", patch=6, stride=6).read_text()
    body += f'\n[modalities.f32]\npath = "{f32}"\n'
    cfg = gh.load_config(write_config(tmp_path / "pipeline.toml", body))
    ds = gh.open_dataset(gh.extract(cfg, workers=1, progress=False))
    idx = ds.index.sort_values("patch_index").reset_index(drop=True)
    data, mask = ds.store.read("f32", slice(None)), ds.store.read("f32_mask", slice(None))
    assert data.dtype == np.float32
    src = oracle.Source(f32)
    cx, cy = oracle.lattice_centres(scene.ref_t, idx["lattice_i"], idx["lattice_j"], 6, 6)
    c0, r0 = src.windows(cx, cy, 6, 6)
    filled = 0
    for k in range(len(idx)):
        want, valid = src.read(int(c0[k]), int(r0[k]), 6, 6)
        assert oracle.equal_data(data[k], want) and np.array_equal(mask[k], valid)
        filled += int((~valid).sum())
    src.close()
    assert filled > 0
    assert np.all(data[:, 0][~mask] == np.float32(nod))
