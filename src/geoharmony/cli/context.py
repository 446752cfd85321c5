"""What every command shares: the ``ctx.obj`` state and the error-to-exit-code mapping.

Exit codes: 0 success; 2 bad input or configuration (one clear line, no traceback
unless ``--debug``); 3 ``extract`` completed with failed regions (see
:mod:`geoharmony.execution.failures`); 1 anything else.
"""

from __future__ import annotations

import logging
import signal
import sys
import warnings
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


_SEEN_WARNINGS: set[str] = set()


def _log_warning(message: Any, category: type[Warning], *_: Any, **__: Any) -> None:
    """Warnings as one log line each, each distinct one once."""
    text = f"{message}"
    if text in _SEEN_WARNINGS:
        return
    _SEEN_WARNINGS.add(text)
    logging.getLogger("geoharmony").warning("%s (%s)", text, category.__name__)


def setup_logging(verbose: int) -> None:
    """Log lines to stderr: warnings always, run progress and summaries, more with ``-v``.

    Python warnings are routed here (one line each, each once).
    """
    level = logging.INFO if verbose == 0 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger("geoharmony")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(logging.WARNING if verbose == 0 else level)
    # a run's progress lines and summary are shown by default (batch logs need them)
    logging.getLogger("geoharmony.execution.progress").setLevel(level)
    warnings.showwarning = _log_warning


def handle_errors(fn: F) -> F:
    """Map GeoharmonyError to exit 2 and other errors to exit 1, one line each.

    Ctrl-C and SIGTERM stop the run cleanly (workers stopped, what was kept said): exit
    130 (143 for SIGTERM), one line, no traceback.
    """

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = bool(ctx.obj and ctx.obj.debug)
        term = False

        def on_term(signum: int, frame: Any) -> None:
            nonlocal term
            term = True
            raise KeyboardInterrupt

        old = signal.signal(signal.SIGTERM, on_term)
        try:
            return fn(*args, **kwargs)
        except GeoharmonyError as exc:
            if debug:
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt as exc:
            if debug:
                raise
            msg = str(exc) or "stopped before any task was written; nothing to resume"
            click.echo(
                f"{'terminated (SIGTERM)' if term else 'interrupted'}: "
                f"{msg.removeprefix('interrupted: ')}",
                err=True,
            )
            sys.exit(143 if term else 130)
        except (click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:
            if debug:
                raise
            click.echo(
                f"error: {type(exc).__name__}: {exc} (run with --debug for a traceback)", err=True
            )
            sys.exit(1)
        finally:
            signal.signal(signal.SIGTERM, old)

    return wrapper  # type: ignore[return-value]
