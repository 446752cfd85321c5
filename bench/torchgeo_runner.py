"""TorchGeo's way, run by ``bench/run.py`` inside the separate Python >= 3.12 environment.

Four ``RasterDataset`` instances (one per file) combined with ``&`` into an
``IntersectionDataset`` (TorchGeo warps every raster to the first one's CRS and 10 m
resolution, so the 30 m patches come out resampled to 224 px at 10 m: not the same
output as the notebook's or geoharmony's), a ``GridGeoSampler`` of 224 px with stride 224
over the watershed, and a ``DataLoader`` with ``stack_samples``. Prints one JSON line:
``{"n": samples, "times": [...], "build": s, "versions": {...}}``.

Usage: ``python torchgeo_runner.py DATA_DIR ROI_WKT_FILE WORKERS REPEATS``
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    """Time full passes of a DataLoader over the grid sampler."""
    import rasterio
    import shapely
    import torch
    import torchgeo
    from torch.utils.data import DataLoader
    from torchgeo.datasets import RasterDataset, stack_samples
    from torchgeo.samplers import GridGeoSampler

    data, roi_file, workers, repeats = (
        Path(sys.argv[1]),
        sys.argv[2],
        int(sys.argv[3]),
        int(sys.argv[4]),
    )

    def one(fname: str) -> type[RasterDataset]:
        return type(fname.split(".")[0], (RasterDataset,), {"filename_glob": fname})

    t0 = time.perf_counter()
    dem = one("dem_10m.tif")(paths=[str(data / "dem_10m.tif")])
    sar = one("sar_vv_10m.tif")(paths=[str(data / "sar_vv_10m.tif")])
    opt = one("landsat_optical_30m.tif")(paths=[str(data / "landsat_optical_30m.tif")])
    th = one("landsat_thermal_30m.tif")(paths=[str(data / "landsat_thermal_30m.tif")])
    ds = dem & sar & opt & th
    roi = shapely.from_wkt(Path(roi_file).read_text())
    sampler = GridGeoSampler(ds, size=224, stride=224, roi=roi)
    build = time.perf_counter() - t0
    times = []
    n = 0
    for _ in range(repeats):
        loader = DataLoader(
            ds, sampler=sampler, batch_size=1, num_workers=workers, collate_fn=stack_samples
        )
        t = time.perf_counter()
        n = 0
        for batch in loader:
            n += int(batch["image"].shape[0])
        times.append(time.perf_counter() - t)
    print(
        json.dumps(
            {
                "n": n,
                "times": times,
                "build": build,
                "shape": list(batch["image"].shape),
                "versions": {
                    "torchgeo": torchgeo.__version__,
                    "torch": torch.__version__,
                    "rasterio": rasterio.__version__,
                    "gdal": rasterio.__gdal_version__,
                    "python": sys.version.split()[0],
                },
            }
        )
    )


if __name__ == "__main__":
    main()
