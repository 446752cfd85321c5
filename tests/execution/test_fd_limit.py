"""60 per-region rasters (``{id}`` paths) extract under ``ulimit -n 64``.

The extract runs in a subprocess whose file-descriptor limit is lowered before it starts
(``resource.setrlimit`` in ``preexec_fn``): the raster pool must keep the number of open
handles bounded by its LRU, not by the number of rasters.
"""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

import shapely
from affine import Affine

import geoharmony as gh
from synth import write_boundary, write_config, write_coord_raster

N = 60


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def test_sixty_per_region_rasters_under_ulimit_64(tmp_path: Path, geoharmony_exe: Path) -> None:
    (tmp_path / "tiles").mkdir()
    geoms, props = [], []
    for k in range(N):
        x0, y0 = 500000 + k * 400, 4400000
        write_coord_raster(
            tmp_path / "tiles" / f"t{k:02d}.tif",
            crs=32616,
            transform=Affine(10, 0, x0 - 40, 0, -10, y0 + 200),
            width=28,
            height=28,
        )
        geoms.append(shapely.box(x0, y0, x0 + 160, y0 + 160))
        props.append({"tile": f"t{k:02d}"})
    write_boundary(tmp_path / "b.geojson", geoms, 32616, props)
    cfg = write_config(
        tmp_path / "p.toml",
        """
        [study_area]
        boundary = "b.geojson"
        id_field = "tile"

        [grid]
        patch_size = 8
        stride = 8

        [modalities.xy]
        path = "tiles/{id}.tif"

        [output]
        path = "out"
        patches_per_shard = 4
        """,
    )
    res = subprocess.run(
        [str(geoharmony_exe), "--no-progress", "extract", str(cfg), "--workers", "1"],
        preexec_fn=_limit,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    ds = gh.open_dataset(tmp_path / "out")
    assert ds.index["region"].nunique() == N
    # every region's patch comes from its own raster: band 1 is the pixel's x
    for i in range(0, len(ds), max(1, len(ds) // 20)):
        row = ds.index.iloc[i]
        x = ds[i]["xy"][0]
        k = int(str(row["region"])[1:])
        assert 500000 + k * 400 - 40 <= float(x.min()) and float(x.max()) <= 500000 + k * 400 + 240
