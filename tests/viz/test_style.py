"""Per-kind rendering defaults, and figures that never touch pyplot's global state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from geoharmony.viz import style


@pytest.mark.parametrize(
    ("name", "bands", "kind", "expected"),
    [
        ("dem", 1, "raster", "dem"),
        ("srtm_30m", 1, "raster", "dem"),
        ("s1_vv", 1, "raster", "sar"),
        ("optical", 6, "raster", "rgb"),
        ("rgb", 3, "raster", "rgb"),
        ("thermal", 1, "raster", "thermal"),
        ("thickness", 1, "raster", "continuous"),
        ("streams", 1, "vector", "categorical"),
        ("flowdir", 1, "d8", "d8"),
    ],
)
def test_data_kind_guesses(name: str, bands: int, kind: str, expected: str) -> None:
    assert style.data_kind(name, bands=bands, output_kind=kind) == expected


def test_data_kind_override_is_validated() -> None:
    assert style.data_kind("dem", override={"dem": "continuous"}) == "continuous"
    with pytest.raises(ValueError, match="must be one of dem, sar"):
        style.data_kind("dem", override={"dem": "rainbow"})


def test_rgb_composite_uses_landsat_order_and_a_2_98_stretch() -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 10_000, size=(6, 20, 20)).astype("uint16")
    valid = np.ones((20, 20), bool)
    valid[0, 0] = False
    r = style.render(data, valid, "rgb", band_numbers=[1, 2, 3, 4, 5, 6])
    assert r.note.startswith("RGB = bands 3-2-1, 2-98 % stretch")
    assert r.rgba.min() >= 0 and r.rgba.max() <= 1
    assert r.rgba[0, 0, 3] == 0 and r.rgba[1, 1, 3] == 1
    # 2 % of the valid pixels saturate at each end of a channel
    red = r.rgba[..., 0][valid]
    assert 0.005 < (red == 0).mean() < 0.05 and 0.005 < (red == 1).mean() < 0.05
    assert style.rgb_bands(3) == (0, 1, 2)
    assert style.rgb_bands(4, ["blue", "green", "red", "nir"]) == (2, 1, 0)


def test_sar_linear_values_are_shown_in_db() -> None:
    lin = np.full((1, 4, 4), 0.01, dtype="float32")
    lin[0, 0, 0] = 0.1
    r = style.render(lin, np.ones((4, 4), bool), "sar", name="vv")
    assert r.mappable is not None
    lo, hi = style.limits(r.mappable.norm)
    assert -20.5 < lo < -19.5 and hi <= -10 + 1e-6  # 10 * log10(0.01) = -20 dB
    assert "dB" in r.cbar_label and "10·log10" in r.note
    db = np.full((1, 4, 4), -12.0, dtype="float32")
    assert style.render(db, np.ones((4, 4), bool), "sar").note == ""  # already dB


def test_categorical_codes_get_distinct_colours_and_named_ticks() -> None:
    a = np.array([[[0, 1, 2, 2]]], dtype="uint8")
    r = style.render(
        a, np.ones((1, 4), bool), "categorical", codes={"none": 0, "streams": 1, "lakes": 2}
    )
    colours = {tuple(c) for c in r.rgba[0, :, :3]}
    assert len(colours) == 3
    assert r.ticklabels == ["streams", "lakes", "none"]
    d8 = style.render(np.array([[[1, 64, 0]]], "uint8"), np.ones((1, 3), bool), "d8")
    assert d8.ticklabels is not None and "→E" in d8.ticklabels and "↑N" in d8.ticklabels


def test_hillshade_is_bounded() -> None:
    y, x = np.mgrid[0:50, 0:50]
    z = np.hypot(x - 25, y - 25) * 3.0
    hs = style.hillshade(z, np.ones_like(z, bool), (10.0, 10.0))
    assert hs.shape == z.shape and 0 <= hs.min() < hs.max() <= 1


def test_figures_never_import_pyplot(tiny_dataset: Path) -> None:
    """No global pyplot state: figures are plain Figure objects, safe in any process."""
    code = f"""
import sys
from geoharmony.viz import plot_patch, plot_study_area, save_figure
import geoharmony.report.html
fig = plot_study_area({str(tiny_dataset)!r}, dpi=40)
save_figure(fig, {str(tiny_dataset.parent / "no_pyplot.png")!r})
plot_patch({str(tiny_dataset)!r}, 0, views=["pixels"], dpi=40)
assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
print("ok")
"""
    res = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
