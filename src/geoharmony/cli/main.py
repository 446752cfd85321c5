"""``geoharmony`` click group: logging, error handling and exit codes for every command.

Exit codes: 0 success; 2 bad input or configuration (one clear line, no traceback
unless ``--debug``); 1 anything else.
"""

from __future__ import annotations

import sys

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


#: click >= 8.2 raises this for a group called with no arguments (its message is the help).
_NO_ARGS: type[Exception] | tuple[()] = getattr(click.exceptions, "NoArgsIsHelpError", ())


def main() -> None:
    """Console-script entry point.

    A usage error (a missing argument, a bad option value) is one line too, like every
    other refusal, naming the command and where its help is; exit 2.
    """
    try:
        rv = cli.main(prog_name="geoharmony", standalone_mode=False)
    except click.UsageError as exc:
        if isinstance(exc, _NO_ARGS) and exc.ctx is not None:  # bare `geoharmony`: the help
            click.echo(exc.ctx.get_help())
            sys.exit(0)
        where = exc.ctx.command_path if exc.ctx is not None else "geoharmony"
        message = " ".join(exc.format_message().split())
        click.echo(f"error: {where}: {message} (see {where} --help)", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
