"""Every example configuration in examples/ is valid (keys, types, rules)."""

from __future__ import annotations

from pathlib import Path

import pytest

import geoharmony as gh

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.toml"))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_loads(path: Path, tmp_path: Path) -> None:
    # explicit split lists name files relative to the config: give them one
    text = path.read_text()
    copy = tmp_path / path.name
    copy.write_text(text)
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train_hucs.txt").write_text("071300090401\n071300090402\n")
    cfg = gh.load_config(copy)
    assert cfg.grid.patch_size > 0
    assert cfg.output.path.is_absolute() and cfg.output.path.parent.parent == tmp_path
    for m in cfg.modalities.values():
        assert Path(m.path).is_absolute()
