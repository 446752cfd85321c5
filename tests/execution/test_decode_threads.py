"""How many threads decode in a single-process run: the user's GDAL_NUM_THREADS wins."""

from __future__ import annotations

import os

import pytest

from geoharmony.io.gdal_env import decode_thread_count


@pytest.mark.parametrize(
    ("env", "asked", "want"),
    [
        (None, None, 1),
        (None, "ALL_CPUS", os.cpu_count() or 1),
        ("1", "ALL_CPUS", 1),  # a baseline of one decode thread, whatever the run asks
        ("3", None, 3),
        ("all_cpus", "1", os.cpu_count() or 1),
        ("0", None, 1),
        ("many", "ALL_CPUS", 1),
    ],
)
def test_the_environment_wins_over_the_runs_default(
    monkeypatch: pytest.MonkeyPatch, env: str | None, asked: str | None, want: int
) -> None:
    if env is None:
        monkeypatch.delenv("GDAL_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("GDAL_NUM_THREADS", env)
    assert decode_thread_count(asked) == want
