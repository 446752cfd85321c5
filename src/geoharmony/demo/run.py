"""``geoharmony demo``: synthesise a sample study area, extract it, report where things are."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def run_demo(
    out: Path, *, workers: int | None = None, progress: bool | None = None, seed: int = 0
) -> Iterator[str]:
    """Run the whole pipeline on a synthetic area; yield lines describing what was written."""
    import geoharmony as gh
    from geoharmony.demo.data import synthesize_study_area, write_config
    from geoharmony.qa.summary import summary_text

    out = Path(out)
    data = out / "inputs"
    synthesize_study_area(data, seed=seed)
    # A 500 m buffer, as researchers add context around a watershed (the study-area
    # figure then shows boundary, buffer and bounding box apart).
    cfg_path = write_config(data, buffer_m=500)
    yield f"inputs:   {data} (config {cfg_path})"
    cfg = gh.load_config(cfg_path)
    dataset = gh.extract(
        cfg, out=out / "dataset", workers=workers, progress=progress, overwrite=True
    )
    yield f"dataset:  {dataset}"
    yield summary_text(dataset)
    from geoharmony.report.bundle import demo_figures

    for path in demo_figures(cfg, dataset, out / "figures"):
        label = "report:" if path.suffix == ".html" else "figure:"
        yield f"{label:<9} {path}"
