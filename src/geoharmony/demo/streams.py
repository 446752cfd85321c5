"""Streams: a main stem and tributaries meandering downhill, carved into valleys."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from shapely.geometry import LineString, Point, box
from shapely.ops import substring

from geoharmony.demo.layout import F32, F64, _Grid, _Layout


@dataclass(slots=True)
class _Stream:
    line: LineString
    dist: F64  # cumulative distance of the vertices, m
    floor: F64  # valley floor elevation at the vertices, m
    bottom_m: float  # half-width of the flat valley bottom, m
    wall_m: float  # horizontal extent of each valley side, m
    channel_m: float  # half-width of the open-water channel, m
    main: bool

    def floor_at(self, d: float) -> float:
        return float(np.interp(d, self.dist, self.floor))


@dataclass(frozen=True, slots=True)
class _Downhill:
    """Downhill direction of the smoothed terrain, weighted by steepness (0..1)."""

    grid: _Grid
    hx: F32
    hy: F32

    @classmethod
    def from_terrain(cls, grid: _Grid, z: F32, smooth_m: float) -> _Downhill:
        smooth = ndimage.gaussian_filter(z, smooth_m / grid.res, mode="nearest")
        gy, gx = np.gradient(smooth, grid.res)
        dx, dy = -gx, gy  # downhill, in map axes (rows run south)
        mag = np.hypot(dx, dy)
        ref = float(np.median(mag)) or 1.0
        weight = 1.0 / (mag + ref)  # unit vector * mag / (mag + ref)
        return cls(grid, (dx * weight).astype(np.float32), (dy * weight).astype(np.float32))

    def at(self, x: float, y: float) -> tuple[float, float]:
        left, _, _, top = self.grid.bounds
        c = min(max(int((x - left) / self.grid.res), 0), self.grid.width - 1)
        r = min(max(int((top - y) / self.grid.res), 0), self.grid.height - 1)
        return float(self.hx[r, c]), float(self.hy[r, c])


def _wrap(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


def _walk(
    rng: np.random.Generator,
    start: tuple[float, float],
    waypoints: Sequence[tuple[float, float]],
    *,
    step: float,
    bounds: tuple[float, float, float, float],
    max_steps: int,
    downhill: _Downhill,
) -> tuple[F64, int]:
    """Meandering path: a correlated random turn rate plus steering towards waypoints.

    The course also bends downhill, so channels settle into the terrain's hollows.
    Returns the vertices and the number of waypoints reached; the walk stops at the last
    waypoint, on leaving ``bounds`` or after ``max_steps``.
    """
    x, y = start
    heading = math.atan2(waypoints[0][1] - y, waypoints[0][0] - x)
    turn = wiggle = 0.0
    pts = [(x, y)]
    target = 0
    left, bottom, right, top = bounds
    for _ in range(max_steps):
        tx, ty = waypoints[target]
        dist = math.hypot(tx - x, ty - y)
        if dist < 2.0 * step:
            target += 1
            if target == len(waypoints):
                pts.append((tx, ty))
                break
            continue
        desired = math.atan2(ty - y, tx - x)
        # slow drift of the course plus short wiggles; steer harder near the target
        turn = 0.95 * turn + 0.005 * float(rng.standard_normal())
        wiggle = 0.6 * wiggle + 0.05 * float(rng.standard_normal())
        steer = min(1.0, max(0.015, 1.5 * step / dist))
        heading += steer * _wrap(desired - heading) + turn + wiggle
        hx, hy = downhill.at(x, y)
        if hx or hy:
            # only the part of the slope that does not lead away from the target (no
            # orbiting in hollows)
            down = math.atan2(hy, hx)
            along = math.cos(_wrap(down - desired))
            if along > 0.0:
                heading += 0.06 * along * math.hypot(hx, hy) * _wrap(down - heading)
        x += step * math.cos(heading)
        y += step * math.sin(heading)
        pts.append((x, y))
        if not (left <= x <= right and bottom <= y <= top):
            break
    return np.asarray(pts, dtype=np.float64), target


def _cumdist(xy: F64) -> F64:
    seg = np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1]))
    return np.concatenate([[0.0], np.cumsum(seg)])


def _sample(grid: _Grid, raster: F32, xy: F64) -> F64:
    row, col = grid.to_pixel(xy)
    return np.asarray(
        ndimage.map_coordinates(raster, [row, col], order=1, mode="nearest"), dtype=np.float64
    )


def _make_stream(
    xy: F64,
    base_grid: _Grid,
    base: F32,
    *,
    depth: tuple[float, float],
    bottom_m: float,
    wall_m: float,
    channel_m: float,
    main: bool,
    junction_floor: float | None = None,
) -> _Stream:
    dist = _cumdist(xy)
    ground = _sample(base_grid, base, xy)
    frac = dist / max(float(dist[-1]), 1.0)
    target = ground - (depth[0] + (depth[1] - depth[0]) * frac)
    # never rising downstream, and falling at least 0.3 m/km (no flat reaches)
    floor = np.minimum.accumulate(target + 0.0003 * dist) - 0.0003 * dist
    if junction_floor is not None:
        floor = np.maximum(floor, junction_floor + 0.3)
    return _Stream(LineString(xy), dist, floor, bottom_m, wall_m, channel_m, main)


def _streams(
    rng: np.random.Generator, lay: _Layout, base_c: F32, downslope: tuple[float, float]
) -> list[_Stream]:
    """One main stem through the centre, tributaries joining it (or each other)."""
    left, bottom, right, top = lay.dem.bounds
    size = right - left
    cx, cy = (left + right) / 2.0, (bottom + top) / 2.0
    ux, uy = downslope
    px, py = -uy, ux
    ext_bounds = lay.ext.bounds
    step = lay.coarse.res
    downhill = _Downhill.from_terrain(lay.coarse, base_c, 300.0)
    reach = (ext_bounds[2] - ext_bounds[0]) * 0.75
    # start just inside the working grid, upslope of the centre
    e_left, e_bottom, e_right, e_top = ext_bounds
    off = rng.uniform(-0.08, 0.08) * size
    ox, oy = cx + px * off, cy + py * off
    back = min(
        (ox - e_left - 2 * step) / abs(ux) if ux > 0 else math.inf,
        (e_right - ox - 2 * step) / abs(ux) if ux < 0 else math.inf,
        (oy - e_bottom - 2 * step) / abs(uy) if uy > 0 else math.inf,
        (e_top - oy - 2 * step) / abs(uy) if uy < 0 else math.inf,
    )
    start = (ox - ux * back, oy - uy * back)
    mid = (cx + px * rng.uniform(-0.05, 0.05) * size, cy + py * rng.uniform(-0.05, 0.05) * size)
    end = (cx + ux * reach - px * off, cy + uy * reach - py * off)
    for _ in range(50):  # a walk that wanders off before the centre is redrawn
        xy, reached = _walk(
            rng,
            start,
            [mid, end],
            step=step,
            bounds=ext_bounds,
            max_steps=20_000,
            downhill=downhill,
        )
        if reached >= 1:
            break
    main = _make_stream(
        xy,
        lay.coarse,
        base_c,
        depth=(8.0, 20.0),
        bottom_m=150.0,
        wall_m=650.0,
        channel_m=9.0,
        main=True,
    )
    streams = [main]

    scale = max(1, round(size / 12_000.0))
    n_trib = int(rng.integers(3, 6)) * scale
    inner = box(left, bottom, right, top).buffer(-0.06 * size)
    starts: list[Point] = []
    attempts = 0
    while len(streams) < n_trib + 1 and attempts < 400:
        attempts += 1
        sx = rng.uniform(left + 0.06 * size, right - 0.06 * size)
        sy = rng.uniform(bottom + 0.06 * size, top - 0.06 * size)
        p = Point(sx, sy)
        if not inner.contains(p) or main.line.distance(p) < 0.2 * size / math.sqrt(scale):
            continue
        if any(p.distance(q) < 0.18 * size / math.sqrt(scale) for q in starts):
            continue
        # aim at the main stem, somewhat downstream of the nearest point
        d_near = main.line.project(p)
        d_target = min(d_near + 0.08 * size, float(main.dist[-1]))
        tgt = main.line.interpolate(d_target)
        dist = p.distance(tgt)
        path, _ = _walk(
            rng,
            (sx, sy),
            [(tgt.x, tgt.y)],
            step=step,
            bounds=ext_bounds,
            max_steps=int(3 * dist / step) + 10,
            downhill=downhill,
        )
        if len(path) < 4:
            continue
        line = LineString(path)
        # stop at the first stream it meets
        cut, joined_floor = float(_cumdist(path)[-1]), None
        for other in streams:
            inter = line.intersection(other.line)
            if inter.is_empty:
                continue
            for q in getattr(inter, "geoms", [inter]):
                qp = q if isinstance(q, Point) else q.centroid
                d = line.project(qp)
                if step < d < cut:
                    cut = d
                    joined_floor = other.floor_at(other.line.project(qp))
        if cut < 0.1 * size:
            continue
        line = substring(line, 0.0, cut)
        xy = np.asarray(line.coords, dtype=np.float64)
        streams.append(
            _make_stream(
                xy,
                lay.coarse,
                base_c,
                depth=(3.0, 10.0),
                bottom_m=40.0,
                wall_m=260.0,
                channel_m=3.5,
                main=False,
                junction_floor=joined_floor,
            )
        )
        starts.append(p)
    return streams


def _carve(lay: _Layout, base_c: F32, streams: Sequence[_Stream]) -> tuple[F32, F32]:
    """Valley incision on the coarse grid.

    Returns the elevation change (<= 0) and the distance to the nearest channel, both on
    the coarse grid. Around each channel the ground is pulled down towards the valley
    floor with a weight that is 1 on the valley bottom and falls smoothly to 0 across the
    valley sides, so the sides keep the shape of the terrain they cut into. The floor
    under each cell is a Gaussian-weighted mean of nearby channel floors, which keeps
    the surface free of creases where the nearest channel cell jumps across a bend.
    """
    g = lay.coarse
    carved = base_c.copy()
    near = np.full(g.shape, np.inf, dtype=np.float32)
    for s in sorted(streams, key=lambda st: st.main):  # main stem last
        n = max(2, int(float(s.dist[-1]) / (g.res / 4.0)))
        d = np.linspace(0.0, float(s.dist[-1]), n)
        xy = np.column_stack(
            [np.interp(d, s.dist, s.line.xy[0]), np.interp(d, s.dist, s.line.xy[1])]
        )
        fl = np.interp(d, s.dist, s.floor)
        row, col = g.to_pixel(xy)
        r = np.rint(row).astype(np.int64)
        c = np.rint(col).astype(np.int64)
        ok = (r >= 0) & (r < g.height) & (c >= 0) & (c < g.width)
        if not ok.any():
            continue
        floor = np.full(g.shape, np.inf, dtype=np.float32)
        np.minimum.at(floor, (r[ok], c[ok]), fl[ok].astype(np.float32))
        on = np.isfinite(floor)
        dist, (ir, ic) = ndimage.distance_transform_edt(~on, sampling=g.res, return_indices=True)
        dist = dist.astype(np.float32)
        sigma = max(2.0, 0.5 * (s.bottom_m + s.wall_m) / g.res)
        num = ndimage.gaussian_filter(np.where(on, floor, np.float32(0.0)), sigma, mode="constant")
        den = ndimage.gaussian_filter(on.astype(np.float32), sigma, mode="constant")
        eps = np.float32(1e-3)
        smooth_floor = (num + eps * floor[ir, ic]) / (den + eps)
        del num, den, ir, ic, floor
        t = np.clip((dist - np.float32(s.bottom_m)) / np.float32(s.wall_m), 0.0, 1.0)
        weight = np.float32(1.0) - t * t * (np.float32(3.0) - np.float32(2.0) * t)
        carved -= np.maximum(carved - smooth_floor, np.float32(0.0)) * weight
        np.minimum(near, dist, out=near)
    delta = ndimage.gaussian_filter(carved - base_c, 0.7, mode="nearest")
    return np.asarray(np.minimum(delta, 0.0), dtype=np.float32), near
