"""``geoharmony`` click group: logging, error handling and exit codes for every command.

Exit codes: 0 success; 2 bad input or configuration (one clear line, no traceback
unless ``--debug``); 1 anything else.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from geoharmony.errors import GeoharmonyError

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """State shared by commands (``ctx.obj``)."""

    def __init__(self, debug: bool, progress: bool | None) -> None:
        self.debug = debug
        self.progress = progress


def handle_errors(fn: F) -> F:
    """Map GeoharmonyError to exit 2 and other errors to exit 1, one line each."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = bool(ctx.obj and ctx.obj.debug)
        try:
            return fn(*args, **kwargs)
        except GeoharmonyError as exc:
            if debug:
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except (click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if debug:
                raise
            click.echo(
                f"error: {type(exc).__name__}: {exc} (run with --debug for a traceback)", err=True
            )
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


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
    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose, 2), format="%(levelname)s %(name)s: %(message)s"
    )
    ctx.obj = Context(debug, progress)


def _register() -> None:
    from geoharmony.cli import commands

    for cmd in commands.COMMANDS:
        cli.add_command(cmd)
    from geoharmony.cli import viz_commands

    for cmd in viz_commands.COMMANDS:
        cli.add_command(cmd)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="geoharmony")
