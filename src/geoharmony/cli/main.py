"""``geoharmony`` click group: logging, error handling and exit codes for every command.

Exit codes: 0 success; 2 bad input or configuration (one clear line, no traceback
unless ``--debug``); 1 anything else.
"""

from __future__ import annotations

import click

from geoharmony.cli import commands, viz_commands
from geoharmony.cli.context import Context, setup_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar (default: on a terminal)."
)
@click.option("-v", "--verbose", count=True, help="More log output.")
@click.version_option(package_name="geoharmony")
@click.pass_context
def cli(ctx: click.Context, debug: bool, progress: bool | None, verbose: int) -> None:
    """Aligned multi-resolution patch datasets from a boundary and co-located rasters."""
    setup_logging(verbose)
    ctx.obj = Context(debug, progress)


for _cmd in (*commands.COMMANDS, *viz_commands.COMMANDS):
    cli.add_command(_cmd)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="geoharmony")
