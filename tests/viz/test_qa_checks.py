"""qa.checks: pure functions over plan, index and manifest, returning structured findings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from vizdata import make_area

import geoharmony as gh
from geoharmony.planning.frame import plan_frame
from geoharmony.planning.plan import compute_plan
from geoharmony.qa.checks import (
    Finding,
    alignment_findings,
    changed_inputs,
    index_findings,
    ordered,
    review,
    split_findings,
)


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory):
    cfg = gh.load_config(make_area(tmp_path_factory.mktemp("qa")))
    plan = compute_plan(cfg)
    return plan, plan_frame(plan)


def test_a_plan_reviews_without_a_dataset(planned) -> None:
    plan, index = planned
    found = review(plan, index)
    assert all(isinstance(f, Finding) for f in found)
    codes = [f.code for f in found]
    assert "native-footprints" in codes and "no-nodata" in codes
    assert all(f.severity in ("error", "warning", "note") for f in found)
    assert found == ordered(found)
    fp = next(f for f in found if f.code == "native-footprints")
    assert "sar" in fp.details and fp.details["sar"]["corner_distance_m"] > 0


def test_alignment_beyond_half_a_pixel_is_an_error(planned) -> None:
    plan, index = planned
    assert alignment_findings(plan, index) == []
    bad = index.copy()
    bad.loc[0, "sar_offset_m"] = 50.0
    (f,) = alignment_findings(plan, bad)
    assert (f.severity, f.code, f.details["modality"]) == ("error", "alignment-bound", "sar")


def test_overlap_across_splits_is_leakage(planned) -> None:
    plan, index = planned
    grid = dataclasses.replace(plan.config.grid, stride=16)
    overlapping = dataclasses.replace(plan, config=dataclasses.replace(plan.config, grid=grid))
    codes = [f.code for f in split_findings(overlapping, index)]
    assert "split-leakage" in codes
    assert "split-leakage" not in [f.code for f in split_findings(plan, index)]


def test_index_and_inputs_against_the_manifest(planned) -> None:
    plan, index = planned
    manifest = {
        "complete": True,
        "inputs": {"modalities": {"dem": {"all": {"path": "/x/dem.tif", "size": 10}}}},
    }
    assert index_findings(plan, index, manifest) == []
    short = index.iloc[:-1]
    assert [f.code for f in index_findings(plan, short, manifest)] == ["index-rows"]
    assert [f.code for f in changed_inputs(manifest, size_of=lambda p: None)] == ["input-missing"]
    assert [f.code for f in changed_inputs(manifest, size_of=lambda p: 11)] == ["input-changed"]
    assert changed_inputs(manifest, size_of=lambda p: 10) == []


def test_the_report_shows_the_findings_codes(tiny_dataset: Path, tmp_path: Path) -> None:
    from geoharmony.report.html import write_report

    text = write_report(tiny_dataset, tmp_path / "r.html", n_patches=0).read_text()
    assert "[native-footprints]" in text and 'class="warning"' in text
