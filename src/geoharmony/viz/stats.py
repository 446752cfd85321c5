"""Dataset-wide histograms: valid fraction per output, alignment offset per modality."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from geoharmony.viz import style
from geoharmony.viz.source import load_source


def plot_valid_fractions(source: Any, *, dpi: float = 100) -> Figure:
    """Histogram of each output's valid fraction over all patches (a dataset only).

    Parameters
    ----------
    source
        A dataset (folder or :class:`~geoharmony.reading.dataset.Dataset`).
    dpi
        Figure resolution.
    """
    src = load_source(source)
    names = [n for n in src.outputs if f"{n}_valid_fraction" in src.index]
    ncol = max(min(len(names), 3), 1)
    nrow = max(int(np.ceil(len(names) / ncol)), 1)
    fig = style.new_figure(4.0 * ncol, 2.8 * nrow + 0.6, dpi=dpi)
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    colors = style.modality_colors(src.modalities)
    for ax, n in zip(axes, names, strict=False):
        v = src.index[f"{n}_valid_fraction"].to_numpy(float) * 100
        ax.hist(v, bins=np.linspace(0, 100, 21), color=colors.get(n, "#777777"), edgecolor="white")
        low = int((v < 50).sum())
        ax.axvline(50, color="#444444", ls=":", lw=1)
        ax.set_title(
            f"{n}: mean {v.mean():.1f} %, min {v.min():.1f} %\n"
            f"{low} of {len(v)} patches below 50 %",
            fontsize=9,
        )
        ax.set_xlim(0, 100)
        ax.set_xlabel("valid pixels in the patch (%)")
        ax.set_ylabel("patches")
    for ax in axes[len(names) :]:
        ax.set_axis_off()
    fig.suptitle("Valid fraction per patch (masked = nodata or outside the raster)", fontsize=11)
    return fig


def plot_offsets(source: Any, *, dpi: float = 100) -> Figure:
    """Histogram of each modality's alignment offset (window centre to patch centre).

    The dashed line is the largest possible offset: half a pixel in each axis.

    Parameters
    ----------
    source
        A configuration or a dataset.
    dpi
        Figure resolution.
    """
    src = load_source(source)
    names = src.modalities
    ncol = max(min(len(names), 4), 1)
    nrow = max(int(np.ceil(len(names) / ncol)), 1)
    fig = style.new_figure(3.6 * ncol, 2.8 * nrow + 0.7, dpi=dpi)
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    colors = style.modality_colors(names)
    rid = src.regions[0].id
    for ax, n in zip(axes, names, strict=False):
        col = f"{n}_offset_m"
        v = src.index[col].to_numpy(float) if col in src.index else np.zeros(len(src.index))
        rx, ry = src.resolution_m(n, rid)
        bound = 0.5 * float(np.hypot(rx, ry))
        top = max(bound * 1.1, float(v.max(initial=0)) * 1.05, 1e-3)
        ax.hist(v, bins=np.linspace(0, top, 21), color=colors[n], edgecolor="white")
        ax.axvline(bound, color="#c00000", ls="--", lw=1.2)
        ax.text(
            bound,
            0.97,
            " ½-pixel bound",
            transform=ax.get_xaxis_transform(),
            color="#c00000",
            fontsize=7,
            va="top",
            ha="right",
            rotation=90,
        )
        ax.set_title(
            f"{n} ({rx:.3g} m pixels)\n"
            f"max {v.max(initial=0):.2f} m, mean {v.mean() if len(v) else 0:.2f} m",
            fontsize=9,
        )
        ax.set_xlabel("offset (m)")
        ax.set_ylabel("patches")
        ax.set_xlim(0, top)
    for ax in axes[len(names) :]:
        ax.set_axis_off()
    what = (
        "0 by construction in resample mode (every modality is warped onto the reference window)"
        if src.mode == "resample"
        else "distance from each window's centre to the patch centre"
    )
    fig.suptitle(f"Alignment offset per patch: {what}", fontsize=11)
    return fig
