"""Random fields: fractional Brownian surfaces, blobs and smooth upsampling."""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from numpy.typing import NDArray
from scipy import ndimage

from geoharmony.demo.layout import F32, F64, _workers


# random fields
def _fbm(
    rng: np.random.Generator,
    shape: tuple[int, int],
    res: float,
    *,
    beta: float,
    corner_m: float,
    smooth_m: float = 0.0,
) -> F32:
    """Fractional Brownian surface by spectral synthesis, zero mean and unit variance.

    White complex noise is shaped by the power spectrum ``(f**2 + f0**2) ** (-beta / 2)``
    (``f0 = 1 / corner_m`` flattens it beyond the corner wavelength so no single wave
    dominates a large area), optionally tapered by a Gaussian of ``smooth_m`` metres
    (hillslope diffusion), and inverse-transformed on a padded, FFT-friendly grid.
    """
    ny, nx = shape
    py = scipy.fft.next_fast_len(ny + 16, real=True)
    px = scipy.fft.next_fast_len(nx + 16, real=True)
    fy = np.fft.fftfreq(py, d=res).astype(np.float32)
    fx = np.fft.rfftfreq(px, d=res).astype(np.float32)
    power = fy[:, None] ** 2 + fx[None, :] ** 2
    power += np.float32((1.0 / corner_m) ** 2)
    amp = power ** np.float32(-beta / 4.0)
    if smooth_m > 0.0:
        amp *= np.exp(np.float32(-2.0 * (math.pi * smooth_m) ** 2) * power)
    del power
    amp[0, 0] = 0.0
    spec = np.empty(amp.shape, dtype=np.complex64)
    spec.real = rng.standard_normal(amp.shape, dtype=np.float32)
    spec.imag = rng.standard_normal(amp.shape, dtype=np.float32)
    spec *= amp
    del amp
    full = scipy.fft.irfft2(spec, s=(py, px), workers=_workers())
    del spec
    field = np.array(full[:ny, :nx], dtype=np.float32)
    del full
    field -= np.float32(field.mean(dtype=np.float64))
    field /= np.float32(max(float(field.std(dtype=np.float64)), 1e-12))
    return field


def _upsample(coarse: F32, factor: int, *, order: int = 1) -> F32:
    """Spline upsampling by an integer factor, aligned on pixel areas.

    ``order=3`` (cubic) keeps slopes continuous, which a hillshade of the terrain needs.
    """
    out = ndimage.zoom(
        coarse, factor, order=order, mode="nearest", grid_mode=True, output=np.float32
    )
    return np.asarray(out, dtype=np.float32)


def _block_mean(a: F32, factor: int) -> F32:
    h, w = a.shape
    return np.asarray(
        a.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3), dtype=np.float32),
        dtype=np.float32,
    )


def _radial_noise(rng: np.random.Generator, n_harmonics: int, decay: float) -> tuple[F64, F64, F64]:
    """Random harmonic coefficients for a star-shaped outline (see :func:`_eval_radial`)."""
    k = np.arange(1, n_harmonics + 1, dtype=np.float64)
    amp = k**-decay * rng.standard_normal(n_harmonics)
    phase = rng.uniform(0.0, 2.0 * np.pi, n_harmonics)
    amp /= math.sqrt(float(np.sum(amp**2)) / 2.0) or 1.0  # unit standard deviation
    return k, amp, phase


def _eval_radial(coef: tuple[F64, F64, F64], theta: F64) -> F64:
    k, amp, phase = coef
    out = np.zeros(theta.shape, dtype=np.float64)
    for kk, a, p in zip(k, amp, phase, strict=True):
        out += a * np.cos(kk * theta + p)
    return out


def _blob_mask(
    rng: np.random.Generator, xs: F64, ys: F64, cx: float, cy: float, radius: float, wiggle: float
) -> NDArray[np.bool_]:
    """Irregular blob (noisy radius) on the grid of pixel-centre coordinates ``xs``, ``ys``."""
    coef = _radial_noise(rng, 12, 1.2)
    dx = xs[None, :] - cx
    dy = ys[:, None] - cy
    r = np.hypot(dx, dy)
    rmax = radius * np.exp(wiggle * _eval_radial(coef, np.arctan2(dy, dx)))
    return np.asarray(r < rmax)
