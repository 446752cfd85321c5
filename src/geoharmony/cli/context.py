"""What every command shares: the ``ctx.obj`` state and the error-to-exit-code mapping.

Exit codes: 0 success; 2 bad input or configuration (one clear line, no traceback
unless ``--debug``); 3 ``extract`` completed with failed regions (see
:mod:`geoharmony.execution.failures`); 1 anything else.
"""

from __future__ import annotations

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
