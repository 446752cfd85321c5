"""``gh.extract(cfg, workers=2)`` from a plain script without a main guard works.

Worker processes would re-import such a script (and start a run each); geoharmony starts
its workers without importing an unguarded ``__main__``, so the script runs once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geoharmony as gh
from digest import dataset_digest
from scenes import small_scene

SCRIPT = """
import geoharmony as gh
print("script body ran")
cfg = gh.load_config({cfg!r})
gh.extract(cfg, out={out!r}, workers=2)
print("done")
"""


def test_unguarded_script_with_two_workers(tmp_path: Path) -> None:
    cfg = small_scene(tmp_path, regions=2)
    script = tmp_path / "tour.py"
    script.write_text(SCRIPT.format(cfg=str(cfg), out=str(tmp_path / "ds")))
    r = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["script body ran", "done"], r.stdout
    assert "Traceback" not in r.stderr and "leaked" not in r.stderr, r.stderr
    ref = gh.extract(gh.load_config(cfg), out=tmp_path / "ref", workers=1)
    assert dataset_digest(tmp_path / "ds") == dataset_digest(ref)
