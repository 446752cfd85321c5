"""Every QA figure of a dataset plus its HTML report, written to one folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from geoharmony.report.html import write_report
from geoharmony.viz.figures import sample_patches, save_figure
from geoharmony.viz.source import VizInputError, load_source


def demo_figures(
    cfg: Any, dataset_path: str | Path, out_dir: str | Path, *, dpi: float | None = None
) -> list[Path]:
    """Write every QA figure of a dataset and its HTML report; return their paths.

    Parameters
    ----------
    cfg
        The configuration the dataset was extracted from (unused beyond a sanity check:
        the dataset's manifest holds everything the figures need).
    dataset_path
        The dataset folder.
    out_dir
        Where the PNGs and ``report.html`` go.
    dpi
        Resolution of every figure (default: each figure's own).
    """
    from geoharmony.viz.centers import plot_centers
    from geoharmony.viz.footprints import plot_footprints
    from geoharmony.viz.grid import plot_grid
    from geoharmony.viz.patch import plot_patch
    from geoharmony.viz.study_area import plot_study_area

    out = Path(out_dir).absolute()
    src = load_source(Path(dataset_path))
    if len(src.index) == 0:
        raise VizInputError(f"{src.label}: has no patches; nothing to draw")
    kw: dict[str, Any] = {"dpi": dpi} if dpi else {}
    paths = [
        save_figure(plot_study_area(src, **kw), out / "study_area.png"),
        save_figure(plot_centers(src, **kw), out / "centers.png"),
    ]
    samples = sample_patches(src, 2)
    k0 = samples[0][0]
    pid = str(src.index["patch_id"].iloc[k0])
    paths.append(save_figure(plot_footprints(src, k0, **kw), out / f"footprints_{pid}.png"))
    for m in src.modalities:
        paths.append(save_figure(plot_grid(src, m, **kw), out / f"grid_{m}.png"))
    for k, _ in samples:
        pid = str(src.index["patch_id"].iloc[k])
        paths.append(save_figure(plot_patch(src, k, **kw), out / f"patch_{pid}.png"))
    paths.append(write_report(src, out / "report.html", **kw))
    return paths
