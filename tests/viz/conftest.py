"""Fixtures for the figure and report tests (data builders live in ``vizdata.py``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from vizdata import make_area

from geoharmony.errors import TransformWarning


@pytest.fixture(autouse=True)
def _no_warnings() -> Iterator[None]:
    """Every figure test must run without any warning (the issue asks for it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # issue 9: a plan-time warning (the tiny area's 10 m Albers SAR: NAD83 -> WGS 84 is
        # accurate to 4 m, more than a quarter pixel), not a figure's
        warnings.filterwarnings("ignore", category=TransformWarning)
        yield


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pipeline.toml of the tiny synthetic area (session-wide, read only)."""
    return make_area(tmp_path_factory.mktemp("tiny_area"))


@pytest.fixture(scope="session")
def tiny_dataset(tiny_config: Path) -> Path:
    """The tiny area extracted (native mode), session-wide, read only."""
    import geoharmony as gh

    return gh.extract(gh.load_config(tiny_config), workers=1, progress=False)
