"""Commands: each parses options and calls one library function."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from geoharmony.cli.context import Context, handle_errors


def plan_lines(plan: Any) -> list[str]:
    """What the plan decided that a user should read before any pixel is written."""
    lines: list[str] = []
    empty = plan.regions_without_patches
    if empty:
        more = " …" if len(empty) > 10 else ""
        lines.append(
            f"empty     {len(empty)} region(s) without patches: {', '.join(empty[:10])}{more}"
        )
    return lines + list(plan.notes)


@click.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="GeoParquet (.parquet) or GeoJSON (.geojson).",
)
@handle_errors
def centers(config: Path, out: Path | None) -> None:
    """Plan only: the kept patch centres and per-modality footprints."""
    from geoharmony.planning.centers import write_centers
    from geoharmony.planning.config import load_config
    from geoharmony.planning.plan import compute_plan

    plan = compute_plan(load_config(config))
    for line in plan_lines(plan):
        click.echo(line, err=True)
    path, n = write_centers(plan.config, out, plan=plan)
    click.echo(f"{n} patch centres -> {path}")


@click.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Dataset folder (default [output].path).",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Local processes (default: cores)."
)
@click.option(
    "--scheduler",
    default=None,
    help="Dask scheduler address (tcp://host:port), e.g. of a dask-jobqueue SLURMCluster.",
)
@click.option(
    "--overwrite", is_flag=True, help="Replace an existing dataset of another configuration."
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="A progress bar (default: on a terminal; else a log line every 30 s).",
)
@click.option(
    "--shard",
    default=None,
    metavar="I/N",
    help="Run only shard I of N (0-based; a job array: $SLURM_ARRAY_TASK_ID/"
    "$SLURM_ARRAY_TASK_COUNT) into the shared partial folder, then exit.",
)
@click.option(
    "--finish",
    is_flag=True,
    help="Run no task: assemble index, manifest and stats once every shard is done "
    "(else say which tasks are missing).",
)
@click.option(
    "--fail-fast",
    is_flag=True,
    help="Stop at the first region whose raster cannot be read (default: it fails "
    "alone, the others complete, exit code 3).",
)
@click.pass_obj
@handle_errors
def extract(
    obj: Context,
    config: Path,
    out: Path | None,
    workers: int | None,
    scheduler: str | None,
    overwrite: bool,
    progress: bool | None,
    shard: str | None,
    finish: bool,
    fail_fast: bool,
) -> None:
    """Extract the patch dataset (resumes an interrupted run).

    Exit codes: 0 complete; 3 completed with failed regions (listed; `failures.json`
    in the dataset; rerun to retry only them); 2 bad input or configuration.
    """
    import geoharmony as gh
    from geoharmony.execution.extract import checked_plan
    from geoharmony.execution.failures import EXIT_FAILURES, read_failures, summary
    from geoharmony.execution.shards import parse_shard

    cfg = gh.load_config(config)
    part = parse_shard(shard) if shard is not None else None
    plan = checked_plan(cfg)

    def announce(p: Any) -> None:  # once the run goes ahead: a refusal prints only itself
        for line in plan_lines(p):
            click.echo(line, err=True)

    path = gh.extract(
        cfg,
        plan=plan,
        out=out,
        workers=workers,
        scheduler=scheduler,
        overwrite=overwrite,
        progress=obj.progress if progress is None else progress,
        shard=part,
        finish=finish,
        fail_fast=fail_fast,
        announce=announce,
    )
    if part is not None:
        from geoharmony.execution.extract import task_progress

        done, total, failed = task_progress(path)
        click.echo(
            f"shard {part}: done; {done} of {total} tasks of the run recorded"
            + (f", {failed} with failed regions" if failed else "")
            + (
                f"; assemble with: geoharmony extract {config} --finish"
                if done == total
                else "; the other shards are still to finish"
            )
        )
        return
    failures = read_failures(path)
    if failures:
        click.echo(f"dataset: {path} (INCOMPLETE)")
        click.echo(
            f"error: {summary(failures)}; details in {path / 'failures.json'}; "
            "rerun the same command to retry only them",
            err=True,
        )
        sys.exit(EXIT_FAILURES)
    click.echo(f"dataset: {path}")


@click.command()
@click.argument("dataset", type=click.Path(file_okay=False, path_type=Path))
@handle_errors
def info(dataset: Path) -> None:
    """Summary: patches, regions, modalities, splits, valid fractions."""
    from geoharmony.qa.summary import summary_text

    click.echo(summary_text(dataset))


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo_output"),
    show_default=True,
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Local processes (default: cores)."
)
@click.pass_obj
@handle_errors
def demo(obj: Context, out: Path, workers: int | None) -> None:
    """Synthesise a sample study area, extract it and draw the QA figures."""
    from geoharmony.demo.run import run_demo

    for line in run_demo(out, workers=workers, progress=obj.progress):
        click.echo(line)


@click.command()
@click.argument("dataset", type=click.Path(file_okay=False, path_type=Path))
@handle_errors
def validate(dataset: Path) -> None:
    """Re-read everything and check it against the plan and manifest (exit 1 if invalid)."""
    from geoharmony.errors import DamagedDatasetError
    from geoharmony.qa.validate import validate as check

    try:
        rep = check(dataset)
    except DamagedDatasetError as exc:  # its manifest is unreadable: invalid, not bad input
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for line in rep.checked:
        click.echo(f"ok       {line}")
    for f in rep.findings:
        click.echo(f"{f.severity:<8} {f.code}: {f.message.replace('`', '')}")
    if not rep.ok:
        click.echo(f"error: {dataset}: dataset is invalid: " + "; ".join(rep.problems), err=True)
        sys.exit(1)
    click.echo(f"valid: {dataset}")


@click.command("fetch-example")
@click.argument("name", required=False)
@click.option(
    "--dir",
    "dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("examples"),
    show_default=True,
)
@click.option("--list", "list_", is_flag=True, help="List the available examples.")
@handle_errors
def fetch_example(name: str | None, dest: Path, list_: bool) -> None:
    """Download a published sample dataset (checksummed) with a ready pipeline.toml."""
    from geoharmony.demo.examples import fetch_example as fetch
    from geoharmony.demo.examples import registry

    if list_ or not name:
        for key, entry in sorted(registry().items()):
            click.echo(f"{key:<12} {entry['description']}")
        return
    cfg = fetch(name, dest)
    click.echo(f"example {name}: {cfg.parent}")
    source = cfg.parent / "source.json"
    if source.is_file():  # an archive checked against its publisher's md5 and size
        import json

        rec = json.loads(source.read_text(encoding="utf-8"))
        click.echo(f"source:  {rec['url']} ({rec['size']} bytes, md5 {rec['md5']} verified)")
        click.echo(f"sha256:  {rec['sha256']}")
    click.echo(f"run:     geoharmony extract {cfg}")


COMMANDS = [centers, extract, info, demo, validate, fetch_example]
