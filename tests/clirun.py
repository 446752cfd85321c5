"""Test helpers: run the installed CLI as a real process (a module of its own: unique name)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any


def run_cli(exe: Path, *args: Any, env: dict[str, str] | None = None, timeout: float = 600) -> Any:
    """Run ``geoharmony ARGS`` to completion; returns the CompletedProcess."""
    return subprocess.run(
        [str(exe), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def start_cli(
    exe: Path, *args: Any, env: dict[str, str] | None = None, new_session: bool = False
) -> subprocess.Popen[str]:
    """Start ``geoharmony ARGS`` (stdout/stderr piped; ``new_session``: its own group)."""
    return subprocess.Popen(
        [str(exe), *map(str, args)],
        start_new_session=new_session,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def leftovers(out: Path) -> list[str]:
    """Anything a run must not leave beside or inside a finished dataset."""
    bad = [p.name for p in out.parent.glob(f".{out.name}.*")]
    bad += [str(p) for p in out.rglob(".*tmp*")]
    bad += [str(p) for p in out.rglob("_tasks")] + [str(p) for p in out.rglob("_state.json")]
    return bad
