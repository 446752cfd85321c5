"""Hydrologically conditioned D8 flow direction and flow accumulation of a region.

Pure functions of arrays (numpy + numba; pyflwdir for the fill), no I/O.

The recipe follows the users' PySheds pipeline (``fill_pits -> fill_depressions ->
resolve_flats -> flowdir``) without its epsilon-inflated DEM:

1. **Fill** depressions with pyflwdir's priority flood (Wang & Liu 2006), seeded at the
   outlets: every valid cell on the raster border or next to a nodata cell
   (``outlets = "edge"``), or only the lowest of those (``outlets = "min"``; ties: the
   first in row-major order, as pyflwdir pops them).
2. **Steepest descent** on the filled surface with ground distances: the drop to each
   of the 8 neighbours divided by ``dx`` (per row), ``dy`` or ``hypot(dx, dy)`` metres.
   The largest strictly positive drop wins; exact ties are broken by the flat gradient
   ``G`` below (the limit of PySheds' ``flowdir(dem + eps * G)`` for ``eps -> 0``), then
   by the first neighbour in the order N, NE, E, SE, S, SW, W, NW (PySheds' order).
3. **Outlets** without a lower neighbour drain off the edge, towards the missing
   neighbour (outside the raster or nodata) closest in angle to the local downslope
   direction (finite differences over the valid row and column neighbours), so water
   keeps its way: a plane falling east leaves every east-edge cell, corners included,
   with code 1, and a valley axis reaching the south edge leaves with code 4. Ties and
   cells without a slope take the first missing one of N, E, S, W, NE, SE, SW, NW.
4. **Flats** (valid, not an outlet, no strictly lower neighbour) are resolved as Barnes,
   Lehman & Mulla (2014) and PySheds' ``resolve_flats``: per flat (8-connected, equal
   elevation), ``G = 2 * towards_lower + away_from_higher`` where ``towards_lower`` is the
   breadth-first distance (in steps) from the flat's low edges (same-elevation cells that
   drain) plus one, and ``away_from_higher`` is the largest distance from the flat's high
   edges (flat cells next to higher terrain) minus the cell's own distance. A flat cell
   drains to the same-elevation neighbour with the steepest descent of ``G`` over the
   ground distance (ties in neighbour order). ``G`` strictly decreases along every flat path, so no
   cycle can form. Unlike PySheds there is no iteration cap (``max_iter``) nor uint16
   overflow, so flats of any size drain.

Codes are ESRI's: 1 E, 2 SE, 4 S, 8 SW, 16 W, 32 NW, 64 N, 128 NE; 0 only where a cell is
invalid (or, for ``conditioning = "none"``, a pit or flat).

Memory (bytes per cell of the region, ``n`` cells, ``f`` flat cells)
--------------------------------------------------------------------
- :func:`conditioned_d8`: the caller's DEM and mask (not counted); pyflwdir's fill on a
  float64 working copy (8; float64 keeps the fill exact, see :func:`fill_depressions`):
  delv 8, done 1, d8 1, queued 1, edge 1, float64 output 8, then its float32 copy 4 ->
  peak ``32 n`` during the fill; afterwards filled (4) + codes (1) + the flat gradient
  int32 (4, only when there are flats) + two int64 queues of ``f`` -> ``9 n + 16 f``.
- :func:`flow_accumulation`: codes (1) + in-degree (1) + float64 sums (8) + the float32
  result (4) = ``14 n``.
So a 300 Mpx region peaks at ~32 B/cell (~9 GiB) plus the caller's DEM (float32, 1.2 GB)
and mask (0.3 GB); ``make bench-labels`` measures it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from geoharmony.planning.config.labels import BYTES_PER_CELL

__all__ = [
    "BYTES_PER_CELL",
    "cell_area_km2",
    "conditioned_d8",
    "d8_qa",
    "fill_depressions",
    "flow_accumulation",
]

# PySheds' neighbour order: N, NE, E, SE, S, SW, W, NW (ties go to the first)
ORDER_NAMES = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
DROW = np.array([-1, -1, 0, 1, 1, 1, 0, -1], dtype=np.int64)
DCOL = np.array([0, 1, 1, 1, 0, -1, -1, -1], dtype=np.int64)
ESRI = np.array([64, 128, 1, 2, 4, 8, 16, 32], dtype=np.uint8)
# off-edge preference for outlets: N, E, S, W, then NE, SE, SW, NW (indices into ORDER)
OFF_EDGE_PREF = np.array([0, 2, 4, 6, 1, 3, 5, 7], dtype=np.int64)
OUTLET_POLICIES = ("edge", "min")
CONDITIONINGS = ("fill", "none")

_COMP = np.uint8(254)  # flat cell collected into the component being processed
_SEEN = np.uint8(253)  # flat cell reached from the flat's low edges
_FLAT = np.uint8(252)  # flat cell whose gradient is known
_UNREACHED = np.uint8(251)  # flat cell no low edge reaches (cannot happen after a fill)


@njit(cache=True)
def _is_edge(valid: np.ndarray, i: int, j: int) -> bool:
    nrow, ncol = valid.shape
    if i == 0 or j == 0 or i == nrow - 1 or j == ncol - 1:
        return True
    for k in range(8):  # noqa: SIM110 - numba compiles loops, not any(generator)
        if not valid[i + DROW[k], j + DCOL[k]]:
            return True
    return False


@njit(cache=True)
def _off_edge(
    z: np.ndarray, valid: np.ndarray, i: int, j: int, dx: float, dy: float, dd: float
) -> np.uint8:
    """Code of an outlet: the missing neighbour closest to the local downslope direction.

    The downslope vector comes from finite differences over the valid neighbours along
    the row and the column (central where both exist, one-sided otherwise); among the
    neighbours outside the raster or nodata, the one whose ground direction makes the
    smallest angle with it wins. Ties and a zero vector follow N, E, S, W, NE, SE, SW, NW.
    """
    nrow, ncol = z.shape
    zc = np.float64(z[i, j])
    w_ok = j > 0 and valid[i, j - 1]
    e_ok = j < ncol - 1 and valid[i, j + 1]
    n_ok = i > 0 and valid[i - 1, j]
    s_ok = i < nrow - 1 and valid[i + 1, j]
    gx = 0.0  # dz per metre towards increasing column
    if w_ok and e_ok:
        gx = (np.float64(z[i, j + 1]) - np.float64(z[i, j - 1])) / (2 * dx)
    elif e_ok:
        gx = (np.float64(z[i, j + 1]) - zc) / dx
    elif w_ok:
        gx = (zc - np.float64(z[i, j - 1])) / dx
    gy = 0.0  # dz per metre towards increasing row
    if n_ok and s_ok:
        gy = (np.float64(z[i + 1, j]) - np.float64(z[i - 1, j])) / (2 * dy)
    elif s_ok:
        gy = (np.float64(z[i + 1, j]) - zc) / dy
    elif n_ok:
        gy = (zc - np.float64(z[i - 1, j])) / dy
    first = -1
    best = -np.inf
    bk = -1
    norm = math.sqrt(gx * gx + gy * gy)
    for m in range(8):
        k = OFF_EDGE_PREF[m]
        r = i + DROW[k]
        c = j + DCOL[k]
        if 0 <= r < nrow and 0 <= c < ncol and valid[r, c]:
            continue
        if first < 0:
            first = k
        if norm > 0:
            ex = DCOL[k] * dx
            ey = DROW[k] * dy
            cos = -(gx * ex + gy * ey) / (norm * math.sqrt(ex * ex + ey * ey))
            if cos > best + 1e-12:
                best = cos
                bk = k
    if bk < 0:
        bk = first
    return ESRI[bk] if bk >= 0 else np.uint8(0)


@njit(cache=True)
def _steepest(
    z: np.ndarray,
    valid: np.ndarray,
    dx_rows: np.ndarray,
    dy: float,
    outlet: int,
    condition: bool,
) -> np.ndarray:
    """Codes by steepest descent; 0 where no neighbour is strictly lower.

    ``outlet`` < 0: every edge cell is an outlet; else the flat index of the only one.
    Outlets without a lower neighbour get an off-edge code (only when ``condition``).
    """
    nrow, ncol = z.shape
    code = np.zeros((nrow, ncol), dtype=np.uint8)
    for i in range(nrow):
        dx = dx_rows[i]
        dd = math.sqrt(dx * dx + dy * dy)
        for j in range(ncol):
            if not valid[i, j]:
                continue
            zc = np.float64(z[i, j])
            best = 0.0
            bk = -1
            for k in range(8):
                r = i + DROW[k]
                c = j + DCOL[k]
                if r < 0 or r >= nrow or c < 0 or c >= ncol or not valid[r, c]:
                    continue
                if DROW[k] == 0:
                    dist = dx
                elif DCOL[k] == 0:
                    dist = dy
                else:
                    dist = dd
                s = (zc - np.float64(z[r, c])) / dist
                if s > best:
                    best = s
                    bk = k
            if bk >= 0:
                code[i, j] = ESRI[bk]
            elif condition and ((outlet < 0 and _is_edge(valid, i, j)) or (outlet == i * ncol + j)):
                code[i, j] = _off_edge(z, valid, i, j, dx, dy, dd)
    return code


@njit(cache=True)
def _flat_gradient(z: np.ndarray, valid: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Barnes (2014) drainage gradient ``G`` of every flat; flats are marked ``_FLAT``.

    ``code`` holds the steepest-descent codes, 0 on flat cells (valid, no lower
    neighbour, not an outlet). Returns int32 ``G``: ``2 * towards + away`` on flat cells,
    2 on low edges, 0 elsewhere (a ``(0, 0)`` array when there is no flat).
    """
    nrow, ncol = z.shape
    n_flat = 0
    for i in range(nrow):
        for j in range(ncol):
            if valid[i, j] and code[i, j] == 0:
                n_flat += 1
    if n_flat == 0:
        return np.zeros((0, 0), dtype=np.int32)
    g = np.zeros((nrow, ncol), dtype=np.int32)
    comp = np.empty(n_flat, dtype=np.int64)
    queue = np.empty(n_flat, dtype=np.int64)
    for s in range(nrow * ncol):
        si, sj = s // ncol, s % ncol
        if not valid[si, sj] or code[si, sj] != 0:
            continue
        # 1. collect the flat (8-connected; flat neighbours always share the elevation)
        comp[0] = s
        code[si, sj] = _COMP
        head, tail = 0, 1
        while head < tail:
            k0 = comp[head]
            head += 1
            i0, j0 = k0 // ncol, k0 % ncol
            for k in range(8):
                r = i0 + DROW[k]
                c = j0 + DCOL[k]
                if r < 0 or r >= nrow or c < 0 or c >= ncol:
                    continue
                if valid[r, c] and code[r, c] == 0 and z[r, c] == z[i0, j0]:
                    code[r, c] = _COMP
                    comp[tail] = r * ncol + c
                    tail += 1
        m = tail
        # 2. away from higher terrain: BFS steps d from the high edges (flat cells next to
        # a higher cell); away = max(d) - d, 0 for a flat without a high edge
        qt = 0
        for t in range(m):
            k0 = comp[t]
            i0, j0 = k0 // ncol, k0 % ncol
            g[i0, j0] = -1
            for k in range(8):
                r = i0 + DROW[k]
                c = j0 + DCOL[k]
                if r < 0 or r >= nrow or c < 0 or c >= ncol or not valid[r, c]:
                    continue
                if z[r, c] > z[i0, j0]:
                    queue[qt] = k0
                    qt += 1
                    break
        for t in range(qt):
            k0 = queue[t]
            g[k0 // ncol, k0 % ncol] = 0
        head = 0
        maxd = 0
        while head < qt:
            k0 = queue[head]
            head += 1
            i0, j0 = k0 // ncol, k0 % ncol
            d0 = g[i0, j0]
            if d0 > maxd:
                maxd = d0
            for k in range(8):
                r = i0 + DROW[k]
                c = j0 + DCOL[k]
                if r < 0 or r >= nrow or c < 0 or c >= ncol:
                    continue
                if code[r, c] == _COMP and g[r, c] == -1:
                    g[r, c] = d0 + 1
                    queue[qt] = r * ncol + c
                    qt += 1
        for t in range(m):
            k0 = comp[t]
            i0, j0 = k0 // ncol, k0 % ncol
            d0 = g[i0, j0]
            g[i0, j0] = maxd - d0 if d0 >= 0 else 0
        # 3. towards lower terrain, level by level: low edges (same-elevation cells that
        # drain) have t = 1 and G = 2; a flat cell t steps further has G += 2 (1 + t)
        qt = 0
        for t in range(m):
            k0 = comp[t]
            i0, j0 = k0 // ncol, k0 % ncol
            seed = False
            for k in range(8):
                r = i0 + DROW[k]
                c = j0 + DCOL[k]
                if r < 0 or r >= nrow or c < 0 or c >= ncol or not valid[r, c]:
                    continue
                cc = code[r, c]
                if cc != 0 and cc <= 128 and z[r, c] == z[i0, j0]:
                    g[r, c] = 2
                    seed = True
            if seed:
                code[i0, j0] = _SEEN
                g[i0, j0] += 4
                queue[qt] = k0
                qt += 1
        head = 0
        level = 2
        while head < qt:
            level_end = qt
            while head < level_end:
                k0 = queue[head]
                head += 1
                i0, j0 = k0 // ncol, k0 % ncol
                for k in range(8):
                    r = i0 + DROW[k]
                    c = j0 + DCOL[k]
                    if r < 0 or r >= nrow or c < 0 or c >= ncol:
                        continue
                    if code[r, c] == _COMP:
                        code[r, c] = _SEEN
                        g[r, c] += 2 * (level + 1)
                        queue[qt] = r * ncol + c
                        qt += 1
            level += 1
        for t in range(m):
            k0 = comp[t]
            i0, j0 = k0 // ncol, k0 % ncol
            # a cell no low edge reaches (impossible after filling) stays undefined
            code[i0, j0] = _FLAT if code[i0, j0] == _SEEN else _UNREACHED
    return g


@njit(cache=True)
def _steepest_with_gradient(
    z: np.ndarray,
    valid: np.ndarray,
    g: np.ndarray,
    dx_rows: np.ndarray,
    dy: float,
    code: np.ndarray,
) -> None:
    """Final codes: steepest descent of ``(z, G)`` in lexicographic order, in place.

    The limit of PySheds' ``flowdir(dem + eps * G)`` for ``eps -> 0``: the real drop per
    metre decides, the drop of ``G`` per metre breaks its exact ties and orders flat
    cells; remaining ties keep the neighbour order. Outlets keep their off-edge code
    unless a neighbour is strictly lower.
    """
    nrow, ncol = z.shape
    for i in range(nrow):
        dx = dx_rows[i]
        dd = math.sqrt(dx * dx + dy * dy)
        for j in range(ncol):
            if not valid[i, j]:
                continue
            cur = code[i, j]
            if cur == _UNREACHED:
                code[i, j] = 0
                continue
            zc = np.float64(z[i, j])
            gc = np.float64(g[i, j])
            best = 0.0
            bestg = 0.0
            bk = -1
            for k in range(8):
                r = i + DROW[k]
                c = j + DCOL[k]
                if r < 0 or r >= nrow or c < 0 or c >= ncol or not valid[r, c]:
                    continue
                dist = dx if DROW[k] == 0 else (dy if DCOL[k] == 0 else dd)
                s = (zc - np.float64(z[r, c])) / dist
                if s < best:
                    continue
                sg = (gc - np.float64(g[r, c])) / dist
                if s > best or sg > bestg:
                    best = s
                    bestg = sg
                    bk = k
            if bk >= 0 and (best > 0.0 or cur == _FLAT):
                code[i, j] = ESRI[bk]
            elif cur == _FLAT:
                code[i, j] = 0


@njit(cache=True)
def _min_edge_outlet(z: np.ndarray, valid: np.ndarray) -> int:
    """Flat index of the lowest edge cell (ties: first in row-major order), -1 if none."""
    nrow, ncol = z.shape
    best = np.inf
    bi = -1
    for i in range(nrow):
        for j in range(ncol):
            if valid[i, j] and _is_edge(valid, i, j) and np.float64(z[i, j]) < best:
                best = np.float64(z[i, j])
                bi = i * ncol + j
    return bi


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _dx_rows(dx: float | np.ndarray, nrow: int) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(dx, dtype=np.float64), (nrow,)).copy()
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"dx must be positive metres (one value or one per row), found {dx!r}")
    return arr


def fill_depressions(dem: np.ndarray, valid: np.ndarray, outlets: str = "edge") -> np.ndarray:
    """Priority-flood fill (pyflwdir) of a DEM; invalid cells come back as NaN.

    Parameters
    ----------
    dem
        Elevations ``(rows, cols)``; any real dtype, rounded to float32 (pyflwdir queues
        float32 elevations).
    valid
        Where ``dem`` holds data.
    outlets
        ``"edge"``: every valid cell on the border or next to nodata is an outlet;
        ``"min"``: only the lowest of them.

    Returns
    -------
    numpy.ndarray
        float32 filled elevations: every valid cell has a non-ascending 8-connected path
        to an outlet.
    """
    import pyflwdir

    if outlets not in OUTLET_POLICIES:
        raise ValueError(f"outlets must be one of {OUTLET_POLICIES}, found {outlets!r}")
    # float32 values carried in float64: pyflwdir raises a cell by ``z1 + (z0 - z1)``,
    # which in float32 misses the spill level by an ulp when the two differ by more than
    # a factor 2 (elevations near or below 0: coasts), leaving 1-ulp pits. In float64 the
    # difference of two float32 values is exact (or rounds back to z0 below).
    z = np.asarray(dem, dtype=np.float32).astype(np.float64)
    z[~valid] = np.nan
    filled, d8 = pyflwdir.dem.fill_depressions(z, outlets=outlets, nodata=np.nan)
    del z, d8
    out = filled.astype(np.float32)
    del filled
    return out


def conditioned_d8(
    dem: np.ndarray,
    valid: np.ndarray,
    dx: float | np.ndarray,
    dy: float,
    *,
    outlets: str = "edge",
    conditioning: str = "fill",
) -> np.ndarray:
    """ESRI D8 codes of a region (see the module docstring for the rules).

    Parameters
    ----------
    dem
        Elevations ``(rows, cols)``.
    valid
        Where ``dem`` holds data.
    dx
        Ground width of a cell in metres: one value, or one per row (geographic rasters).
    dy
        Ground height of a cell in metres.
    outlets
        ``"edge"`` (default) or ``"min"``.
    conditioning
        ``"fill"`` (default): filled, flats resolved, every valid cell has a code.
        ``"none"``: plain steepest descent on the raw DEM; pits and flats are 0.

    Returns
    -------
    numpy.ndarray
        uint8 codes; 0 exactly where ``valid`` is false (``"fill"``).
    """
    valid = np.ascontiguousarray(valid, dtype=np.bool_)
    if dem.shape != valid.shape:
        raise ValueError(f"dem {dem.shape} and valid {valid.shape} differ in shape")
    if not (np.isfinite(dy) and dy > 0):
        raise ValueError(f"dy must be positive metres, found {dy!r}")
    dxr = _dx_rows(dx, dem.shape[0])
    if conditioning == "none":
        z = np.ascontiguousarray(dem)
        return _steepest(z, valid, dxr, float(dy), -1, False)
    if conditioning != "fill":
        raise ValueError(f"conditioning must be 'fill' or 'none', found {conditioning!r}")
    # pyflwdir's single outlet: the lowest raw edge cell (float32; ties row-major)
    outlet = -1 if outlets == "edge" else _min_edge_outlet(_f32(dem), valid)
    filled = fill_depressions(dem, valid, outlets)
    code = _steepest(filled, valid, dxr, float(dy), outlet, True)
    g = _flat_gradient(filled, valid, code)
    if g.size:
        _steepest_with_gradient(filled, valid, g, dxr, float(dy), code)
    return code


@njit(cache=True)
def _accumulate(code: np.ndarray, valid: np.ndarray, acc: np.ndarray) -> int:
    """Add each cell's ``acc`` to all cells downstream in place; returns cells left in cycles."""
    nrow, ncol = code.shape
    dr = np.zeros(256, dtype=np.int64)
    dc = np.zeros(256, dtype=np.int64)
    ok = np.zeros(256, dtype=np.bool_)
    for k in range(8):
        dr[ESRI[k]] = DROW[k]
        dc[ESRI[k]] = DCOL[k]
        ok[ESRI[k]] = True
    indeg = np.zeros((nrow, ncol), dtype=np.uint8)
    for i in range(nrow):
        for j in range(ncol):
            cc = code[i, j]
            if valid[i, j] and ok[cc]:
                r = i + dr[cc]
                c = j + dc[cc]
                if 0 <= r < nrow and 0 <= c < ncol and valid[r, c]:
                    indeg[r, c] += 1
    done = np.uint8(255)
    for i in range(nrow):
        for j in range(ncol):
            if not valid[i, j] or indeg[i, j] != 0:
                continue
            indeg[i, j] = done
            r0, c0 = i, j
            while True:
                cc = code[r0, c0]
                if not ok[cc]:
                    break
                r = r0 + dr[cc]
                c = c0 + dc[cc]
                if r < 0 or r >= nrow or c < 0 or c >= ncol or not valid[r, c]:
                    break
                acc[r, c] += acc[r0, c0]
                indeg[r, c] -= 1
                if indeg[r, c] != 0:
                    break
                indeg[r, c] = done
                r0, c0 = r, c
    left = 0
    for i in range(nrow):
        for j in range(ncol):
            if valid[i, j] and indeg[i, j] != done:
                left += 1
    return left


def cell_area_km2(dx: float | np.ndarray, dy: float, nrow: int) -> np.ndarray:
    """Ground area of one cell per row, km²."""
    return _dx_rows(dx, nrow) * float(dy) / 1e6


def flow_accumulation(
    code: np.ndarray,
    valid: np.ndarray,
    *,
    units: str = "cells",
    dx: float | np.ndarray = 1.0,
    dy: float = 1.0,
) -> tuple[np.ndarray, int]:
    """Upstream area of every cell (itself included) along ESRI D8 codes.

    Parameters
    ----------
    code, valid
        D8 codes and validity of the region.
    units
        ``"cells"`` or ``"km2"`` (cell areas from ``dx`` per row and ``dy``).

    Returns
    -------
    acc, cycles
        float32 accumulation (NaN where invalid) and the number of valid cells on or
        upstream of a cycle (0 for a proper D8; their values are then partial).
    """
    code = np.ascontiguousarray(code, dtype=np.uint8)
    valid = np.ascontiguousarray(valid, dtype=np.bool_)
    nrow = code.shape[0]
    if units == "cells":
        acc = np.ones(code.shape, dtype=np.float64)
    elif units == "km2":
        acc = np.empty(code.shape, dtype=np.float64)
        acc[:] = cell_area_km2(dx, dy, nrow)[:, None]
    else:
        raise ValueError(f"units must be 'cells' or 'km2', found {units!r}")
    left = _accumulate(code, valid, acc)
    out = acc.astype(np.float32)
    del acc
    out[~valid] = np.nan
    return out, int(left)


@njit(cache=True)
def _sinks(code: np.ndarray, valid: np.ndarray) -> tuple[int, int]:
    """``(valid cells without a code, valid cells draining off the data)``."""
    nrow, ncol = code.shape
    undefined = 0
    off = 0
    for i in range(nrow):
        for j in range(ncol):
            if not valid[i, j]:
                continue
            cc = code[i, j]
            k = -1
            for m in range(8):
                if ESRI[m] == cc:
                    k = m
            if k < 0:
                undefined += 1
                continue
            r = i + DROW[k]
            c = j + DCOL[k]
            if r < 0 or r >= nrow or c < 0 or c >= ncol or not valid[r, c]:
                off += 1
    return undefined, off


def d8_qa(code: np.ndarray, valid: np.ndarray) -> dict[str, int]:
    """Counts for label QA: valid cells, undefined codes, outlets (drain off), cycle cells."""
    code = np.ascontiguousarray(code, dtype=np.uint8)
    valid = np.ascontiguousarray(valid, dtype=np.bool_)
    undefined, outlets = _sinks(code, valid)
    acc = np.zeros(code.shape, dtype=np.float64)
    cycles = _accumulate(code, valid, acc)
    return {
        "valid": int(valid.sum()),
        "undefined": int(undefined),
        "outlets": int(outlets),
        "cycle_cells": int(cycles),
    }
