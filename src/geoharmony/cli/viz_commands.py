"""``geoharmony plot KIND SOURCE --out FILE.png`` and ``geoharmony report DATASET --out``.

SOURCE is a configuration file (before extraction: the plan) or a dataset folder. Each
command calls one library function and writes one file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from geoharmony.cli.context import handle_errors

_source = click.argument("source", type=click.Path(path_type=Path))
_out = click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Image file to write (.png, .svg or .pdf).",
)
_dpi = click.option("--dpi", type=click.FloatRange(min=20, max=600), default=110, show_default=True)
_style = click.option(
    "--style",
    "styles",
    multiple=True,
    metavar="NAME=KIND",
    help="How to draw a modality: dem, sar, rgb, thermal, continuous, categorical or d8 "
    "(default: guessed from its name, dtype and bands). Repeatable.",
)
_patch = click.option(
    "--patch",
    default="0",
    show_default=True,
    help="Patch position in the index (0, -1, ...) or its patch_id.",
)
_region = click.option("--region", default=None, help="One region id (default: all).")


def _styles(items: tuple[str, ...]) -> dict[str, str]:
    from geoharmony.viz.source import VizInputError

    out = {}
    for it in items:
        name, sep, kind = it.partition("=")
        if not sep or not name or not kind:
            raise VizInputError(
                f"--style {it!r}: expected NAME=KIND, e.g. --style thickness=continuous"
            )
        out[name.strip()] = kind.strip()
    return out


def _save(make: Callable[[], Any], out: Path, dpi: float) -> None:
    from geoharmony.viz.figures import check_out, save_figure

    check_out(out)
    click.echo(f"figure: {save_figure(make(), out, dpi=dpi)}")


def _patch_arg(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value


@click.group()
def plot() -> None:
    """Draw a QA figure from a configuration (the plan) or a dataset folder."""


@plot.command("study-area")
@_source
@_out
@_region
@click.option(
    "--crs",
    type=click.Choice(["lonlat", "metric", "raster"]),
    default="lonlat",
    show_default=True,
    help="Axes: longitude/latitude, a local metric CRS centred on the area, or the raster's CRS.",
)
@click.option("--background", default=None, help="Modality drawn underneath (default: a DEM).")
@_style
@_dpi
@handle_errors
def study_area(
    source: Path,
    out: Path,
    region: str | None,
    crs: str,
    background: str | None,
    styles: tuple[str, ...],
    dpi: float,
) -> None:
    """Boundary, buffered boundary and bounding box over a hillshade."""
    from geoharmony.viz.study_area import plot_study_area

    _save(
        lambda: plot_study_area(
            source, region=region, crs=crs, background=background, styles=_styles(styles), dpi=dpi
        ),
        out,
        dpi,
    )


@plot.command("centers")
@_source
@_out
@_region
@_style
@_dpi
@handle_errors
def centers(
    source: Path, out: Path, region: str | None, styles: tuple[str, ...], dpi: float
) -> None:
    """All lattice centres vs kept centres over the reference raster."""
    from geoharmony.viz.centers import plot_centers

    _save(lambda: plot_centers(source, region=region, styles=_styles(styles), dpi=dpi), out, dpi)


@plot.command("footprints")
@_source
@_out
@_patch
@_dpi
@handle_errors
def footprints(source: Path, out: Path, patch: str, dpi: float) -> None:
    """One patch's true ground footprint in every modality (local metric CRS)."""
    from geoharmony.viz.footprints import plot_footprints

    _save(lambda: plot_footprints(source, _patch_arg(patch), dpi=dpi), out, dpi)


@plot.command("grid")
@_source
@_out
@click.option("--modality", default=None, help="Modality (default: the reference).")
@_region
@_style
@_dpi
@handle_errors
def grid(
    source: Path,
    out: Path,
    modality: str | None,
    region: str | None,
    styles: tuple[str, ...],
    dpi: float,
) -> None:
    """All patch footprints of one modality over its raster, in its own CRS."""
    from geoharmony.viz.grid import plot_grid

    _save(
        lambda: plot_grid(source, modality, region=region, styles=_styles(styles), dpi=dpi),
        out,
        dpi,
    )


@plot.command("patch")
@_source
@_out
@_patch
@click.option(
    "--view",
    "views",
    multiple=True,
    type=click.Choice(["extent", "pixels", "common"]),
    help="Rows to draw (repeatable; default: all three).",
)
@click.option(
    "--output", "outputs", multiple=True, help="Outputs to show (repeatable; default: all)."
)
@_style
@click.option("--dpi", type=click.FloatRange(min=20, max=600), default=100, show_default=True)
@handle_errors
def patch(
    source: Path,
    out: Path,
    patch: str,
    views: tuple[str, ...],
    outputs: tuple[str, ...],
    styles: tuple[str, ...],
    dpi: float,
) -> None:
    """One patch, every modality side by side: real extent, pixels, common extent."""
    from geoharmony.viz.patch import VIEWS, plot_patch

    _save(
        lambda: plot_patch(
            source,
            _patch_arg(patch),
            views=views or VIEWS,
            outputs=outputs or None,
            styles=_styles(styles),
            dpi=dpi,
        ),
        out,
        dpi,
    )


@click.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="HTML file to write.",
)
@click.option(
    "--patches",
    type=click.IntRange(min=0, max=50),
    default=3,
    show_default=True,
    help="How many sampled patches get footprint and patch figures.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the patch sample.")
@click.option(
    "--dpi",
    type=click.FloatRange(min=20, max=300),
    default=90,
    show_default=True,
    help="Resolution of the embedded figures.",
)
@handle_errors
def report(dataset: Path, out: Path, patches: int, seed: int, dpi: float) -> None:
    """One self-contained HTML report of a dataset (images embedded)."""
    from geoharmony.report.html import write_report

    path = write_report(dataset, out, n_patches=patches, seed=seed, dpi=dpi)
    click.echo(f"report: {path}")


COMMANDS = [plot, report]
