"""``make bench`` (national scale): HTTP inputs, cost per region count, parallel efficiency.

Three tables, on the synthetic reference area (``--size`` km, default 22; generated once
by ``bench/_common.ensure_area``):

1. **HTTP vs local files**: the area's rasters as tiled COGs (256 px tiles, DEFLATE),
   extracted from disk and from nginx on 127.0.0.1 (the test fixture ``tests/infra``),
   without and with ``--delay`` seconds of latency added to every request by nginx. Per
   run: patches/s end to end, HTTP requests per patch and bytes fetched per byte stored
   (from nginx's access log; stored = the zarr store on disk).
2. **Flat cost in the number of regions**: the same total area cut into 4, 64 and 1,024
   regions (a k x k grid of boxes over the boundary's bounding box), extracted on a
   2-worker Dask ``LocalCluster``: plan time, pickled bytes and pickling time per task (the
   cost every task carries to a worker), extraction time per task (steady state: the
   second extraction in the process; median of ``--repeats``), peak RSS of the driver
   and of the workers, open file descriptors of the driver before and after.
3. **Parallel efficiency**: 1 worker pinned to one core (``GDAL_NUM_THREADS=1``), 2
   local worker processes and a 2-worker Dask ``LocalCluster`` (1 thread each), on the
   16-region cut; the speed-ups against the first. Each is timed on its second
   extraction in its process (the first, untimed, starts the fork server or the Dask
   workers' imports): the steady state of a long run.

Every measurement runs in a fresh interpreter (``--child``) so RSS and caches are its own.
Usage: ``python bench/national.py [--size 22] [--delay 0.02] [--repeats 1] [--quick]``.
Results also go to ``bench_output/national.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))  # the nginx fixture (infra.nginx)

from _common import OUT, ensure_area  # noqa: E402

WORK = OUT / "national"


# -- helpers ----------------------------------------------------------------------------------
def _child(args: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; return its JSON."""
    src = str(ROOT / "src")
    full = {**os.environ, **(env or {})}
    full["PYTHONPATH"] = src + os.pathsep + full.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(args)],
        capture_output=True,
        text=True,
        env=full,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _config(
    base: Path,
    dest: Path,
    paths: dict[str, str],
    *,
    boundary: Path | None = None,
    ids: bool = False,
) -> Path:
    """``base``'s [grid] with the given modality paths (and boundary), output ``dest/out``."""
    import re

    text = base.read_text(encoding="utf-8")
    grid = re.search(r"(?ms)^\[grid\]\n.*?(?=^\[)", text)
    assert grid is not None, base
    sa = f'[study_area]\nboundary = "{boundary or base.parent / "boundary.geojson"}"\n'
    if ids:
        sa += 'id_field = "rid"\nextent = "bbox"\n'
    mods = "".join(f'[modalities.{n}]\npath = "{p}"\n\n' for n, p in paths.items())
    dest.mkdir(parents=True, exist_ok=True)
    cfg = dest / "bench.toml"
    cfg.write_text(
        f'{sa}\n{grid.group(0)}\n{mods}[output]\npath = "out"\nformat = "zarr"\n',
        encoding="utf-8",
    )
    return cfg


def _local_paths(base: Path) -> dict[str, str]:
    import geoharmony as gh

    return {n: m.path for n, m in gh.load_config(base).modalities.items()}


def _cogs(cfg_path: Path) -> tuple[Path, dict[str, str]]:
    """The area's rasters as COGs in one served folder (made once); name -> file name."""
    from rasterio.shutil import copy

    import geoharmony as gh

    cfg = gh.load_config(cfg_path)
    www = WORK / "www"
    www.mkdir(parents=True, exist_ok=True)
    names = {}
    for name, m in cfg.modalities.items():
        dst = www / f"{name}.tif"
        if not dst.exists():
            copy(m.path, dst, driver="COG", BLOCKSIZE=256, COMPRESS="DEFLATE", OVERVIEWS="NONE")
        names[name] = dst.name
    return www, names


# -- child measurements -----------------------------------------------------------------------
def child(args: dict[str, Any]) -> dict[str, Any]:
    """One extraction (``args["kind"]``) in this fresh process; numbers as JSON."""
    import resource

    import geoharmony as gh
    from geoharmony.planning.plan import compute_plan

    cfg = gh.load_config(args["config"])
    out = Path(args["out"])
    for old in (out, Path(f"{out}_warm")):  # a previous bench's datasets
        if old.exists():
            shutil.rmtree(old)
    fds0 = len(os.listdir("/proc/self/fd"))
    t0 = time.perf_counter()
    plan = compute_plan(cfg)
    t_plan = time.perf_counter() - t0
    res: dict[str, Any] = {"n_patches": plan.n_patches, "n_tasks": plan.n_tasks, "plan_s": t_plan}
    if args.get("pickle"):
        import pickle

        from geoharmony.execution.tasks import make_tasks

        tasks = make_tasks(plan, out, set())
        t1 = time.perf_counter()
        sizes = [len(pickle.dumps(t)) for t in tasks]
        res["pickle_s_per_task"] = (time.perf_counter() - t1) / max(len(tasks), 1)
        res["pickle_bytes_per_task"] = statistics.mean(sizes) if sizes else 0
    kind = args["kind"]
    t1 = time.perf_counter()
    if kind == "dask":
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=args["workers"],
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            if args.get("warm"):  # workers' imports and first opens, untimed
                gh.extract(
                    cfg, out=Path(f"{out}_warm"), scheduler=client, plan=plan, progress=False
                )
            t1 = time.perf_counter()  # cluster start-up is not the extraction's
            gh.extract(cfg, out=out, scheduler=client, plan=plan, progress=False)
            res["extract_s"] = time.perf_counter() - t1
            rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
            res["worker_rss_mb"] = max(rss.values()) / 1024
    else:
        if args.get("warm"):  # the fork server, workers' imports and first opens, untimed
            gh.extract(
                cfg, out=Path(f"{out}_warm"), workers=args["workers"], plan=plan, progress=False
            )
        t1 = time.perf_counter()
        gh.extract(cfg, out=out, workers=args["workers"], plan=plan, progress=False)
        res["extract_s"] = time.perf_counter() - t1
    res["driver_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["fds_before"], res["fds_after"] = fds0, len(os.listdir("/proc/self/fd"))
    res["stored_bytes"] = _du(out)
    res["patches_per_s"] = plan.n_patches / res["extract_s"] if res["extract_s"] else 0.0
    return res


# -- 1. HTTP vs local -------------------------------------------------------------------------
def http_table(size: float, delay: float, repeats: int, workers: tuple[int, ...]) -> list[dict]:
    from infra import nginx

    base = ensure_area(size)
    www, names = _cogs(base)
    server = nginx.start(www, WORK / "nginx", delay=delay)
    rows = []
    try:
        sources = {"local files": ""}
        sources["HTTP"] = server.url
        if server.has_delay:
            sources[f"HTTP +{delay * 1000:g} ms"] = server.url + "/slow"
        for label, url in sources.items():
            paths = {n: (f"{url}/{f}" if url else str(www / f)) for n, f in names.items()}
            cfg = _config(base, WORK / f"http-{len(rows)}", paths)
            for w in workers:
                runs = []
                for _ in range(repeats):
                    off = server.log_offset()
                    r = _child(
                        {
                            "config": str(cfg),
                            "out": str(cfg.parent / "out"),
                            "kind": "local",
                            "workers": w,
                        }
                    )
                    reqs = server.requests(off) if url else []
                    r["requests"] = len(reqs)
                    r["bytes_fetched"] = sum(q.bytes_sent for q in reqs)
                    runs.append(r)
                best = sorted(runs, key=lambda r: r["patches_per_s"])[len(runs) // 2]
                rows.append({"source": label, "workers": w, **best})
    finally:
        server.stop()
    return rows


# -- 2. regions -------------------------------------------------------------------------------
def _regions_config(base: Path, k: int) -> Path:
    """The area cut into k x k boxes (same total area), one region each."""
    import geopandas as gpd
    import shapely

    b = gpd.read_file(base.parent / "boundary.geojson")
    x0, y0, x1, y1 = b.total_bounds
    dx, dy = (x1 - x0) / k, (y1 - y0) / k
    boxes = [
        shapely.box(x0 + i * dx, y0 + j * dy, x0 + (i + 1) * dx, y0 + (j + 1) * dy)
        for j in range(k)
        for i in range(k)
    ]
    d = WORK / f"regions{k * k}"
    d.mkdir(parents=True, exist_ok=True)
    ids = [f"r{n:05d}" for n in range(len(boxes))]
    gpd.GeoDataFrame({"rid": ids}, geometry=boxes, crs=b.crs).to_file(d / "regions.geojson")
    return _config(base, d, _local_paths(base), boundary=d / "regions.geojson", ids=True)


def regions_table(size: float, counts: tuple[int, ...], repeats: int = 1) -> list[dict]:
    base = ensure_area(size)
    rows = []
    for k in counts:
        cfg = _regions_config(base, k)
        # steady state (the workers' imports and first opens untimed), median of the repeats
        runs = [
            _child(
                {
                    "config": str(cfg),
                    "out": str(cfg.parent / "out"),
                    "kind": "dask",
                    "workers": 2,
                    "pickle": True,
                    "warm": True,
                }
            )
            for _ in range(repeats)
        ]
        r = sorted(runs, key=lambda r: r["extract_s"])[len(runs) // 2]
        r["extract_s_per_task"] = r["extract_s"] / max(r["n_tasks"], 1)
        rows.append({"regions": k * k, **r})
    return rows


# -- 3. parallel efficiency ------------------------------------------------------------------
def parallel_table(size: float, repeats: int) -> list[dict]:
    base = ensure_area(size)
    cfg = _regions_config(base, 4)
    out = str(cfg.parent / "out")
    cases = [
        # The baseline is one core: GDAL's one decode thread and the concurrent modality
        # reads of a single-process run all pinned to CPU 0.
        (
            "1 worker, 1 core",
            {"kind": "local", "workers": 1, "cpus": 1},
            {"GDAL_NUM_THREADS": "1"},
        ),
        ("2 local workers", {"kind": "local", "workers": 2}, {}),
        ("2-worker Dask LocalCluster", {"kind": "dask", "workers": 2}, {}),
    ]
    rows = []
    for label, args, env in cases:
        runs = [
            _child({"config": str(cfg), "out": out, "warm": True, **args}, env)
            for _ in range(repeats)
        ]
        rows.append(
            {"case": label, **sorted(runs, key=lambda r: r["patches_per_s"])[len(runs) // 2]}
        )
    for r in rows:
        r["speedup"] = r["patches_per_s"] / rows[0]["patches_per_s"]
    return rows


# -- printing -----------------------------------------------------------------------------------
def _print(rows: list[dict], cols: list[tuple[str, str, str]], title: str) -> None:
    print(f"\n{title}")
    print("  " + " | ".join(h for h, _, _ in cols))
    for r in rows:
        print("  " + " | ".join(format(r.get(k, ""), f) for _, k, f in cols))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--size", type=float, default=22)
    ap.add_argument("--delay", type=float, default=0.02)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="4 and 64 regions only, 1 repeat")
    a = ap.parse_args()
    if a.child:
        args = json.loads(a.child)
        if args.get("cpus"):  # before any thread exists: every later thread inherits it
            os.sched_setaffinity(0, set(range(args["cpus"])))
        print(json.dumps(child(args)))
        return
    WORK.mkdir(parents=True, exist_ok=True)
    counts = (2, 8) if a.quick else (2, 8, 32)
    t0 = time.time()
    http = http_table(a.size, a.delay, a.repeats, (1, 2))
    for r in http:
        r["req_per_patch"] = r["requests"] / max(r["n_patches"], 1)
        r["fetched_per_stored"] = r["bytes_fetched"] / max(r["stored_bytes"], 1)
    _print(
        http,
        [
            ("source", "source", "<14"),
            ("workers", "workers", ">7"),
            ("patches", "n_patches", ">7"),
            ("patches/s", "patches_per_s", ">9.1f"),
            ("requests", "requests", ">8"),
            ("req/patch", "req_per_patch", ">9.2f"),
            ("fetched/stored", "fetched_per_stored", ">14.2f"),
        ],
        "HTTP vs local files (end to end into zarr; requests and bytes from nginx's log)",
    )
    regions = regions_table(a.size, counts, a.repeats)
    for r in regions:
        r["fds"] = f"{r['fds_before']}/{r['fds_after']}"
        r["pickle_ms_per_task"] = r["pickle_s_per_task"] * 1000
    _print(
        regions,
        [
            ("regions", "regions", ">7"),
            ("patches", "n_patches", ">7"),
            ("tasks", "n_tasks", ">5"),
            ("plan s", "plan_s", ">6.2f"),
            ("task pickle B", "pickle_bytes_per_task", ">13.0f"),
            ("pickle ms/task", "pickle_ms_per_task", ">14.3f"),
            ("extract s/task", "extract_s_per_task", ">14.3f"),
            ("driver RSS MB", "driver_rss_mb", ">13.0f"),
            ("worker RSS MB", "worker_rss_mb", ">13.0f"),
            ("fds before/after", "fds", ">16"),
        ],
        "Cost per region count (same total area; 2-worker Dask LocalCluster)",
    )
    par = parallel_table(a.size, a.repeats)
    _print(
        par,
        [
            ("case", "case", "<28"),
            ("patches", "n_patches", ">7"),
            ("patches/s", "patches_per_s", ">9.1f"),
            ("speed-up", "speedup", ">8.2f"),
        ],
        "Parallel efficiency (16 regions; vs one worker on one core)",
    )
    result = {
        "http": http,
        "regions": regions,
        "parallel": par,
        "cpus": os.cpu_count(),
        "size_km": a.size,
    }
    (OUT / "national.json").write_text(json.dumps(result, indent=2))
    print(f"\n({time.time() - t0:.0f} s; results in {OUT / 'national.json'})")


if __name__ == "__main__":
    main()
