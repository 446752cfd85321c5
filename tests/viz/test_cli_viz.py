"""``geoharmony plot KIND ...`` and ``geoharmony report``: files written, exit codes, messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from geoharmony.cli.main import cli


def _run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, list(args))
    return res.exit_code, res.stdout, res.stderr


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("study-area", ["--crs", "metric"]),
        ("centers", []),
        ("footprints", ["--patch", "-1"]),
        ("grid", ["--modality", "sar"]),
        ("patch", ["--patch", "3", "--view", "pixels", "--style", "thermal=continuous"]),
    ],
)
def test_plot_writes_a_png(tiny_dataset: Path, tmp_path: Path, kind: str, extra: list[str]) -> None:
    out = tmp_path / f"{kind}.png"
    code, stdout, stderr = _run(
        "plot", kind, str(tiny_dataset), "--out", str(out), "--dpi", "40", *extra
    )
    assert code == 0, stderr
    assert stdout.strip() == f"figure: {out}"
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 200


def test_plot_centers_from_a_config(tiny_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.svg"
    code, _, stderr = _run("plot", "centers", str(tiny_config), "--out", str(out), "--dpi", "40")
    assert code == 0, stderr
    assert out.read_text(encoding="utf-8").lstrip().startswith("<?xml")


def test_report_command(tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "r" / "report.html"
    code, stdout, stderr = _run(
        "report", str(tiny_dataset), "--out", str(out), "--patches", "0", "--dpi", "40"
    )
    assert code == 0, stderr
    assert stdout.strip() == f"report: {out}"
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plot", "grid", "{ds}", "--modality", "lidar"], "no modality 'lidar'"),
        (["plot", "patch", "{ds}", "--patch", "nope"], "no patch with patch_id 'nope'"),
        (["plot", "footprints", "{ds}", "--patch", "999"], "patch 999 out of range"),
        (["plot", "centers", "{ds}", "--region", "huc9"], "no region 'huc9'; regions: all"),
        (["plot", "grid", "{ds}", "--out", "{tmp}/x.jpg"], "the extension must be one of .png"),
        (["plot", "patch", "{ds}", "--style", "dem"], "expected NAME=KIND"),
        (["plot", "study-area", "{tmp}/missing.toml"], "not found; give a configuration file"),
        (["report", "{ds}", "--out", "{tmp}/r.txt"], "use a .html file name"),
        (["report", "{tmp}"], "not a complete geoharmony dataset"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tiny_dataset: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    args = [a.format(ds=tiny_dataset, tmp=tmp_path) for a in args]
    if "--out" not in args and args[0] == "plot":
        args += ["--out", str(tmp_path / "x.png")]
    code, stdout, stderr = _run(*args)
    assert code == 2, (stdout, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], stderr
    assert not (tmp_path / "x.png").exists()
