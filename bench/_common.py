"""Shared helpers of the benchmark: data, configs, timing, page cache, machine load."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench_output"
#: One patch stack of the reference case (DEM, SAR, thermal float32; 6 x uint16 optical).
PATCH_BYTES = 1_204_224
#: The same plus the four validity masks (bool), as written by geoharmony.
PATCH_BYTES_WITH_MASKS = PATCH_BYTES + 4 * 224 * 224


def area_dir(size_km: float) -> Path:
    """Folder of the synthetic area of ``size_km`` (generated once, reused)."""
    return OUT / "data" / f"area{size_km:g}km"


def ensure_area(size_km: float, seed: int = 0) -> Path:
    """Synthesize the area if missing; return its benchmark config (rasters only)."""
    d = area_dir(size_km)
    done = d / ".complete"
    if not done.exists():
        from geoharmony.demo.data import synthesize_study_area

        print(f"  synthesizing the {size_km:g} km x {size_km:g} km area in {d} ...", flush=True)
        synthesize_study_area(d, seed=seed, size_km=size_km, patch_size=224, block=256)
        done.write_text("ok\n")
    return bench_config(d)


def bench_config(d: Path, *, stride: int | None = None, name: str = "bench.toml") -> Path:
    """The generated pipeline.toml without ``[split]`` and ``[labels.*]`` tables."""
    text = (d / "pipeline.toml").read_text(encoding="utf-8")
    out_lines: list[str] = []
    skip = False
    for line in text.splitlines():
        m = re.match(r"^\s*\[([^\]]+)\]\s*$", line)
        if m:
            table = m.group(1).strip()
            skip = table == "split" or table.startswith("labels.")
        if not skip:
            out_lines.append(line)
    body = "\n".join(out_lines) + "\n"
    if stride is not None:
        body = re.sub(r"(?m)^stride\s*=.*$", f"stride = {stride}", body)
    cfg = d / name
    cfg.write_text(body, encoding="utf-8")
    return cfg


# -- page cache ---------------------------------------------------------------------------
def can_drop_caches() -> bool:
    """True when this process may drop the page cache (root, writable /proc/sys/vm)."""
    try:
        drop_caches()
        return True
    except OSError:
        return False


def drop_caches() -> None:
    """Flush dirty pages and drop the page cache (raises OSError when not permitted)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


# -- machine load ---------------------------------------------------------------------------
def _cpu_jiffies() -> tuple[int, int]:
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts[:8]) - idle, sum(parts[:8])


@dataclass
class LoadMeter:
    """Average number of cores busy with *other* processes while measuring."""

    busy: float = 0.0
    own: float = 0.0
    wall: float = 0.0

    def measure(self, fn: Callable[[], Any]) -> tuple[Any, float, float]:
        """Run ``fn``; return (result, wall seconds, own CPU seconds incl. children)."""
        b0, _ = _cpu_jiffies()
        t0 = os.times()
        w0 = time.perf_counter()
        res = fn()
        w = time.perf_counter() - w0
        t1 = os.times()
        b1, _ = _cpu_jiffies()
        hz = os.sysconf("SC_CLK_TCK")
        own = (t1.user - t0.user) + (t1.system - t0.system)
        own += (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)
        self.busy += (b1 - b0) / hz
        self.own += own
        self.wall += w
        return res, w, own

    @property
    def other_cores(self) -> float:
        """Mean cores used by other processes during the measured sections."""
        return max(0.0, (self.busy - self.own) / self.wall) if self.wall else 0.0


# -- results ---------------------------------------------------------------------------------
@dataclass
class Series:
    """Repeated measurements of one method on one area."""

    method: str
    area: str
    n_patches: int
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def wall(self) -> float:
        """Median wall time (s)."""
        return statistics.median(self.walls) if self.walls else float("nan")

    @property
    def cpu(self) -> float:
        """Median CPU time of this process and its children (s)."""
        return statistics.median(self.cpus) if self.cpus else float("nan")

    @property
    def rate(self) -> float:
        """Patches per second (median wall)."""
        return self.n_patches / self.wall if self.walls else float("nan")

    @property
    def mbps(self) -> float:
        """Patch-stack megabytes (1 MB = 1e6 B, masks excluded) per second."""
        return self.rate * PATCH_BYTES / 1e6

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "method": self.method,
            "area": self.area,
            "n_patches": self.n_patches,
            "walls": self.walls,
            "cpus": self.cpus,
            "median_wall": self.wall,
            "patches_per_s": self.rate,
            "extra": self.extra,
        }


def run_json(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 1800) -> Any:
    """Run a command printing one JSON document on its last stdout line."""
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def python() -> str:
    """This interpreter."""
    return sys.executable
