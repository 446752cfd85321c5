"""Shared fixtures; the helpers themselves live in ``synth.py`` (imported by name)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from synth import (  # noqa: F401 - re-exported for older imports
    SHARED,
    dumps,
    lonlat_to,
    write_boundary,
    write_config,
    write_coord_raster,
)


@pytest.fixture
def coord_raster(tmp_path: Path) -> Callable[..., Path]:
    """Factory fixture for :func:`write_coord_raster` inside ``tmp_path``."""

    def make(name: str, **kw: Any) -> Path:
        return write_coord_raster(tmp_path / name, **kw)

    return make


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository; skips the test when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"real test data not found at {SHARED} (the read-only ../shared/data folder)")
    return SHARED


@pytest.fixture(scope="session")
def geoharmony_exe() -> Path:
    """The installed ``geoharmony`` console script next to the running interpreter."""
    import sys

    exe = Path(sys.executable).parent / "geoharmony"
    if not exe.is_file():
        pytest.skip(f"the geoharmony entry point is not installed at {exe} (pip install -e .)")
    return exe


# Real services for the remote, SLURM and batch tests (tests/infra): `slurm_cluster`
# (session) and `http_server` (a factory of nginx servers on 127.0.0.1).
from infra.fixtures import http_server, slurm_cluster  # noqa: E402, F401
