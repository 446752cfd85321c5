"""Fixtures of the writer conformance suite."""

from __future__ import annotations

import pytest

from writers.contract import Scene, make_scene


@pytest.fixture(scope="session")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    """The synthetic scene and its zarr reference dataset (built once per session)."""
    return make_scene(tmp_path_factory.mktemp("writer_scene"))
