"""``info`` in resample mode (issue 9, item 11): the warp grid apart from the source grids;
CRSs without an EPSG code by name, never as WKT."""

from __future__ import annotations

import subprocess
from pathlib import Path

import shapely
from affine import Affine

from synth import lonlat_to, write_boundary, write_config, write_coord_raster

LAEA = "+proj=laea +lat_0=40 +lon_0=-105 +x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs"


def test_info_shows_the_warp_grid_and_crs_names(tmp_path: Path, geoharmony_exe: Path) -> None:
    x, y = lonlat_to("EPSG:32613", -105.3, 40.2)
    write_coord_raster(
        tmp_path / "ref.tif",
        crs="EPSG:32613",
        transform=Affine(10, 0, x, 0, -10, y),
        width=50,
        height=50,
    )
    lx, ly = lonlat_to(LAEA, -105.3, 40.2)
    write_coord_raster(
        tmp_path / "laea.tif",
        crs=LAEA,
        transform=Affine(20, 0, lx - 100, 0, -20, ly + 100),
        width=40,
        height=40,
    )
    write_boundary(
        tmp_path / "a.geojson", [shapely.box(x + 50, y - 450, x + 450, y - 50)], "EPSG:32613"
    )
    cfg = write_config(
        tmp_path / "p.toml",
        """
        [study_area]
        boundary = "a.geojson"

        [grid]
        reference = "ref"
        patch_size = 8
        mode = "resample"

        [modalities.ref]
        path = "ref.tif"

        [modalities.laea]
        path = "laea.tif"

        [output]
        path = "out"
        """,
    )
    r = subprocess.run([str(geoharmony_exe), "extract", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [str(geoharmony_exe), "info", str(tmp_path / "out")], capture_output=True, text=True
    )
    text = r.stdout
    warp = next(line for line in text.splitlines() if line.startswith("warp grid"))
    assert "ref's grid: EPSG:32613" in warp and "8 x 8 px" in warp
    laea = next(line for line in text.splitlines() if line.strip().startswith("laea"))
    assert "warped from 2" in laea  # the source grid: ~20 m
    assert "PROJCRS" not in text and "+proj" not in text
    assert "0 cross-region duplicates" in text
