"""``make bench``: geoharmony against the notebook, TorchGeo and the decode floors.

Generates the synthetic areas (22, 44 and 88 km square: 42, 178 and 701 patches of 224
px; 88 km is the reference of the speed targets), then measures, interleaved round by
round so that drifting machine load hits every method alike, and prints medians:

* the notebook's per-patch method (``bench/notebook.py``), into memory;
* ``geoharmony`` reading every task into memory, one process (no writing);
* the decode floor (``bench/floor.py``): every needed block decoded once;
* ``geoharmony.execution.extract`` end to end into Zarr with 1 and N workers, and the end-to-end
  floor over the same number of processes;
* TorchGeo (IntersectionDataset + GridGeoSampler + DataLoader, 0 and 2 workers) when
  ``bench/.venv-torchgeo`` exists (see ``docs/performance.md`` to create it);
* cold page cache (dropped before each run) when this process may drop it;
* planning of ~1,000,000 candidate centres, random patch reads from the store, the
  writing matrix (codecs x chunking), and time and peak memory at 1x and 4x area.

Usage: ``python bench/run.py [--quick] [--repeats N] [--workers N] [--sizes 22,44,88]``.
Results also go to ``bench_output/results.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _common import (
    OUT,
    PATCH_BYTES,
    PATCH_BYTES_WITH_MASKS,
    LoadMeter,
    Series,
    area_dir,
    bench_config,
    can_drop_caches,
    drop_caches,
    ensure_area,
    run_json,
)

TORCHGEO_PY = Path(__file__).resolve().parent / ".venv-torchgeo" / "bin" / "python"
REF_OF: dict[str, str] = {}


# -- one area: everything the methods need, prepared untimed ----------------------------------
class Area:
    """A synthetic area, its plan and the inputs of every method."""

    def __init__(self, size_km: float, tmp: Path) -> None:
        import floor

        import geoharmony as gh
        from geoharmony.execution.tasks import close_readers, read_task
        from geoharmony.execution.tasks import make_tasks as _tasks
        from geoharmony.geometry.footprint import transform_points
        from geoharmony.planning.plan import compute_plan

        self.size_km = size_km
        self.name = f"{size_km:g} km"
        self.cfg_path = ensure_area(size_km)
        self.cfg = gh.load_config(self.cfg_path)
        self.plan = compute_plan(self.cfg)
        self.n = self.plan.n_patches
        self.tmp = tmp / f"a{size_km:g}"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.tasks = _tasks(self.plan, self.tmp / "unused", set())
        infos = self.plan.sources[self.plan.regions[0].id]
        self.rasters = {name: str(info.path) for name, info in infos.items()}
        t = self.plan.table
        ref = infos[self.plan.reference].grid
        import shapely

        self.centers: dict[str, list[Any]] = {}
        for name, info in infos.items():
            x, y = transform_points(
                t["center_x"].to_numpy(), t["center_y"].to_numpy(), ref.crs, info.grid.crs
            )
            self.centers[name] = list(shapely.points(x, y))
        self.runs = floor.needed_runs(self.plan)
        self.blocks = sum(-(-r.width // 256) * -(-r.height // 256) for r in self.runs)
        # Patch data for the end-to-end floor's compression (the real patches).
        parts = [read_task(task) for task in self.tasks]
        close_readers()
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        self.patches = self.tmp / "patches.npz"
        np.savez(self.patches, **arrays)
        self.roi = self.tmp / "roi.wkt"
        self.roi.write_text(shapely.to_wkt(self.plan.regions[0].in_crs(ref.crs)))
        self.out = self.tmp / "dataset"
        # the same area in resample mode (every modality warped onto the reference grid)
        from dataclasses import replace

        self.cfg_resample = replace(self.cfg, grid=replace(self.cfg.grid, mode="resample"))
        self.out_resample = self.tmp / "dataset_resample"


# -- methods ------------------------------------------------------------------------------------
def m_notebook(a: Area) -> None:
    from notebook import run_notebook

    run_notebook(a.rasters, a.centers, 224)


def m_notebook_once(a: Area) -> None:
    from notebook import run_notebook_open_once

    run_notebook_open_once(a.rasters, a.centers, 224)


def m_read(a: Area) -> None:
    from geoharmony.execution.tasks import close_readers, read_task

    close_readers()
    for t in a.tasks:
        read_task(t, decode_threads="ALL_CPUS")  # as a single-process extract does
    close_readers()


def m_floor(threads: str) -> Any:
    def run(a: Area) -> None:
        import floor

        floor.decode(a.runs, threads)

    return run


def _clear(a: Area) -> None:
    for out in (a.out, a.out_resample):
        for p in (out, *out.parent.glob(f".{out.name}.partial*")):
            if p.exists():
                shutil.rmtree(p)


def m_extract(workers: int) -> Any:
    def run(a: Area) -> None:
        import geoharmony as gh

        gh.extract(a.cfg, out=a.out, workers=workers, progress=False)

    return run


def m_extract_one_thread(a: Area) -> None:
    """One worker with one GDAL decode thread: the baseline of parallel efficiency."""
    import geoharmony as gh

    saved = os.environ.get("GDAL_NUM_THREADS")
    os.environ["GDAL_NUM_THREADS"] = "1"  # wins over the single-process ALL_CPUS default
    try:
        gh.extract(a.cfg, out=a.out, workers=1, progress=False)
    finally:
        if saved is None:
            del os.environ["GDAL_NUM_THREADS"]
        else:
            os.environ["GDAL_NUM_THREADS"] = saved


def m_extract_resample(workers: int) -> Any:
    def run(a: Area) -> None:
        import geoharmony as gh

        gh.extract(a.cfg_resample, out=a.out_resample, workers=workers, progress=False)

    return run


def m_resample_tasks(a: Area) -> None:
    """Resample mode's task loop in this process (read, warp, statistics, write): per core."""
    from geoharmony.execution.tasks import close_readers, make_tasks, run_task

    if not hasattr(a, "resample_tasks"):  # a finished dataset's folder, its tasks re-run
        import geoharmony as gh

        root = a.tmp / "resample_tasks"
        if root.exists():
            shutil.rmtree(root)
        gh.extract(a.cfg_resample, out=root, workers=1, progress=False)
        (root / "_tasks").mkdir(exist_ok=True)
        plan = gh.open_dataset(root).plan
        a.resample_tasks = make_tasks(plan, root, set())  # type: ignore[attr-defined]
    for t in a.resample_tasks:  # type: ignore[attr-defined]
        run_task(t)
    close_readers()


def m_e2e_floor(workers: int, compression: str) -> Any:
    def run(a: Area) -> dict[str, Any]:
        import floor

        return floor.e2e_floor(a.runs, a.patches, a.n, compression, workers, a.tmp)

    return run


def _targets(a: Area, s: Any, N: dict[str, str], nb: Any, e2e_fl: Any, workers: int) -> None:
    """Issue 8's speed targets for this area, from this run's medians."""
    default = s(N["extract_w"], a)
    one = s(N["extract_1_thread"], a)
    loop = s(N["resample_loop"], a)
    targets = [
        (">= 7x the notebook", f"{default.rate / nb.rate:.2f}x", default.rate / nb.rate >= 7),
        (
            ">= 80 % of the end-to-end floor",
            f"{100 * default.rate / e2e_fl.rate:.0f} %",
            default.rate >= 0.8 * e2e_fl.rate,
        ),
        (
            f"{workers} workers >= 1.8x 1 worker with 1 decode thread",
            f"{default.rate / one.rate:.2f}x",
            default.rate >= 1.8 * one.rate,
        ),
        (
            "resample >= 100 patches/s per core (task loop, 1 process)",
            f"{loop.rate:.1f}",
            loop.rate >= 100,
        ),
    ]
    print(f"{a.name}: issue 8's targets")
    print()
    print("| target | this run | met |")
    print("|---|---:|---|")
    for name, value, ok in targets:
        print(f"| {name} | {value} | {'yes' if ok else 'no'} |")
    print()


def measure(
    meter: LoadMeter,
    series: Series,
    fn: Any,
    a: Area,
    *,
    cold: bool = False,
    setup: Any = None,
) -> None:
    if setup is not None:
        setup(a)
    gc.collect()
    # Untimed: the earlier methods' dirty pages go to disk now, not as kernel writeback
    # competing for the 2 cores with this method (a method's own writes still count).
    os.sync()
    if cold:
        drop_caches()
    res, wall, cpu = meter.measure(lambda: fn(a))
    if isinstance(res, dict) and "wall" in res:  # e2e floor: time between synchronised starts
        wall = res["wall"]
        for k in ("decode", "compress", "write"):
            series.extra.setdefault(k, []).append(res[k])
        series.extra.setdefault("bytes", []).append(res["bytes"])
    series.walls.append(wall)
    series.cpus.append(cpu)


# -- extras -------------------------------------------------------------------------------------
def torchgeo(a: Area, workers: int, repeats: int) -> dict[str, Any] | None:
    if not TORCHGEO_PY.exists():
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONWARNINGS"] = "ignore"
    return run_json(
        [
            str(TORCHGEO_PY),
            str(Path(__file__).resolve().parent / "torchgeo_runner.py"),
            str(area_dir(a.size_km)),
            str(a.roi),
            str(workers),
            str(repeats),
        ],
        env=env,
    )


def planning_1m(size_km: float) -> dict[str, Any]:
    """Plan with a stride giving ~1,000,000 candidate centres on the area's DEM."""
    import geoharmony as gh
    from geoharmony.planning.plan import compute_plan

    d = area_dir(size_km)
    dem_px = round(size_km * 100)
    stride = max(1, round(dem_px / 1000))
    cfg = gh.load_config(bench_config(d, stride=stride, name="plan1m.toml"))
    times, n_cand, n_kept = [], 0, 0
    for _ in range(3):
        t0 = time.perf_counter()
        p = compute_plan(cfg)
        times.append(time.perf_counter() - t0)
        n_cand, n_kept = p.candidates, p.n_patches
    return {
        "stride": stride,
        "candidates": n_cand,
        "kept": n_kept,
        "median_s": statistics.median(times),
        "times": times,
    }


def read_back(path: Path, n: int, reads: int = 300) -> dict[str, Any]:
    import geoharmony as gh

    t0 = time.perf_counter()
    ds = gh.open_dataset(path)
    first = ds[0]
    t_first = time.perf_counter() - t0
    nbytes = sum(v.nbytes for v in first.values())
    rng = random.Random(0)
    lat = []
    for _ in range(reads):
        i = rng.randrange(n)
        t = time.perf_counter()
        ds[i]
        lat.append(time.perf_counter() - t)
    lat.sort()
    return {
        "first_ms": t_first * 1e3,
        "median_ms": statistics.median(lat) * 1e3,
        "p95_ms": lat[int(0.95 * len(lat))] * 1e3,
        "max_ms": lat[-1] * 1e3,
        "bytes": nbytes,
        "arrays": len(first),
    }


def write_matrix(a: Area) -> list[dict[str, Any]]:
    """Codecs x chunking on one task's real patches: bytes per patch, write speed, reads."""
    import zarr
    from zarr.codecs import BloscCodec, BloscShuffle

    from geoharmony.execution.tasks import array_specs as _specs
    from geoharmony.writers.zarr_writer import BLOSC_SETTINGS, ZarrWriter

    with np.load(a.patches) as z:
        n = min(64, a.n)
        arrays = {k: np.ascontiguousarray(z[k][:n]) for k in z.files}
    raw = sum(v.nbytes for v in arrays.values())
    specs = _specs(a.plan.outputs)
    rows = []
    root = a.tmp / "wm"

    def size() -> int:
        return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())

    for comp in ("zstd", "lz4", "none"):
        for layout in (
            "geoharmony: 1 patch/chunk, 16/shard",
            "zarr: 1 patch/chunk, 16/shard",
            "zarr: 1 patch/chunk, no shards",
            "zarr: 16 patches/chunk",
        ):
            walls = []
            for _ in range(3):
                shutil.rmtree(root, ignore_errors=True)
                if layout.startswith("geoharmony"):
                    w = ZarrWriter(root)
                    w.create(specs, n, patches_per_shard=16, compression=comp)
                    t0 = time.perf_counter()
                    w.open()
                    w.write(0, arrays)
                    w.close()
                    walls.append(time.perf_counter() - t0)
                    continue
                g = zarr.open_group(root / "patches.zarr", mode="w", zarr_format=3)
                arrs = {}
                for k, v in arrays.items():
                    comps = None
                    if comp != "none":
                        cname, clevel = BLOSC_SETTINGS[comp]
                        comps = BloscCodec(
                            cname=cname,
                            clevel=clevel,
                            shuffle=BloscShuffle.bitshuffle,
                            typesize=v.dtype.itemsize,
                        )
                    chunk = 16 if "16 patches" in layout else 1
                    shards = (16, *v.shape[1:]) if "16/shard" in layout else None
                    arrs[k] = g.create_array(
                        k,
                        shape=v.shape,
                        dtype=v.dtype,
                        chunks=(chunk, *v.shape[1:]),
                        shards=shards,
                        compressors=comps,
                        fill_value=0,
                    )
                t0 = time.perf_counter()
                for k, v in arrays.items():
                    arrs[k][:] = v
                walls.append(time.perf_counter() - t0)
            wall = statistics.median(walls)
            row = {
                "compression": comp,
                "layout": layout,
                "patches_per_s": n / wall,
                "write_MBps": raw / wall / 1e6,
                "bytes_per_patch": size() / n,
                "ratio": raw / size(),
            }
            if layout.startswith("geoharmony"):
                st = ZarrWriter.reader(root)
                lat = []
                for i in range(200):
                    t = time.perf_counter()
                    st.read_patch(i % n)
                    lat.append(time.perf_counter() - t)
                row["read_patch_ms"] = statistics.median(lat) * 1e3
            rows.append(row)
    shutil.rmtree(root, ignore_errors=True)
    return rows


def memory_run(cfg: str, workers: int, out: str) -> None:
    """Child mode: extract once; print wall time and peak RSS of this process and workers.

    RSS is sampled every 10 ms (``ru_maxrss`` is inherited across fork/exec on Linux, so
    it would report the benchmark's own peak).
    """
    import threading

    import psutil

    import geoharmony as gh

    me = psutil.Process()
    peak = {"main": 0, "workers": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                peak["main"] = max(peak["main"], me.memory_info().rss)
                # workers are forked by the fork server (a child of this process)
                kids = [k.memory_info().rss for k in me.children(recursive=True)]
                peak["workers"] = max(peak["workers"], max(kids, default=0))
            except psutil.Error:
                pass
            time.sleep(0.01)

    shutil.rmtree(out, ignore_errors=True)
    config = gh.load_config(cfg)
    base = me.memory_info().rss
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.perf_counter()
    gh.extract(config, out=out, workers=workers, progress=False)
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    print(
        json.dumps(
            {
                "wall": wall,
                "base_MB": base / 2**20,
                "self_MB": peak["main"] / 2**20,
                "workers_MB": peak["workers"] / 2**20,
            }
        )
    )


# -- report ---------------------------------------------------------------------------------------
def fmt(x: float, nd: int = 1) -> str:
    if x != x:  # NaN
        return "-"
    return f"{x:,.{nd}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 rounds, no cold runs, 1 TorchGeo pass")
    ap.add_argument("--repeats", type=int, default=None, help="rounds (default 5; quick 2)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--sizes", default="22,44,88", help="area edges in km (first = reference)")
    ap.add_argument("--no-torchgeo", action="store_true")
    ap.add_argument("--no-cold", action="store_true")
    ap.add_argument("--_memory", nargs=3, metavar=("CFG", "WORKERS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._memory:
        memory_run(args._memory[0], int(args._memory[1]), args._memory[2])
        return
    repeats = args.repeats or (2 if args.quick else 5)
    W = args.workers
    sizes = [float(s) for s in args.sizes.split(",")]
    tmp = OUT / "run"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    import numcodecs
    import rasterio
    import zarr

    import geoharmony

    print("# geoharmony benchmark")
    print(
        f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, GDAL {rasterio.__gdal_version__}, "
        f"rasterio {rasterio.__version__}, zarr {zarr.__version__}, "
        f"numcodecs {numcodecs.__version__}, geoharmony {geoharmony.__version__}"
    )
    ob = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    print(f"OPENBLAS_CORETYPE/L2_SIZE: {ob or 'unset'}")
    cold_ok = (not args.no_cold and not args.quick) and can_drop_caches()
    print(f"page cache drop: {'yes' if cold_ok else 'no'}; rounds: {repeats}; workers: {W}")
    print("preparing areas (untimed) ...", flush=True)
    areas = [Area(s, tmp) for s in sizes]
    for a in areas:
        print(
            f"  {a.name}: {a.n} patches, {a.plan.candidates} candidates, "
            f"{a.plan.n_tasks} tasks, {a.blocks} source blocks needed"
        )
    comp = areas[0].cfg.output.compression

    # Rows by key: the tables and targets name the rows they compare, not their positions.
    rows: dict[str, tuple[str, Any, Any]] = {
        "notebook": ("notebook (open per patch, boundless)", m_notebook, None),
        "notebook_once": ("notebook, files opened once", m_notebook_once, None),
        "read": ("geoharmony read into memory, 1 process", m_read, None),
        "floor_1": ("decode floor, 1 process (GDAL 1 thread)", m_floor("1"), None),
        "floor_all": ("decode floor, 1 process (GDAL ALL_CPUS)", m_floor("ALL_CPUS"), None),
        "extract_1": ("geoharmony extract -> zarr, 1 worker", m_extract(1), _clear),
        "extract_w": (f"geoharmony extract -> zarr, {W} workers", m_extract(W), _clear),
        "e2e_1": ("end-to-end floor, 1 process", m_e2e_floor(1, comp), None),
        "e2e_w": (f"end-to-end floor, {W} processes", m_e2e_floor(W, comp), None),
        "resample_1": (
            "geoharmony extract -> zarr, resample mode, 1 worker",
            m_extract_resample(1),
            _clear,
        ),
        "resample_w": (
            f"geoharmony extract -> zarr, resample mode, {W} workers",
            m_extract_resample(W),
            _clear,
        ),
        "resample_loop": (
            "geoharmony resample task loop, 1 process (per core)",
            m_resample_tasks,
            None,
        ),
        "extract_1_thread": (
            "geoharmony extract -> zarr, 1 worker, 1 decode thread",
            m_extract_one_thread,
            _clear,
        ),
    }
    methods = list(rows.values())
    N = {key: row[0] for key, row in rows.items()}
    series = {(m, a.name): Series(m, a.name, a.n) for m, _, _ in methods for a in areas}
    # Which floor each row is compared with: decode floor, or end-to-end over 1 or W cores.
    REF_OF.update({N[k]: "e2e1" for k in ("extract_1", "e2e_1", "extract_1_thread")})
    REF_OF.update({N[k]: "e2eW" for k in ("extract_w", "e2e_w")})
    meter = LoadMeter()
    # Warm-up (untimed): page cache, imports, the fork server of the worker pool.
    print("warm-up ...", flush=True)
    first_pool = {}
    for a in areas:
        for name, fn, setup in methods:
            if setup:
                setup(a)
            t0 = time.perf_counter()
            fn(a)
            if name.endswith(f"{W} workers"):
                first_pool[a.name] = time.perf_counter() - t0
    for r in range(repeats):
        print(f"round {r + 1}/{repeats} ...", flush=True)
        for a in areas:
            for name, fn, setup in methods:
                measure(meter, series[(name, a.name)], fn, a, setup=setup)
    tg: dict[tuple[str, int], dict[str, Any] | None] = {}
    tg_reason = ""
    if args.no_torchgeo:
        tg_reason = "skipped (--no-torchgeo)"
    elif not TORCHGEO_PY.exists():
        tg_reason = (
            f"unavailable: no environment at {TORCHGEO_PY.parent.parent} (see docs/performance.md)"
        )
    else:
        for a in areas:
            for w in (0, 2):
                print(f"TorchGeo {a.name}, {w} workers ...", flush=True)
                try:
                    tg[(a.name, w)] = torchgeo(a, w, 1 if args.quick else 3)
                except Exception as exc:
                    tg_reason = f"failed: {exc}"
                    tg[(a.name, w)] = None
    cold: dict[tuple[str, str], Series] = {}
    if cold_ok:
        print("cold page cache runs ...", flush=True)
        for a in areas:
            for name, fn, setup in methods:
                if "ALL_CPUS" in name or "files opened once" in name or "proposed" in name:
                    continue
                s = cold[(name, a.name)] = Series(name, a.name, a.n)
                for _ in range(2):
                    measure(meter, s, fn, a, cold=True, setup=setup)
    print("planning 1,000,000 candidates ...", flush=True)
    plan1m = planning_1m(sizes[-1])
    print("reading patches back ...", flush=True)
    big = areas[-1]
    _clear(big)
    m_extract(W)(big)
    reads = read_back(big.out, big.n)
    print("writing matrix ...", flush=True)
    wm = write_matrix(big)
    print("time and peak memory per area ...", flush=True)
    mem = {}
    for a in areas:
        for w in (1, W):
            mem[(a.name, w)] = run_json(
                [
                    sys.executable,
                    __file__,
                    "--_memory",
                    str(a.cfg_path),
                    str(w),
                    str(a.tmp / "memrun"),
                ]
            )

    # ---------------------------------------------------------------------------------------
    def s(m: str, a: Area) -> Series:
        return series[(m, a.name)]

    print()
    print(
        f"background load: other processes kept {meter.other_cores:.2f} of "
        f"{os.cpu_count()} cores busy on average during the measurements"
    )
    print()
    print(
        "## Throughput (warm page cache, medians of "
        f"{repeats} interleaved rounds; MB = patch stack bytes, 1,204,224 B/patch)"
    )
    print()
    for a in areas:
        nb = s(N["notebook"], a)
        fl1, fl2 = s(N["floor_1"], a), s(N["floor_all"], a)
        floor_d = fl1 if fl1.wall <= fl2.wall else fl2
        e2e_fl = s(N["e2e_w"], a)
        tg2 = tg.get((a.name, 2))
        tg2_rate = (tg2["n"] / statistics.median(tg2["times"])) if tg2 else float("nan")
        print(f"### {a.name} x {a.name}: {a.n} patches")
        print()
        print("| method | s | patches/s | MB/s | x notebook | x TorchGeo 2w | % of floor | CPU s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, _, _ in methods:
            x = s(name, a)
            kind = REF_OF.get(name, "decode")
            ref = {"decode": floor_d, "e2e1": s(N["e2e_1"], a), "e2eW": e2e_fl}[kind]
            pct = 100 * x.rate / ref.rate
            print(
                f"| {name} | {fmt(x.wall, 3)} | {fmt(x.rate)} | {fmt(x.mbps)} | "
                f"{fmt(x.rate / nb.rate, 2)} | {fmt(x.rate / tg2_rate, 2)} | {fmt(pct, 0)} % | "
                f"{fmt(x.cpu, 2)} |"
            )
        for w in (0, 2):
            r = tg.get((a.name, w))
            if r:
                med = statistics.median(r["times"])
                rate = r["n"] / med
                print(
                    f"| TorchGeo {r['versions']['torchgeo']}, DataLoader {w} workers "
                    f"({r['n']} samples) | {fmt(med, 3)} | {fmt(rate)} | "
                    f"{fmt(rate * PATCH_BYTES / 1e6)} | {fmt(rate / nb.rate, 2)} | "
                    f"{fmt(rate / tg2_rate, 2)} | {fmt(100 * rate / floor_d.rate, 0)} % | - |"
                )
        print()
        _targets(a, s, N, nb, e2e_fl, W)
    if not tg:
        print(f"TorchGeo: {tg_reason}")
    else:
        v = next(iter(x for x in tg.values() if x), None)
        if v:
            print(
                f"TorchGeo env: {v['versions']}; samples of shape {v['shape']} "
                "(all modalities resampled to 10 m); sampler grid covers the watershed's "
                "bounding box, so it yields more samples than kept patches: compare "
                "patches/s."
            )
        if tg_reason:
            print(f"TorchGeo: {tg_reason}")
    print()
    for a in areas:
        x = s(N["extract_w"], a)
        print(
            f"{a.name}: first {W}-worker run of this process (fork server start, imports): "
            f"{first_pool.get(a.name, float('nan')):.2f} s vs median {x.wall:.2f} s"
        )
        f = s(N["e2e_w"], a)
        if f.extra:
            med = {k: statistics.median(v) for k, v in f.extra.items()}
            print(
                f"{a.name}: end-to-end floor split (CPU s summed over processes): decode "
                f"{med['decode']:.3f}, compress ({comp}) {med['compress']:.3f}, write "
                f"{med['write']:.3f}; {med['bytes'] / a.n:,.0f} bytes/patch"
            )
    if cold:
        print()
        print("## Cold page cache (dropped before each run; medians of 2)")
        print()
        print("| area | method | s | patches/s | x notebook | % of floor |")
        print("|---|---|---:|---:|---:|---:|")
        for a in areas:
            nb = cold[(N["notebook"], a.name)]
            fl = cold[(N["floor_1"], a.name)]
            ef = cold[(N["e2e_w"], a.name)]
            for (name, an), x in cold.items():
                if an != a.name:
                    continue
                kind = REF_OF.get(name, "decode")
                ref = {"decode": fl, "e2e1": cold[(N["e2e_1"], a.name)], "e2eW": ef}[kind]
                print(
                    f"| {a.name} | {name} | {fmt(x.wall, 3)} | {fmt(x.rate)} | "
                    f"{fmt(x.rate / nb.rate, 2)} | {fmt(100 * x.rate / ref.rate, 0)} % |"
                )
    print()
    print("## Planning")
    print()
    for a in areas:
        print(f"- {a.name}: {a.plan.candidates} candidates -> {a.n} patches")
    print(
        f"- stride {plan1m['stride']} px on the {sizes[-1]:g} km area: "
        f"{plan1m['candidates']:,} candidate centres, {plan1m['kept']:,} kept, "
        f"4 modalities: {plan1m['median_s']:.2f} s (median of 3) = "
        f"{plan1m['median_s'] / plan1m['candidates'] * 1e6:.2f} s per million candidates"
    )
    print()
    print(
        f"## Reading back ({big.name} store, `geoharmony.open_dataset(path)[i]`, "
        f"{reads['arrays']} arrays = {reads['bytes']:,} B per patch, warm cache)"
    )
    print()
    print(
        f"random patch: median {reads['median_ms']:.2f} ms, p95 {reads['p95_ms']:.2f} ms, "
        f"max {reads['max_ms']:.2f} ms; open + first patch {reads['first_ms']:.1f} ms"
    )
    print()
    print(
        f"## Writing: codecs x chunking ({min(64, big.n)} patches of {big.name}, "
        f"{PATCH_BYTES_WITH_MASKS:,} B/patch with masks)"
    )
    print()
    print("| compression | layout | patches/s | write MB/s | bytes/patch | ratio | read patch ms |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for row in wm:
        print(
            f"| {row['compression']} | {row['layout']} | {fmt(row['patches_per_s'])} | "
            f"{fmt(row['write_MBps'])} | {row['bytes_per_patch']:,.0f} | "
            f"{row['ratio']:.2f} | {fmt(row.get('read_patch_ms', float('nan')), 2)} |"
        )
    print()
    print("## Cost growth (one extract per row in a fresh process; peak RSS, sampled every 10 ms)")
    print()
    print("| area | patches | workers | s | patches/s | main MB (before) | largest worker MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for a in areas:
        for w in (1, W):
            m = mem[(a.name, w)]
            wk = m["workers_MB"] if w > 1 else float("nan")
            print(
                f"| {a.name} | {a.n} | {w} | {m['wall']:.2f} | {a.n / m['wall']:.1f} | "
                f"{m['self_MB']:.0f} ({m['base_MB']:.0f}) | {fmt(wk, 0)} |"
            )
    results = {
        "series": [x.to_dict() for x in series.values()],
        "cold": [x.to_dict() for x in cold.values()],
        "torchgeo": {f"{k[0]}|{k[1]}": v for k, v in tg.items()},
        "planning_1m": plan1m,
        "read_back": reads,
        "write_matrix": wm,
        "memory": {f"{k[0]}|{k[1]}": v for k, v in mem.items()},
        "background_cores": meter.other_cores,
    }
    (OUT / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print()
    print(f"(raw results: {OUT / 'results.json'})")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
