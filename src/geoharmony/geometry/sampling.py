"""Where each destination pixel centre falls in a source raster, and the kernels sampled there.

Resample mode warps every modality onto the reference grid. GDAL's warper costs a fixed
~6 ms a call across CRSs (transformer set-up, chunking), more than the pixels themselves
for a 224-pixel patch, and its approximate transformer depends on the extent warped, so
warping a task's union of windows at once would give other values than warping each
patch. Here the source position of every destination pixel centre is computed from a
mesh of exactly transformed points anchored to the *reference grid* (every
:data:`MESH_STEP`-th pixel centre), so a pixel's position does not depend on which patch
or task asks for it, and the kernels are applied in numpy.

* :func:`source_positions` -- fractional source ``(col, row)`` of a window's pixel centres
  (pixel ``(c, r)`` covers ``[c, c + 1) x [r, r + 1)``). One CRS: the exact affine map.
  Across CRSs: bilinear in the mesh, whose interpolation error is measured at every cell
  centre; over :data:`TOLERANCE_PX` (or where PROJ has no answer) every pixel is
  transformed exactly instead.
* :func:`sample` -- ``nearest``, ``bilinear`` or ``cubic`` (Keys, a = -0.5: GDAL's
  kernels) at those positions, with GDAL's validity rule made strict: a pixel is valid
  only when every source pixel its kernel weighs (weight over 1e-6) is valid.
* ``Positions.span`` -- how many source pixels one destination pixel spans; GDAL widens
  its kernels when that is over 1 (downsampling), which these kernels do not, so callers
  warp such cases with GDAL.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geoharmony.geometry.grid import Grid
from geoharmony.geometry.identity import IdentityCache
from geoharmony.geometry.transforms import transformer
from geoharmony.geometry.window import Window

#: Reference pixels between two exactly transformed mesh points.
MESH_STEP = 16
#: Largest interpolation error (source pixels) the mesh may make at a cell centre.
TOLERANCE_PX = 1e-3
#: Kernels :func:`sample` applies.
KERNELS = ("nearest", "bilinear", "cubic")
#: A kernel weight at or below this on an invalid pixel does not invalidate the result.
_WEIGHT_EPS = 1e-6

#: One axis of a kernel: each tap's (index, weight, index inside the data) arrays.
Taps = list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]


@dataclass(frozen=True, slots=True)
class Positions:
    """Source ``cols``/``rows`` (h, w) of a window's pixel centres, and their spread.

    ``span`` is the largest number of source pixels one destination pixel spans along
    either destination axis (1.0 for the same resolution, 1/3 for 30 m onto 10 m).
    When the source's axes are the destination's (one CRS, neither rotated nor sheared),
    ``axes`` holds the 1-D ``(cols (w,), rows (h,))`` the 2-D arrays are made of.
    """

    cols: np.ndarray
    rows: np.ndarray
    span: float
    axes: tuple[np.ndarray, np.ndarray] | None = None


_SAME: IdentityCache[bool] = IdentityCache(256)


def _same_crs(a: object, b: object) -> bool:
    return a is b or _SAME.get((a, b), lambda: bool(a == b))


def source_positions(src: Grid, ref: Grid, window: Window) -> Positions:
    """Where the centres of ``window``'s pixels on ``ref`` fall in ``src``'s pixels."""
    cc = window.col_off + np.arange(window.width) + 0.5
    rr = window.row_off + np.arange(window.height) + 0.5
    if _same_crs(src.crs, ref.crs):
        m = ~src.transform @ ref.transform
        span = float(max(np.hypot(m.a, m.d), np.hypot(m.b, m.e)))
        if m.b == 0 and m.d == 0:
            axes = (m.a * cc + m.c, m.e * rr + m.f)
            shape = (len(rr), len(cc))
            cols = np.broadcast_to(axes[0][None, :], shape)
            rows = np.broadcast_to(axes[1][:, None], shape)
            return Positions(cols, rows, span, axes)
        cols = m.a * cc[None, :] + m.b * rr[:, None] + m.c
        rows = m.d * cc[None, :] + m.e * rr[:, None] + m.f
        return Positions(cols, rows, span)
    step = MESH_STEP
    kx = _node_range(window.col_off, window.width, step)
    ky = _node_range(window.row_off, window.height, step)
    node_c, node_r = _exact(src, ref, kx * step + 0.5, ky * step + 0.5)
    # The interpolation error, measured at the cells' centres and edge midpoints: between
    # conformal projections the centre's cancels, the edges' does not.
    xm, ym = (kx[:-1] + 0.5) * step + 0.5, (ky[:-1] + 0.5) * step + 0.5
    mid_c, mid_r = _exact(src, ref, xm, ym)
    hc, hr = _exact(src, ref, xm, ky * step + 0.5)
    vc, vr = _exact(src, ref, kx * step + 0.5, ym)
    err = max(
        _abs_max(mid_c - _cell_means(node_c))
        + _abs_max(hc - (node_c[:, :-1] + node_c[:, 1:]) / 2)
        + _abs_max(vc - (node_c[:-1] + node_c[1:]) / 2),
        _abs_max(mid_r - _cell_means(node_r))
        + _abs_max(hr - (node_r[:, :-1] + node_r[:, 1:]) / 2)
        + _abs_max(vr - (node_r[:-1] + node_r[1:]) / 2),
    )
    if not err <= TOLERANCE_PX:  # NaN too: a point PROJ could not transform
        cols, rows = _exact(src, ref, cc, rr)
        span = _span_of(cols, rows, 1.0)
        return Positions(cols, rows, span)
    ix, fx = _between(cc - 0.5, kx * step, step)
    iy, fy = _between(rr - 0.5, ky * step, step)
    cols = _bilinear(node_c, ix, fx, iy, fy)
    rows = _bilinear(node_r, ix, fx, iy, fy)
    return Positions(cols, rows, _span_of(node_c, node_r, float(step)))


def whole_pixel_shift(src: Grid, ref: Grid) -> tuple[int, int] | None:
    """``(dc, dr)`` when ``src``'s pixels are ``ref``'s shifted by whole pixels, else None.

    Then every kernel lands on pixel centres with all its weight on one pixel: resampling
    is a copy of the window shifted by ``(dc, dr)`` (the reference modality itself, or a
    raster sharing its grid).
    """
    if not _same_crs(src.crs, ref.crs):
        return None
    m = ~src.transform @ ref.transform
    eps = 1e-9  # source pixels
    linear = (m.a - 1.0, m.b, m.d, m.e - 1.0)
    dc, dr = round(m.c), round(m.f)
    if max(abs(v) for v in linear) > eps or abs(m.c - dc) > eps or abs(m.f - dr) > eps:
        return None
    return int(dc), int(dr)


def _node_range(off: int, size: int, step: int) -> np.ndarray:
    """Mesh indices ``k`` whose nodes (pixel centre ``k * step``) bracket ``off..off+size-1``."""
    k0 = off // step
    k1 = max(-(-(off + size - 1) // step), k0 + 1)
    return np.arange(k0, k1 + 1, dtype=np.int64)


def _exact(src: Grid, ref: Grid, cc: np.ndarray, rr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Source pixel positions of reference pixel positions ``cc`` x ``rr`` (a mesh), by PROJ."""
    c, r = np.meshgrid(cc, rr)
    t = ref.transform
    x, y = t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f
    sx, sy = transformer(ref.crs, src.crs).transform(x, y, errcheck=False)
    sx, sy = np.asarray(sx, dtype=np.float64), np.asarray(sy, dtype=np.float64)
    unknown = ~(np.isfinite(sx) & np.isfinite(sy))  # PROJ's inf: no answer there
    sx[unknown] = np.nan  # both coordinates: NaN reaches both columns and rows
    sy[unknown] = np.nan
    return src.to_colrow(sx, sy)


def _cell_means(v: np.ndarray) -> np.ndarray:
    """The bilinear interpolation of a mesh at its cell centres: the corners' mean."""
    return (v[:-1, :-1] + v[:-1, 1:] + v[1:, :-1] + v[1:, 1:]) / 4.0


def _abs_max(v: np.ndarray) -> float:
    return float(np.max(np.abs(v))) if v.size else 0.0


def _between(pos: np.ndarray, nodes: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Each position's node interval ``i`` (nodes i, i + 1) and fraction ``f`` along it."""
    t = (pos - nodes[0]) / step
    i = np.clip(np.floor(t).astype(np.int64), 0, len(nodes) - 2)
    return i, t - i


def _bilinear(
    mesh: np.ndarray, ix: np.ndarray, fx: np.ndarray, iy: np.ndarray, fy: np.ndarray
) -> np.ndarray:
    """``mesh`` (ny, nx) interpolated at the (h, w) product of the row and column fractions.

    Elementwise, not a matrix product: BLAS threads would oversubscribe the workers.
    """
    by_rows = mesh[iy] * (1.0 - fy)[:, None] + mesh[iy + 1] * fy[:, None]  # (h, nx)
    return np.asarray(by_rows[:, ix] * (1.0 - fx) + by_rows[:, ix + 1] * fx)


def _span_of(cols: np.ndarray, rows: np.ndarray, spacing: float) -> float:
    """Largest source pixels per destination pixel along either axis of a position mesh."""
    spans = [0.0]
    if cols.shape[1] > 1:
        spans.append(_abs_max(np.hypot(np.diff(cols, axis=1), np.diff(rows, axis=1))) / spacing)
    if cols.shape[0] > 1:
        spans.append(_abs_max(np.hypot(np.diff(cols, axis=0), np.diff(rows, axis=0))) / spacing)
    return max(spans)


def sample(
    data: np.ndarray, valid: np.ndarray, cols: np.ndarray, rows: np.ndarray, kernel: str
) -> tuple[np.ndarray, np.ndarray]:
    """``kernel`` applied to ``data`` (bands, H, W) at fractional ``cols``/``rows`` (h, w).

    Positions are in ``data``'s pixels. A result pixel is valid when its position is known
    and every pixel the kernel weighs (weight over 1e-6) lies inside ``data`` and is
    ``valid``; the value is the kernel's weighted mean over the valid pixels it weighs.
    Returns ``(values (bands, h, w) float64, valid (h, w))``; invalid values are NaN.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    bands, height, width = data.shape
    h, w = cols.shape
    known = (np.isfinite(cols) & np.isfinite(rows)).ravel()
    x = np.where(known, cols.ravel(), -1e9)
    y = np.where(known, rows.ravel(), -1e9)
    holes = not bool(valid.all())
    if holes and kernel != "nearest":  # weighed out below; NaN would survive a 0 weight
        data = data.astype(np.float64)
        data[:, ~valid] = 0.0
    flat = data.reshape(bands, -1)
    ok_flat = valid.ravel()
    if kernel == "nearest":
        # GDAL's rule: the pixel containing the position (a hair of 1e-10 towards +)
        ic = np.floor(x + 1e-10).astype(np.int64)
        ir = np.floor(y + 1e-10).astype(np.int64)
        ok = (ic >= 0) & (ic < width) & (ir >= 0) & (ir < height)
        lin = np.where(ok, ir * width + ic, 0)
        if holes:
            ok &= ok_flat.take(lin)
        out = np.take(flat, lin, axis=1).astype(np.float64)
        out[:, ~ok] = np.nan
        return out.reshape(bands, h, w), ok.reshape(h, w)
    xt = _taps(x, kernel, width)
    yt = _taps(y, kernel, height)
    # |weight| on pixels off ``data``, along each axis (the kernel is separable)
    ok = known & _inside(xt) & _inside(yt)
    total = np.zeros((bands, x.size))
    weight = np.zeros(x.size) if holes else None
    bad = np.zeros(x.size) if holes else None
    for ir, wr, inr in yt:
        row_start = ir * width
        for ic, wc, inc in xt:
            wt = wr * wc
            lin = row_start + ic
            if weight is not None and bad is not None:
                # weigh valid pixels only; count the |weight| on the others
                good = ok_flat.take(lin)
                if inr is not None:
                    good &= inr
                if inc is not None:
                    good &= inc
                bad += np.abs(wt) * ~good
                wt *= good
                weight += wt
            gathered = np.take(flat, lin, axis=1).astype(np.float64, copy=False)
            gathered *= wt
            total += gathered
    with np.errstate(invalid="ignore", divide="ignore"):
        if weight is not None and bad is not None:
            ok &= (bad <= _WEIGHT_EPS) & (weight > 0)
            total /= np.where(ok, weight, np.nan)
        else:  # the weights sum to one
            total[:, ~ok] = np.nan
    return total.reshape(bands, h, w), ok.reshape(h, w)


def sample_axes(
    data: np.ndarray, valid: np.ndarray, cols: np.ndarray, rows: np.ndarray, kernel: str
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sample` at the positions ``cols (w,)`` x ``rows (h,)`` (``Positions.axes``).

    The same values and validity, computed one axis after the other: rows of ``data``
    weighted into (bands, h, W), then their columns into (bands, h, w); a tap whose
    weight is zero everywhere (same-resolution grids sharing pixel edges) is skipped, so
    a pure shift is a copy.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    height, width = data.shape[1:]
    holes = not bool(valid.all())
    if kernel == "nearest":
        ic = np.floor(cols + 1e-10).astype(np.int64)
        ir = np.floor(rows + 1e-10).astype(np.int64)
        in_c, in_r = (ic >= 0) & (ic < width), (ir >= 0) & (ir < height)
        ic, ir = np.clip(ic, 0, width - 1), np.clip(ir, 0, height - 1)
        out = data[:, ir][:, :, ic].astype(np.float64)
        ok = in_r[:, None] & in_c[None, :]
        if holes:
            ok &= valid[ir][:, ic]
        out[:, ~ok] = np.nan
        return out, ok
    xt = [t for t in _taps(cols, kernel, width) if t[1].any()]
    yt = [t for t in _taps(rows, kernel, height) if t[1].any()]
    ok = _inside(yt)[:, None] & _inside(xt)[None, :]
    src = data.astype(np.float64)
    if holes:
        src[:, ~valid] = 0.0  # weighed out below; NaN would reach every product
    total = _separable(src, xt, yt)
    with np.errstate(invalid="ignore", divide="ignore"):
        if holes:
            fvalid = valid.astype(np.float64)[None]
            weight = _separable(fvalid, xt, yt)[0]
            bad = _separable(1.0 - fvalid, _absolute(xt), _absolute(yt))[0]
            ok &= (bad <= _WEIGHT_EPS) & (weight > 0)
            out = total / np.where(ok, weight, np.nan)
        else:
            out = total
            if not ok.all():
                out[:, ~ok] = np.nan
    return out, ok


def _separable(src: np.ndarray, xt: Taps, yt: Taps) -> np.ndarray:
    """Taps along columns, then along rows, of ``src`` (bands, H, W) -> (bands, h, w).

    Columns first: the second pass, on the larger array, gathers whole rows.
    """
    by_cols = _weighted_sum(src, xt, axis=2)
    return _weighted_sum(by_cols, yt, axis=1)


def _weighted_sum(src: np.ndarray, taps: Taps, *, axis: int) -> np.ndarray:
    """``sum(take(src, index, axis) * weight)`` over the taps, accumulated in place."""
    shape = [1, 1, 1]
    out: np.ndarray | None = None
    for index, weight, _ in taps:
        shape[axis] = len(weight)
        part = np.take(src, index, axis=axis)
        part *= weight.reshape(shape)
        if out is None:
            out = part
        else:
            out += part
    assert out is not None  # a kernel has taps
    return out


def _inside(taps: Taps) -> np.ndarray:
    """Where at most :data:`_WEIGHT_EPS` of an axis's |weight| is off the data."""
    off = np.zeros(taps[0][1].shape)
    for _, w, inside in taps:
        if inside is not None:
            off += np.abs(w) * ~inside
    return np.asarray(off <= _WEIGHT_EPS)


def _absolute(taps: Taps) -> Taps:
    return [(i, np.abs(w), inside) for i, w, inside in taps]


def _taps(pos: np.ndarray, kernel: str, size: int) -> Taps:
    """``(index, weight, inside)`` of each tap of a 1-D kernel at pixel position ``pos``.

    ``index`` is clipped into ``0..size-1`` (safe to gather); ``inside`` says whether the
    unclipped index was (None: every tap is inside).
    """
    p = pos - 0.5  # in pixel-centre units: pixel i's centre is at i
    base = np.floor(p)
    f = p - base
    first = base.astype(np.int64)
    taps: list[tuple[int, np.ndarray]]
    if kernel == "bilinear":
        taps = [(0, 1.0 - f), (1, f)]
    else:  # Keys cubic convolution, a = -0.5, at distances 1 + f, f, 1 - f, 2 - f
        taps = [
            (-1, _keys_outer(1.0 + f)),
            (0, _keys_inner(f)),
            (1, _keys_inner(1.0 - f)),
            (2, _keys_outer(2.0 - f)),
        ]
    if first.size and first.min() + taps[0][0] >= 0 and first.max() + taps[-1][0] < size:
        return [(first + o, wt, None) for o, wt in taps]  # every tap inside: nothing to clip
    out: Taps = []
    for o, wt in taps:
        i = first + o
        inside = (i >= 0) & (i < size)
        out.append((np.clip(i, 0, size - 1), wt, inside))
    return out


_A = -0.5  # Keys' a: GDAL's cubic


def _keys_inner(t: np.ndarray) -> np.ndarray:
    """Keys' kernel at distances ``0 <= t <= 1``."""
    return ((_A + 2.0) * t - (_A + 3.0)) * t * t + 1.0


def _keys_outer(t: np.ndarray) -> np.ndarray:
    """Keys' kernel at distances ``1 <= t <= 2``."""
    return ((_A * t - 5.0 * _A) * t + 8.0 * _A) * t - 4.0 * _A
