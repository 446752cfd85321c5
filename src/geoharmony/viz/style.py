"""How each kind of data is drawn: colours, stretches, hillshade, categorical legends.

:func:`render` turns a patch (or a background raster) into an RGBA image in which masked
pixels are fully transparent, plus what explains it: a colour-bar mappable for continuous
data, legend handles for categorical data, and a one-line note (e.g. which bands make the
RGB composite). The kind of data is guessed from the output's kind, its name, dtype and
band count (:func:`data_kind`) and can always be overridden.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import (
    BoundaryNorm,
    Colormap,
    LightSource,
    ListedColormap,
    Normalize,
    to_rgba,
)
from matplotlib.figure import Figure
from matplotlib.patches import Patch

KINDS = ("dem", "sar", "rgb", "thermal", "continuous", "categorical", "d8")

#: Study-area outlines (the notebook's lime / red / blue, with a dark halo for contrast).
BOUNDARY = "#39ff14"
BUFFER = "#ff3b30"
BBOX = "#2f7bff"
CENTER = "#e6194b"
CANDIDATE = "#4363d8"
SPLIT_COLORS = {
    "train": "#f58231",
    "val": "#42d4f4",
    "test": "#f032e6",
    "unassigned": "#9e9e9e",
    "guard": "#808000",
}
#: Okabe-Ito colours (colour-blind safe), in the order modalities are configured.
_PALETTE = ("#E69F00", "#56B4E9", "#CC79A7", "#D55E00", "#009E73", "#0072B2", "#F0E442", "#000000")

_DEM = re.compile(r"(^|_)(dem|dtm|dsm|elev|elevation|srtm|ned|height|terrain|topo|altitude)")
_SAR = re.compile(r"(^|_)(sar|s1|vv|vh|hh|hv|backscatter|sigma0?|gamma0?|radar)")
_THERMAL = re.compile(r"(^|_)(thermal|tir|lst|temp|temperature|b10|b11|st)($|_)")

D8_LABELS = {
    1: "→ E",
    2: "↘ SE",
    4: "↓ S",
    8: "↙ SW",
    16: "← W",
    32: "↖ NW",
    64: "↑ N",
    128: "↗ NE",
    0: "undefined",
}


def wrap(*lines: str, width: int = 90) -> str:
    """Join text lines, wrapping each at ``width`` characters (titles that fit the axes)."""
    return "\n".join(textwrap.fill(line, width) for line in lines if line)


def modality_colors(names: Sequence[str]) -> dict[str, str]:
    """A fixed colour per name (same order, same colour in every figure)."""
    return {n: _PALETTE[k % len(_PALETTE)] for k, n in enumerate(names)}


def new_figure(width: float, height: float, *, dpi: float = 110) -> Figure:
    """A pyplot-free figure with constrained layout (safe under any backend)."""
    return Figure(figsize=(width, height), dpi=dpi, layout="constrained")


def data_kind(
    name: str,
    *,
    dtype: str = "float32",
    bands: int = 1,
    output_kind: str = "raster",
    override: Mapping[str, str] | None = None,
) -> str:
    """Guess how to draw an output: one of :data:`KINDS`.

    Labels are ``categorical`` (vector burns) or ``d8``; a modality named like an
    elevation model is ``dem``, like radar ``sar``, like a thermal band ``thermal``; any
    other raster with three or more bands is ``rgb``, else ``continuous``.

    Examples
    --------
    >>> data_kind("dem"), data_kind("s1_vv"), data_kind("optical", bands=6)
    ('dem', 'sar', 'rgb')
    """
    if override and name in override:
        kind = override[name]
        if kind not in KINDS:
            raise ValueError(
                f"style for {name!r} must be one of {', '.join(KINDS)}, found {kind!r}"
            )
        return kind
    if output_kind == "d8":
        return "d8"
    if output_kind != "raster":
        return "categorical"
    low = name.lower()
    if bands >= 3:
        return "rgb"
    if _DEM.search(low):
        return "dem"
    if _SAR.search(low):
        return "sar"
    if _THERMAL.search(low):
        return "thermal"
    return "continuous"


def rgb_bands(bands: int, colorinterp: Sequence[str] | None = None) -> tuple[int, int, int]:
    """0-based band positions for an RGB composite.

    Uses the file's colour interpretation when it names red, green and blue; otherwise
    three bands are taken as R, G, B, four as R, G, B, NIR, and five or more as a
    Landsat/Sentinel-2 style stack starting with blue (B, G, R, NIR, ...), giving bands
    3, 2, 1.
    """
    if colorinterp:
        ci = [c.lower() for c in colorinterp]
        if all(c in ci for c in ("red", "green", "blue")):
            return (ci.index("red"), ci.index("green"), ci.index("blue"))
    if bands >= 5:
        return (2, 1, 0)
    return (0, 1, 2)


def percentile_norm(values: np.ndarray, lo: float = 2, hi: float = 98) -> Normalize:
    """A Normalize spanning the ``lo``-``hi`` percentiles of finite ``values``."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return Normalize(0, 1)
    a, b = np.percentile(v, [lo, hi])
    if not b > a:
        a, b = float(v.min()), float(v.max())
        if not b > a:
            a, b = a - 0.5, a + 0.5
    return Normalize(float(a), float(b))


def limits(norm: Normalize) -> tuple[float, float]:
    """``(vmin, vmax)`` of a Normalize as floats (0, 1 when unset)."""
    lo = 0.0 if norm.vmin is None else float(norm.vmin)
    hi = 1.0 if norm.vmax is None else float(norm.vmax)
    return lo, hi


def terrain_cmap() -> ListedColormap:
    """Matplotlib's ``terrain`` without its sea-blue part (land colours only)."""
    base = mpl.colormaps["terrain"]
    return ListedColormap(base(np.linspace(0.25, 0.95, 256)), name="terrain_land")


def hillshade(
    z: np.ndarray, valid: np.ndarray, res_m: tuple[float, float], *, vert_exag: float | None = None
) -> np.ndarray:
    """Hillshade (0..1) of elevations ``z`` with pixel size ``res_m`` (x, y) in metres."""
    zz = _filled(z, valid)
    ve = auto_exaggeration(zz, valid, res_m) if vert_exag is None else vert_exag
    ls = LightSource(azdeg=315, altdeg=45)
    return np.asarray(ls.hillshade(zz, vert_exag=ve, dx=res_m[0], dy=res_m[1]))


def auto_exaggeration(z: np.ndarray, valid: np.ndarray, res_m: tuple[float, float]) -> float:
    """Vertical exaggeration that makes relief visible in flat areas (1 in mountains)."""
    v = z[valid & np.isfinite(z)]
    if v.size < 4:
        return 1.0
    relief = float(np.percentile(v, 98) - np.percentile(v, 2))
    extent = max(z.shape[1] * res_m[0], z.shape[0] * res_m[1])
    if relief <= 0:
        return 1.0
    return float(np.clip(0.05 * extent / relief, 1.0, 20.0))


def _filled(z: np.ndarray, valid: np.ndarray) -> np.ndarray:
    zz = np.asarray(z, dtype=np.float64).copy()
    ok = valid & np.isfinite(zz)
    zz[~ok] = float(zz[ok].mean()) if ok.any() else 0.0
    return zz


@dataclass
class Rendered:
    """An RGBA image (masked pixels transparent) and what explains it."""

    rgba: np.ndarray
    kind: str
    mappable: ScalarMappable | None = None
    cbar_label: str = ""
    handles: list[Any] = field(default_factory=list)
    note: str = ""
    ticks: list[float] | None = None
    ticklabels: list[str] | None = None

    def colorbar(self, fig: Figure, axes: Any, **kw: Any) -> Any:
        """Add this rendering's colour bar (categorical ones get one tick per class)."""
        if self.mappable is None:
            return None
        cb = fig.colorbar(self.mappable, ax=axes, **kw)
        unit = " (m)" if self.kind == "dem" else ""
        cb.set_label(f"{self.cbar_label}{unit}", fontsize=8)
        if self.ticks is not None and self.ticklabels is not None:
            cb.set_ticks(self.ticks, labels=self.ticklabels)
            cb.ax.tick_params(length=0)
        cb.ax.tick_params(labelsize=7 if self.ticks is None else 6.5)
        return cb


def render(
    data: np.ndarray,
    valid: np.ndarray,
    kind: str,
    *,
    res_m: tuple[float, float] = (1.0, 1.0),
    codes: Mapping[str, int] | None = None,
    rgb: tuple[int, int, int] | None = None,
    norm: Normalize | None = None,
    name: str = "",
    band_numbers: Sequence[int] | None = None,
) -> Rendered:
    """Draw ``data`` ``(bands, h, w)`` as RGBA; pixels where ``valid`` is False are transparent.

    Parameters
    ----------
    data
        Pixel values, ``(bands, h, w)`` (or ``(h, w)``).
    valid
        Validity mask ``(h, w)``.
    kind
        One of :data:`KINDS` (see :func:`data_kind`).
    res_m
        Pixel size in metres (hillshade of a DEM).
    codes
        ``{label name: code}`` for categorical data (from the manifest).
    rgb
        0-based bands of an RGB composite (default: :func:`rgb_bands`).
    norm
        Value range to use instead of the data's own (e.g. shared between views).
    name
        Output name, used in labels.
    band_numbers
        1-based band numbers of ``data``'s bands in the source file (for the RGB note).
    """
    a = np.asarray(data)
    if a.ndim == 2:
        a = a[None]
    valid = np.asarray(valid, dtype=bool)
    if kind == "rgb" and a.shape[0] < 3:
        kind = "continuous"
    if kind in ("categorical", "d8"):
        return _categorical(a[0], valid, kind, codes)
    if kind == "rgb":
        bands = rgb if rgb is not None else rgb_bands(a.shape[0])
        out = np.zeros((*a.shape[1:], 4))
        for k, b in enumerate(bands):
            ch = a[b].astype(np.float64)
            ch_valid = valid & np.isfinite(ch)
            lo, hi = limits(percentile_norm(ch[ch_valid]))
            out[..., k] = np.clip((ch - lo) / (hi - lo), 0, 1)
        out[..., 3] = valid
        out[~valid, :3] = 0
        nums = list(band_numbers) if band_numbers is not None else list(range(1, a.shape[0] + 1))
        note = f"RGB = bands {'-'.join(str(nums[b]) for b in bands)}, 2-98 % stretch"
        return Rendered(out, kind, note=note)
    v = a[0].astype(np.float64)
    ok = valid & np.isfinite(v)
    label = name
    note = ""
    if kind == "sar":
        if ok.any() and float(np.nanmin(v[ok])) >= 0:
            with np.errstate(divide="ignore", invalid="ignore"):
                v = 10.0 * np.log10(np.where(v > 0, v, np.nan))
            ok &= np.isfinite(v)
            note = "linear values shown in dB (10·log10)"
        label = f"{name} backscatter (dB)".strip()
    n = norm or percentile_norm(v[ok])
    cmap: Colormap
    if kind == "dem":
        cmap = terrain_cmap()
        zz = _filled(v, ok)
        ve = auto_exaggeration(zz, ok, res_m)
        ls = LightSource(azdeg=315, altdeg=45)
        rgba = np.asarray(
            ls.shade(
                zz, cmap=cmap, norm=n, blend_mode="soft", vert_exag=ve, dx=res_m[0], dy=res_m[1]
            )
        ).copy()
        note = "hillshade" + (f" (vertical exaggeration \u00d7{ve:.0f})" if ve > 1.5 else "")
        label = f"{name} elevation".strip()
    else:
        cmap = {"sar": mpl.colormaps["gray"], "thermal": mpl.colormaps["inferno"]}.get(
            kind, mpl.colormaps["viridis"]
        )
        rgba = np.asarray(cmap(n(np.where(ok, v, limits(n)[0])))).copy()
        if kind in ("thermal", "continuous"):
            note = "2-98 % stretch"
    rgba[..., 3] = ok
    sm = ScalarMappable(norm=n, cmap=cmap)
    return Rendered(rgba, kind, mappable=sm, cbar_label=label, note=note)


def _categorical(
    a: np.ndarray, valid: np.ndarray, kind: str, codes: Mapping[str, int] | None
) -> Rendered:
    if kind == "d8":
        hues = mpl.colormaps["hsv"](np.linspace(0, 1, 9)[:8])
        colors: dict[int, Any] = {
            code: hues[k] for k, code in enumerate((1, 2, 4, 8, 16, 32, 64, 128))
        }
        colors[0] = to_rgba("#4d4d4d")
        names = {c: D8_LABELS[c] for c in colors}
        note = "D8 flow direction (ESRI codes)"
    else:
        by_code = {int(v): k for k, v in (codes or {}).items()}
        present = sorted(set(np.unique(a[valid]).tolist()) | set(by_code))
        colors, names = {}, {}
        k = 0
        for c in present:
            if c == 0:
                colors[c] = to_rgba("#f2efe6")
            else:
                colors[c] = to_rgba(
                    ("#1f78b4", "#08306b", "#e31a1c", "#33a02c", "#ff7f00", "#6a3d9a")[k % 6]
                )
                k += 1
            names[c] = by_code.get(c, f"code {c}")
        note = "burned vector label"
    out = np.zeros((*a.shape, 4))
    for c, col in colors.items():
        out[a == c] = col
    out[..., 3] = np.where(valid, out[..., 3], 0.0)
    order = sorted(colors, key=lambda c: (c == 0, c))
    handles = [
        Patch(facecolor=colors[c], edgecolor="#555555", linewidth=0.5, label=f"{names[c]} ({c})")
        for c in order
    ]
    cmap = ListedColormap([colors[c] for c in order])
    sm = ScalarMappable(norm=BoundaryNorm(np.arange(len(order) + 1) - 0.5, len(order)), cmap=cmap)
    labels = [
        (names[c].replace(" ", "") if c else "none") if kind == "d8" else names[c] for c in order
    ]
    return Rendered(
        out,
        kind,
        mappable=sm,
        handles=handles,
        note=note,
        cbar_label="class" if kind != "d8" else "flow direction",
        ticks=[float(t) for t in range(len(order))],
        ticklabels=labels,
    )
