"""The conformance suite every store format passes (modelled on zarr's ``StoreTests``).

A format's test module subclasses :class:`WriterContract` and sets ``writer_cls``::

    class TestHDF5(WriterContract):
        writer_cls = HDF5Writer

Writers are driven as ``geoharmony.execution.extract`` drives them: the coordinator calls
``create`` once, then every task does ``writer_cls(root); open(); write(start, arrays);
close()`` on a contiguous, shard-aligned range, possibly in another process, in any
order. Readers are checked against the written arrays with numpy as the oracle.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import CRS

import geoharmony as gh
from geoharmony.writers import ArraySpec, Georef, PatchStore, PatchWriter
from geoharmony.writers.registry import available_formats, get_writer
from synth import lonlat_to, write_boundary, write_config, write_coord_raster

#: Arrays of every dtype the pipeline produces; odd, non-square shapes catch axis swaps.
SPECS: dict[str, ArraySpec] = {
    s.name: s
    for s in [
        ArraySpec("u8", (3, 6, 5), "uint8", 0),
        ArraySpec("u8_mask", (6, 5), "bool", False),
        ArraySpec("i16", (1, 6, 5), "int16", -9999),
        ArraySpec("i16_mask", (6, 5), "bool", False),
        ArraySpec("u16", (2, 4, 4), "uint16", 0),
        ArraySpec("u16_mask", (4, 4), "bool", False),
        ArraySpec("f32", (2, 4, 3), "float32", -1.0),
        ArraySpec("f32_mask", (4, 3), "bool", False),
        ArraySpec("f64", (1, 3, 3), "float64", float("nan")),
        ArraySpec("f64_mask", (3, 3), "bool", False),
        ArraySpec("flag", (5, 5), "bool", False),  # a bool array that is nobody's mask
    ]
}
N_PATCHES = 37  # 9 full shards of 4 and a last shard of 1
PER_SHARD = 4
TASK = 8  # two shards per task, as extract's tasks cover several shards
CRS_WKT = CRS.from_epsg(32616).to_wkt()


def make_arrays(start: int, stop: int, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Random patches ``start .. stop`` of every array of :data:`SPECS` (deterministic)."""
    out: dict[str, np.ndarray] = {}
    for name, s in SPECS.items():
        rng = np.random.default_rng([seed, start, stop, len(name), ord(name[0]), ord(name[-1])])
        shape = (stop - start, *s.shape)
        dt = np.dtype(s.dtype)
        if dt == np.bool_:
            a = rng.random(shape) < 0.7
        elif dt.kind in "iu":
            info = np.iinfo(dt)
            a = rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
        else:
            a = (rng.normal(size=shape) * 1000).astype(dt)
            if dt == np.float64:
                a[rng.random(shape) < 0.2] = np.nan
        out[name] = a
    return out


def expected_arrays() -> dict[str, np.ndarray]:
    """Every patch of a complete store, as written task by task."""
    parts = [make_arrays(a, b) for a, b in task_ranges()]
    return {name: np.concatenate([p[name] for p in parts]) for name in SPECS}


def make_georef(start: int, stop: int) -> dict[str, list[Georef]]:
    """A distinct transform per patch (100 m apart) for writers that store georeferencing."""
    return {
        name: [
            Georef(CRS_WKT, Affine(10, 0, 500_000 + 100 * k, 0, -10, 4_400_000))
            for k in range(start, stop)
        ]
        for name in SPECS
        if not name.endswith("_mask")
    }


def write_task(
    writer_cls: type[PatchWriter], root: Path, start: int, arrays: Mapping[str, np.ndarray]
) -> None:
    """One task, as ``geoharmony.execution.tasks.run_task`` does it (a fresh writer object)."""
    writer = writer_cls(root)
    writer.open()
    if writer.needs_georef:
        stop = start + len(next(iter(arrays.values())))
        writer.write_georeferenced(start, arrays, make_georef(start, stop))
    else:
        writer.write(start, arrays)
    writer.close()


def task_ranges(n: int = N_PATCHES, size: int = TASK) -> list[tuple[int, int]]:
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def _process_task(args: tuple[type[PatchWriter], str, int, int]) -> int:
    writer_cls, root, start, stop = args
    write_task(writer_cls, Path(root), start, make_arrays(start, stop))
    return start


def assert_same(actual: np.ndarray, expected: np.ndarray, what: str = "") -> None:
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_array_equal(actual, expected, err_msg=what)  # NaN == NaN here


# -- a small synthetic scene for the end-to-end tests ---------------------------------
LON0, LAT0 = -88.90, 40.30


@dataclass(frozen=True)
class Scene:
    root: Path
    reference: Path  # the zarr dataset every format is compared with

    def config(self, fmt: str, out: Path) -> Path:
        return write_config(
            self.root / f"{out.name}.toml",
            f"""
            [study_area]
            boundary = "{self.root / "boundary.geojson"}"

            [grid]
            reference = "dem"
            patch_size = 4
            stride = 4

            [modalities.dem]
            path = "{self.root / "dem.tif"}"

            [modalities.alb]
            path = "{self.root / "alb.tif"}"

            [labels.flowdir]
            kind = "d8"
            dem = "dem"

            [output]
            path = "{out}"
            format = "{fmt}"
            patches_per_shard = 4
            """,
        )


def make_scene(root: Path) -> Scene:
    """DEM 10 m (UTM 16N, float32, nodata hole) + 30 m float64 (Albers, no nodata).

    The boundary, an irregular polygon, reaches past the DEM's eastern edge, so some
    patches are partly filled, and holds about 90 patches: two tasks.
    """
    x, y = lonlat_to("EPSG:32616", LON0, LAT0)
    write_coord_raster(
        root / "dem.tif",
        crs="EPSG:32616",
        transform=Affine(10, 0, round(x) - 200, 0, -10, round(y) + 200),
        width=36,
        height=44,
        nodata=-9999.0,
        holes=[(10, 12, 5, 4)],
        dtype="float32",
    )
    x, y = lonlat_to("EPSG:5070", LON0, LAT0)
    write_coord_raster(
        root / "alb.tif",
        crs="EPSG:5070",
        transform=Affine(30, 0, x - 450, 0, -30, y + 450),
        width=30,
        height=30,
    )
    cx, cy = lonlat_to("EPSG:32616", LON0, LAT0)
    poly = shapely.Polygon(
        [(cx - 190, cy - 190), (cx + 230, cy - 170), (cx + 210, cy + 180), (cx - 150, cy + 190)]
    )
    write_boundary(root / "boundary.geojson", [poly], "EPSG:32616")
    scene = Scene(root, root / "zarr_reference")
    gh.extract(gh.load_config(scene.config("zarr", scene.reference)), progress=False)
    return scene


# -- the contract ----------------------------------------------------------------------
class WriterContract:
    """Conformance tests of one :class:`PatchWriter` and its :class:`PatchStore`."""

    writer_cls: ClassVar[type[PatchWriter]]
    compression: ClassVar[str] = "zstd"

    # helpers ------------------------------------------------------------------------
    def create(
        self, root: Path, n: int = N_PATCHES, per_shard: int = PER_SHARD
    ) -> type[PatchWriter]:
        writer = self.writer_cls(root)
        writer.create(SPECS, n, patches_per_shard=per_shard, compression=self.compression)
        writer.close()
        return self.writer_cls

    def write_all(self, root: Path, order: Callable[[list[Any]], Any] = list) -> None:
        for start, stop in order(task_ranges()):
            write_task(self.writer_cls, root, start, make_arrays(start, stop))

    @pytest.fixture(scope="class")
    @classmethod
    def store(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PatchStore]:
        """A complete store of :data:`N_PATCHES` patches, written task by task (read only)."""
        root = tmp_path_factory.mktemp(f"store_{cls.writer_cls.format}")
        writer = cls.writer_cls(root)
        writer.create(SPECS, N_PATCHES, patches_per_shard=PER_SHARD, compression=cls.compression)
        writer.close()
        for start, stop in task_ranges():
            write_task(cls.writer_cls, root, start, make_arrays(start, stop))
        st = cls.writer_cls.reader(root)
        yield st
        st.close()

    @pytest.fixture(scope="class")
    @classmethod
    def expected(cls) -> dict[str, np.ndarray]:
        return expected_arrays()

    # declarations --------------------------------------------------------------------
    def test_registered_builtin_and_entry_point(self) -> None:
        fmt = self.writer_cls.format
        assert fmt in available_formats()
        assert get_writer(fmt) is self.writer_cls
        eps = {ep.name: ep for ep in entry_points(group="geoharmony.writers")}
        assert fmt in eps, f"no entry point for {fmt!r}; reinstall the package (pip install -e .)"
        assert eps[fmt].load() is self.writer_cls

    def test_declares_store_name_and_capabilities(self) -> None:
        cls = self.writer_cls
        assert issubclass(cls, PatchWriter)
        assert isinstance(cls.format, str) and cls.format
        assert isinstance(cls.store_name, str) and cls.store_name
        assert "/" not in cls.store_name and not cls.store_name.startswith(".")
        for flag in ("supports_parallel_tasks", "supports_random_access", "needs_georef"):
            assert isinstance(getattr(cls, flag), bool), flag
        assert cls(Path("/x")).path == Path("/x") / cls.store_name

    # round trips ---------------------------------------------------------------------
    def test_round_trip_every_dtype(
        self, store: PatchStore, expected: dict[str, np.ndarray]
    ) -> None:
        assert sorted(store.names) == sorted(SPECS)
        assert len(store) == N_PATCHES
        for name in SPECS:
            assert_same(store.read(name, slice(None)), expected[name], name)

    def test_read_one_patch(self, store: PatchStore, expected: dict[str, np.ndarray]) -> None:
        for i in (0, 5, 17, N_PATCHES - 1, -1):
            for name in SPECS:
                assert_same(store.read(name, i), expected[name][i], f"{name}[{i}]")
        patch = store.read_patch(N_PATCHES - 1)
        assert set(patch) == set(SPECS)
        for name, a in patch.items():
            assert_same(a, expected[name][N_PATCHES - 1], name)

    def test_read_into_same_and_other_dtype(
        self, store: PatchStore, expected: dict[str, np.ndarray]
    ) -> None:
        """The loaders' batch path: straight into a buffer, or cast into a float64 one."""
        for i in (0, 17, N_PATCHES - 1, -1):
            for name in SPECS:
                want = expected[name][i]
                same = np.full_like(want, 1)
                store.read_into(name, i, same)
                assert_same(same, want, f"{name}[{i}] into {want.dtype}")
                other = np.zeros(want.shape, dtype=np.float64)
                store.read_into(name, i, other)
                np.testing.assert_array_equal(other, want.astype(np.float64), f"{name}[{i}]")

    @pytest.mark.parametrize(
        "sl",
        [slice(5, 19), slice(None, None, 5), slice(30, None), slice(3, 3), slice(-3, None)],
        ids=["range", "step", "into-last-shard", "empty", "negative"],
    )
    def test_read_slice(
        self, store: PatchStore, expected: dict[str, np.ndarray], sl: slice
    ) -> None:
        for name in SPECS:
            assert_same(store.read(name, sl), expected[name][sl], f"{name}[{sl}]")

    @pytest.mark.parametrize(
        "idx",
        [[0, 4, 9, 36], [36, 2, 2, 17], [-1, 0], []],
        ids=["sorted", "unsorted-duplicates", "negative", "empty"],
    )
    def test_read_index_array(
        self, store: PatchStore, expected: dict[str, np.ndarray], idx: list[int]
    ) -> None:
        index = np.asarray(idx, dtype=np.int64)
        for name in SPECS:
            assert_same(store.read(name, index), expected[name][index], f"{name}[{idx}]")

    def test_read_out_of_range(self, store: PatchStore) -> None:
        with pytest.raises(IndexError):
            store.read("u8", N_PATCHES)
        with pytest.raises(IndexError):
            store.read("u8", np.array([0, N_PATCHES + 3]))

    # task semantics ------------------------------------------------------------------
    def test_out_of_order_tasks(self, tmp_path: Path, expected: dict[str, np.ndarray]) -> None:
        self.create(tmp_path)
        rng = np.random.default_rng(7)
        self.write_all(tmp_path, order=lambda r: [r[k] for k in rng.permutation(len(r))])
        st = self.writer_cls.reader(tmp_path)
        for name in SPECS:
            assert_same(st.read(name, slice(None)), expected[name], name)
        st.close()

    def test_rewritten_task_replaces_the_old_one(
        self, tmp_path: Path, expected: dict[str, np.ndarray]
    ) -> None:
        """A resumed run rewrites the task an interrupted one had started."""
        self.create(tmp_path)
        write_task(self.writer_cls, tmp_path, 8, make_arrays(8, 16, seed=99))
        self.write_all(tmp_path)
        st = self.writer_cls.reader(tmp_path)
        for name in SPECS:
            assert_same(st.read(name, slice(8, 16)), expected[name][8:16], name)
        st.close()

    def test_unwritten_patches_read_as_fill_value(self, tmp_path: Path) -> None:
        self.create(tmp_path)
        write_task(self.writer_cls, tmp_path, 0, make_arrays(0, 8))
        st = self.writer_cls.reader(tmp_path)
        assert len(st) == N_PATCHES
        for name, s in SPECS.items():
            got = st.read(name, N_PATCHES - 1)
            assert_same(got, np.full(s.shape, s.fill_value, dtype=s.dtype), name)
            assert_same(st.read(name, slice(0, 8)), make_arrays(0, 8)[name], name)
        st.close()

    def test_partial_last_shard(self, tmp_path: Path) -> None:
        """5 patches in shards of 4: the last task holds one patch."""
        self.create(tmp_path, n=5, per_shard=4)
        data = make_arrays(0, 5)
        for a, b in [(4, 5), (0, 4)]:
            write_task(self.writer_cls, tmp_path, a, {k: v[a:b] for k, v in data.items()})
        st = self.writer_cls.reader(tmp_path)
        assert len(st) == 5
        for name in SPECS:
            assert_same(st.read(name, slice(None)), data[name], name)
            assert_same(st.read(name, 4), data[name][4], name)
        st.close()

    def test_concurrent_tasks_from_two_processes(
        self, tmp_path: Path, expected: dict[str, np.ndarray]
    ) -> None:
        if not self.writer_cls.supports_parallel_tasks:
            pytest.skip(f"{self.writer_cls.format} does not support parallel tasks")
        self.create(tmp_path)
        jobs = [(self.writer_cls, str(tmp_path), a, b) for a, b in task_ranges()]
        with ProcessPoolExecutor(2, mp_context=mp.get_context("forkserver")) as ex:
            done = sorted(ex.map(_process_task, jobs))
        assert done == [a for a, _ in task_ranges()]
        st = self.writer_cls.reader(tmp_path)
        for name in SPECS:
            assert_same(st.read(name, slice(None)), expected[name], name)
        st.close()

    # end to end ----------------------------------------------------------------------
    def test_extract_end_to_end_equals_zarr(self, scene: Scene, tmp_path: Path) -> None:
        fmt = self.writer_cls.format
        out = tmp_path / f"ds_{fmt}"
        cfg = gh.load_config(scene.config(fmt, out))
        assert gh.extract(cfg, workers=2, progress=False) == out
        ds, ref = gh.open_dataset(out), gh.open_dataset(scene.reference)
        assert ds.manifest["store"]["format"] == fmt
        assert (out / self.writer_cls.store_name).exists()
        assert len(ds) == len(ref) > 64  # more than one task
        assert list(ds.index["patch_id"]) == list(ref.index["patch_id"])
        for i in range(len(ref)):
            got, want = ds[i], ref[i]
            assert set(got) == set(want)
            for name in want:
                assert_same(got[name], want[name], f"{fmt} patch {i} {name}")
        masks = np.stack([ref[i]["dem_mask"] for i in range(len(ref))])
        assert 0 < masks.mean() < 1  # the scene has filled pixels and nodata holes
