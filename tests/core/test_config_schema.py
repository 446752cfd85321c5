"""The documented configuration keys are exactly those the parsers accept, and the README
section is the generator's output (so neither can drift)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from geoharmony.errors import ConfigError
from geoharmony.planning.config import config_from_dict
from geoharmony.planning.config.schema import BEGIN, END, SCHEMA, markdown

README = Path(__file__).resolve().parents[2] / "README.md"
UNKNOWN = "zzqxjv"  # far from every key: the error lists them all

BASE: dict[str, Any] = {
    "study_area": {"boundary": "b.geojson"},
    "grid": {"patch_size": 8},
    "modalities": {"dem": {"path": "dem.tif"}},
    "output": {"path": "out"},
}


def _with_unknown(table: str) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    bad = {UNKNOWN: 1}
    if table == "modalities.NAME":
        raw["modalities"]["dem"] |= bad
    elif table == "output.npz":
        raw["output"] |= {"format": "npz", "npz": bad}
    elif table == "output.npz.stats_blocks.NAME":
        raw["output"] |= {"format": "npz", "npz": {"stats_blocks": {"dem": {"block": "d"} | bad}}}
    elif table == "labels.NAME":  # the parser lists every kind's keys for an unknown one
        raw["labels"] = {"x": {"kind": "d8", "dem": "dem"} | bad}
    elif table == "labels.NAME.sources[k]":
        raw["labels"] = {"x": {"kind": "vector", "grid": "dem", "sources": [{"path": "a"} | bad]}}
    else:
        raw.setdefault(table, {}).update(bad)
    return raw


@pytest.mark.parametrize("table", list(SCHEMA))
def test_schema_lists_exactly_the_keys_each_parser_accepts(table: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=UNKNOWN) as err:
        config_from_dict(_with_unknown(table), source=tmp_path / "c.toml")
    m = re.search(r"valid keys: (.*)$", str(err.value))
    assert m, str(err.value)
    accepted = {k.strip() for k in m.group(1).split(",")}
    assert accepted == {k.name for k in SCHEMA[table]}


def test_readme_section_is_the_generated_one() -> None:
    text = README.read_text(encoding="utf-8")
    start, stop = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:stop] == markdown(), (
        "README.md's key reference is stale: run "
        "`python -m geoharmony.planning.config.schema --write README.md`"
    )
