"""Writing figures to files, choosing sample patches, and the demo's full set of figures."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from geoharmony.io.atomic import atomic_path
from geoharmony.viz.source import Source, VizInputError, load_source

FORMATS = (".png", ".svg", ".pdf")


def check_out(path: str | Path) -> Path:
    """``path`` if its extension is a figure format (png, svg, pdf).

    Raises
    ------
    VizInputError
        The extension is not one of ``.png``, ``.svg``, ``.pdf``.
    """
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise VizInputError(
            f"--out {path}: the extension must be one of {', '.join(FORMATS)}, "
            f"found {path.suffix or 'none'!r}"
        )
    return path


def save_figure(fig: Figure, path: str | Path, *, dpi: float | None = None) -> Path:
    """Write a figure (format from the extension: png, svg or pdf); return the path.

    Raises
    ------
    VizInputError
        The extension is not one of ``.png``, ``.svg``, ``.pdf``.
    """
    path = check_out(path)
    with atomic_path(path, mkdir=True) as tmp:
        fig.savefig(tmp, dpi=dpi or fig.dpi, facecolor="white", format=path.suffix[1:].lower())
    return path


def png_bytes(fig: Figure, *, dpi: float | None = None) -> bytes:
    """A figure as PNG bytes."""
    return encode_figure(fig, dpi=dpi, max_png=None)[0]


def encode_figure(
    fig: Figure, *, dpi: float | None = None, max_png: int | None = None, quality: int = 90
) -> tuple[bytes, str]:
    """Render a figure once; PNG bytes, or JPEG when the PNG would exceed ``max_png`` bytes.

    Returns ``(bytes, mime type)``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    if dpi:
        fig.set_dpi(dpi)
    fig.patch.set_facecolor("white")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    img = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    if max_png is None or buf.tell() <= max_png:
        return buf.getvalue(), "image/png"
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue(), "image/jpeg"


def sample_patches(source: Any, n: int = 3, *, seed: int = 0) -> list[tuple[int, str]]:
    """A few patches worth looking at, with why each was chosen.

    The first is a typical, fully valid patch near the middle of the study area; then the
    patch with the least valid data (if any patch has missing data); then random ones
    (seeded). Returns ``[(position, reason), ...]``.
    """
    src: Source = load_source(source)
    idx = src.index
    if len(idx) == 0:
        return []
    out: list[tuple[int, str]] = []
    vcols = [f"{o}_valid_fraction" for o in src.outputs if f"{o}_valid_fraction" in idx]
    vmin = idx[vcols].min(axis=1).to_numpy(float) if vcols else np.ones(len(idx))
    lon, lat = idx["lon"].to_numpy(float), idx["lat"].to_numpy(float)
    d = np.hypot(lon - np.median(lon), lat - np.median(lat))
    d = np.where(vmin >= vmin.max() - 1e-9, d, np.inf)
    out.append((int(np.argmin(d)), "a typical patch near the middle of the study area"))
    worst = int(np.argmin(vmin))
    if vmin[worst] < 1.0 and worst != out[0][0] and len(out) < n:
        out.append(
            (worst, f"the patch with the least valid data ({vmin[worst]:.0%} in its worst output)")
        )
    rest = [k for k in range(len(idx)) if k not in {p for p, _ in out}]
    rng = np.random.default_rng(seed)
    for k in rng.permutation(rest)[: max(n - len(out), 0)]:
        out.append((int(k), f"a random patch (seed {seed})"))
    return out[:n]
