"""``make lint`` enforces the layers: an upward import makes ``lint-imports`` fail.

The package is copied to a temporary folder, checked as is (the contracts hold), then a
geometry module gets an import of the planning layer above it and the same contracts,
run against the copy (``PYTHONPATH``), must fail naming that import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd / "src")}
    return subprocess.run(
        [str(LINT), "--no-cache", "--no-logo", str(cwd / "pyproject.toml")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.skipif(
    not LINT.is_file(), reason="import-linter is not installed (pip install .[dev])"
)
def test_an_upward_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    shutil.copytree(
        ROOT / "src" / "geoharmony",
        tmp_path / "src" / "geoharmony",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    r = _lint(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout

    grid = tmp_path / "src" / "geoharmony" / "geometry" / "grid.py"
    grid.write_text(
        grid.read_text(encoding="utf-8")
        + "\n\nfrom geoharmony.planning import study_area as _upward  # deliberately wrong\n",
        encoding="utf-8",
    )
    r = _lint(tmp_path)
    assert r.returncode != 0, r.stdout
    assert "BROKEN" in r.stdout
    assert "geoharmony.geometry.grid -> geoharmony.planning.study_area" in r.stdout
