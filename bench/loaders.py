"""``make bench`` (loaders): training reads of the reference 4-modality patch.

Extracts the 44 km synthetic area (DEM, SAR, thermal float32 + 6-band uint16 optical,
224 px, stride 112: ~600 patches) once per format, then measures, interleaved round by
round so machine load hits every method alike, and prints medians:

* ``PatchDataset`` through ``DataLoader(batch_size=32)`` with 0 and 2 workers: samples/s
  of one epoch including worker start-up (``cold``), and of a second epoch with
  ``persistent_workers=True`` (``warm``), shard-aware sampler vs. plain shuffle, float32
  batches vs. stored dtypes (``float32=False``);
* the profile: CPU time per sample of one worker's batched reads;
* the per-format read table: every patch (all 8 arrays) read in random order through
  ``open_dataset(...)[i]`` (one process), for zarr, hdf5, webdataset, tfrecord, npz.

Also prints the other cores busy (machine load) during the measurements.
Usage: ``python bench/loaders.py [--repeats N] [--size 44] [--stride 112]``; results go
to ``bench_output/loaders.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import OUT, PATCH_BYTES, LoadMeter, area_dir, ensure_area

FORMATS = ("zarr", "hdf5", "webdataset", "tfrecord", "npz")
MODALITIES = ("dem", "sar", "thermal", "optical")


def dataset(size_km: float, stride: int, fmt: str) -> Path:
    """The area extracted into ``fmt`` (reused when complete and up to date)."""
    import geoharmony as gh

    cfg = ensure_area(size_km)
    text = cfg.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^stride\s*=.*$", f"stride = {stride}", text)
    text = re.sub(r'(?m)^format\s*=\s*"zarr"\s*$', f'format = "{fmt}"', text)
    p = area_dir(size_km) / f"loaders_{fmt}.toml"
    p.write_text(text, encoding="utf-8")
    out = OUT / "loaders" / f"{fmt}_{size_km:g}km_s{stride}"
    return gh.extract(gh.load_config(p), out=out, workers=2, progress=False, overwrite=True)


def loader_epochs(
    path: Path, workers: int, sampler: str, float32: bool = True
) -> tuple[float, float, int]:
    """Seconds of a cold epoch (incl. worker start) and of a warm one; samples per epoch."""
    import torch

    from geoharmony.torch import PatchDataset

    ds = PatchDataset(path, outputs=list(MODALITIES), float32=float32)
    kw: dict[str, Any] = {"batch_size": 32, "num_workers": workers}
    if workers:
        kw["persistent_workers"] = True
    if sampler == "shard":
        kw["sampler"] = ds.shard_sampler(buffer=256, seed=0)
    else:
        kw["shuffle"] = True
    t0 = time.perf_counter()
    loader = torch.utils.data.DataLoader(ds, **kw)
    n = 0
    for batch in loader:
        n += len(batch["index"])
    cold = time.perf_counter() - t0
    if sampler == "shard":
        kw["sampler"].set_epoch(1)
    t1 = time.perf_counter()
    for batch in loader:
        assert batch["optical"].shape[1:] == (6, 224, 224)
    warm = time.perf_counter() - t1
    del loader
    return cold, warm, n


def cpu_per_sample(path: Path, batches: int = 6, float32: bool = True) -> float:
    """CPU seconds per sample of ``__getitems__`` (batches of 32, one thread): the profile.

    ``workers / cpu_per_sample`` is the ceiling of a loader on that many idle cores.
    """
    import torch

    from geoharmony.torch import PatchDataset

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a DataLoader worker
    try:
        ds = PatchDataset(path, outputs=list(MODALITIES), float32=float32)
        ds.__getitems__(list(range(32)))
        t0 = time.process_time()
        for k in range(batches):
            ds.__getitems__([(32 * k + j) % len(ds) for j in range(32)])
        return (time.process_time() - t0) / (32 * batches)
    finally:
        torch.set_num_threads(threads)


def read_all(path: Path) -> tuple[float, int]:
    """Seconds to read every patch (all arrays) in random order, and the patch count."""
    import geoharmony as gh

    ds = gh.open_dataset(path)
    order = list(range(len(ds)))
    random.Random(0).shuffle(order)
    ds[order[0]]  # open the store untimed
    t0 = time.perf_counter()
    for i in order:
        ds[i]
    return time.perf_counter() - t0, len(ds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=float, default=44)
    ap.add_argument("--stride", type=int, default=112)
    ap.add_argument("--formats", default=",".join(FORMATS))
    args = ap.parse_args()
    fmts = [f for f in args.formats.split(",") if f]
    print(f"preparing the {args.size:g} km area, stride {args.stride}, formats {fmts} ...")
    paths = {f: dataset(args.size, args.stride, f) for f in fmts}
    meter = LoadMeter()
    loader_runs: dict[tuple[int, str, str], list[tuple[float, float]]] = {}
    reads: dict[str, list[float]] = {f: [] for f in fmts}
    cpu: dict[str, list[float]] = {"float32": [], "stored": []}
    n_samples = n_patches = 0
    for r in range(args.repeats):
        print(f"round {r + 1}/{args.repeats}", flush=True)
        runs = [(w, s, "float32") for w in (0, 2) for s in ("shard", "shuffle")]
        runs += [(w, "shard", "stored") for w in (0, 2)]
        for workers, sampler, dt in runs:
            (cold, warm, n_samples), _, _ = meter.measure(
                lambda w=workers, s=sampler, d=dt: loader_epochs(
                    paths["zarr"], w, s, float32=d == "float32"
                )
            )
            loader_runs.setdefault((workers, sampler, dt), []).append((cold, warm))
        for f in fmts:
            (sec, n_patches), _, _ = meter.measure(lambda f=f: read_all(paths[f]))
            reads[f].append(sec)
        for dt in cpu:
            cpu[dt].append(cpu_per_sample(paths["zarr"], float32=dt == "float32"))
    mb = PATCH_BYTES / 1e6
    print()
    print(f"machine load: {meter.other_cores:.2f} other cores busy on average (of 2)")
    print(
        f"\nPatchDataset -> DataLoader(batch_size=32), zarr, {n_samples} samples of "
        f"{mb:.2f} MB (4 modalities, 224 px), median of {args.repeats}:"
    )
    print(
        "| workers | sampler | dtype | cold epoch samples/s (incl. start) | warm epoch samples/s |"
    )
    print("|---|---|---|---|---|")
    results: dict[str, Any] = {"loader": [], "reads": [], "other_cores": meter.other_cores}
    for (workers, sampler, dt), runs in loader_runs.items():
        cold = statistics.median(c for c, _ in runs)
        warm = statistics.median(w for _, w in runs)
        print(f"| {workers} | {sampler} | {dt} | {n_samples / cold:.0f} | {n_samples / warm:.0f} |")
        results["loader"].append(
            {
                "workers": workers,
                "sampler": sampler,
                "dtype": dt,
                "cold_samples_per_s": n_samples / cold,
                "warm_samples_per_s": n_samples / warm,
                "runs": runs,
            }
        )
    results["cpu_s_per_sample"] = {}
    for dt, values in cpu.items():
        c = statistics.median(values)
        print(
            f"\nprofile ({dt}): {c * 1e3:.2f} CPU ms per sample in a worker (read + decode"
            f"{' + float32' if dt == 'float32' else ''} + batch), so 2 workers on 2 idle cores "
            f"reach at most {2 / c:.0f} samples/s"
        )
        results["cpu_s_per_sample"][dt] = c
    print(f"\nRandom-order reads of every patch (8 arrays), {n_patches} patches, one process:")
    print("| format | patches/s | MB/s |")
    print("|---|---|---|")
    for f, secs in reads.items():
        rate = n_patches / statistics.median(secs)
        print(f"| {f} | {rate:.0f} | {rate * mb:.0f} |")
        results["reads"].append({"format": f, "patches_per_s": rate, "seconds": secs})
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "loaders.json").write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
