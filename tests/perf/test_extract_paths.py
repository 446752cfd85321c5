"""Extraction through the grouped reader and the worker pool gives the reference patches."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

import geoharmony as gh
from geoharmony.demo.data import synthesize_study_area
from geoharmony.execution.tasks import close_readers, read_task
from geoharmony.execution.tasks import make_tasks as _tasks
from geoharmony.planning.plan import compute_plan


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("perf_area")
    cfg = synthesize_study_area(d, size_km=6.0, patch_size=32, block=64)
    text = cfg.read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^\[(split|labels\.[^\]]+)\].*?(?=^\[)", "", text)
    text = text.replace("[output]", "[output]\npatches_per_shard = 4")
    out = d / "bench.toml"
    out.write_text(text, encoding="utf-8")
    return out


def test_read_task_equals_boundless_reads(area: Path, tmp_path: Path) -> None:
    cfg = gh.load_config(area)
    plan = compute_plan(cfg)
    assert plan.n_tasks >= 2
    for task in _tasks(plan, tmp_path, set()):
        arrays = read_task(task)
        infos = task.sources[str(task.rows["region"].iloc[0])]
        for name, info in infos.items():
            with rasterio.open(info.path) as ds:
                for k, (_, row) in enumerate(task.rows.iterrows()):
                    win = Window(
                        row[f"{name}_col_off"],
                        row[f"{name}_row_off"],
                        row[f"{name}_width"],
                        row[f"{name}_height"],
                    )
                    want = ds.read(
                        list(info.bands), window=win, boundless=True, fill_value=info.fill_value
                    )
                    np.testing.assert_array_equal(arrays[name][k], want, err_msg=name)
    close_readers()


def test_pool_equals_serial(area: Path, tmp_path: Path) -> None:
    cfg = gh.load_config(area)
    one = gh.extract(cfg, out=tmp_path / "one", workers=1, progress=False)
    two = gh.extract(cfg, out=tmp_path / "two", workers=2, progress=False)
    a, b = gh.open_dataset(one), gh.open_dataset(two)
    assert len(a) == len(b) > 8
    for i in range(len(a)):
        pa, pb = a[i], b[i]
        assert pa.keys() == pb.keys()
        for key in pa:
            np.testing.assert_array_equal(pa[key], pb[key], err_msg=f"{i} {key}")
    assert a.manifest["stats"] == b.manifest["stats"]
