"""``Grid``: an immutable raster lattice (CRS, affine transform, shape).

A grid knows where its pixels are on the ground and how large they are in metres.
Pixel coordinates follow rasterio: ``(col, row)`` with integers at pixel *edges*, so the
centre of pixel ``(0, 0)`` is at ``(0.5, 0.5)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from affine import Affine
from pyproj import CRS, Geod, Proj

from geoharmony.errors import InputError
from geoharmony.geometry.identity import IdentityCache


def norm_crs(crs: Any) -> CRS:
    """Normalise any CRS-like input (EPSG code, WKT, rasterio CRS, pyproj CRS) to pyproj.

    Raises
    ------
    InputError
        If ``crs`` is ``None`` or cannot be understood.
    """
    if crs is None:
        raise InputError("a CRS is required, but none was given")
    if isinstance(crs, CRS):
        return crs
    if hasattr(crs, "to_wkt"):
        return CRS.from_wkt(crs.to_wkt())
    return CRS.from_user_input(crs)


@dataclass(frozen=True, slots=True)
class Grid:
    """A raster's pixel lattice.

    Parameters
    ----------
    crs
        The grid's coordinate reference system.
    transform
        Affine transform from pixel ``(col, row)`` to CRS ``(x, y)``.
    width, height
        Size in pixels.

    Examples
    --------
    >>> g = Grid.from_origin("EPSG:32616", x0=500000, y0=4000000, res=10, width=100, height=50)
    >>> g.resolution_m
    (10.0, 10.0)
    """

    crs: CRS
    transform: Affine
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"Grid size must be positive, got {self.width} x {self.height}")
        if self.transform.determinant == 0:
            raise ValueError(f"Grid transform must be invertible, got {tuple(self.transform)}")

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def from_origin(
        cls,
        crs: Any,
        *,
        x0: float,
        y0: float,
        res: float | tuple[float, float],
        width: int,
        height: int,
    ) -> Grid:
        """Build a north-up grid from its upper-left corner and pixel size."""
        rx, ry = (res, res) if isinstance(res, int | float) else res
        return cls(norm_crs(crs), Affine(rx, 0.0, x0, 0.0, -ry, y0), int(width), int(height))

    @classmethod
    def from_dataset(cls, ds: Any) -> Grid:
        """Build the grid of an open rasterio dataset."""
        if ds.crs is None:
            raise InputError(
                f"{ds.name}: the raster has no CRS; assign one (e.g. gdal_edit -a_srs)"
            )
        return cls(norm_crs(ds.crs), ds.transform, ds.width, ds.height)

    # -- orientation --------------------------------------------------------------------
    @property
    def orientation(self) -> str:
        """``north-up``, ``south-up``, ``mirrored`` (east-west), ``rotated-180`` or ``rotated``.

        The first four are axis-aligned and become north-up by flipping rows and/or
        columns (exact); ``rotated`` (rotated or sheared) needs a warp.
        """
        a, b, _, d, e, _ = tuple(self.transform)[:6]
        if b != 0 or d != 0:
            return "rotated"
        return {
            (True, True): "north-up",
            (True, False): "south-up",
            (False, True): "mirrored",
            (False, False): "rotated-180",
        }[(a > 0, e < 0)]

    def north_up(self) -> tuple[Grid, bool, bool]:
        """The same pixels as a north-up grid: ``(grid, flip_cols, flip_rows)``.

        Row ``r`` of the north-up grid is row ``height - 1 - r`` of this one when
        ``flip_rows`` (columns alike). Rotated grids are returned unchanged.
        """
        if self.orientation == "rotated":
            return self, False, False
        a, _, c, _, e, f = tuple(self.transform)[:6]
        flip_cols, flip_rows = a < 0, e > 0
        x0 = c + a * self.width if flip_cols else c
        y0 = f + e * self.height if flip_rows else f
        t = Affine(abs(a), 0.0, x0, 0.0, -abs(e), y0)
        return Grid(self.crs, t, self.width, self.height), flip_cols, flip_rows

    # -- derived values -----------------------------------------------------------------
    @property
    def is_geographic(self) -> bool:
        """True when the CRS is geographic (degrees)."""
        return bool(self.crs.is_geographic)

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size in CRS units along the column and row axes (always positive)."""
        a, b, _, d, e, _ = tuple(self.transform)[:6]
        return (math.hypot(a, d), math.hypot(b, e))

    @property
    def center_xy(self) -> tuple[float, float]:
        """CRS coordinates of the grid's centre."""
        x, y = self.transform @ (self.width / 2, self.height / 2)
        return (float(x), float(y))

    @property
    def resolution_m(self) -> tuple[float, float]:
        """Ground pixel size in metres ``(x, y)`` at the grid's centre.

        True ground metres (the projection's scale factors applied), not map units: a
        30 m pixel of CONUS Albers at 40 N is about 30.27 x 29.73 m on the ground.
        """
        return self.ground_resolution(*self.center_xy)

    def ground_resolution(self, x: float, y: float) -> tuple[float, float]:
        """Ground length in metres of one pixel step along columns and rows at ``(x, y)``.

        ``(x, y)`` is in the grid's CRS. Geographic grids: geodesics across one pixel.
        Projected grids: the step's map length turned into ground length through the
        projection's partial derivatives at that point (``pyproj.Proj.get_factors``;
        the meridional and parallel scales for an axis-aligned grid of a projection
        whose principal directions follow meridians and parallels).
        """
        a, b, _, d, e, _ = tuple(self.transform)[:6]
        lon, lat = _to_geodetic(self.crs, x, y)
        if self.is_geographic:
            geod = _geod(self.crs)
            _, _, dx = geod.inv(x, y, x + a, y + d)
            _, _, dy = geod.inv(x, y, x + b, y + e)
            return (float(dx), float(dy))
        unit = _unit_factor(self.crs)
        # to the micrometre: the Jacobian is numerical (~1e-10), and a conformal grid's
        # equal axes must stay exactly equal (D8 ties, square footprints)
        return (
            round(_ground_length(self.crs, lon, lat, a * unit, d * unit), 6),
            round(_ground_length(self.crs, lon, lat, b * unit, e * unit), 6),
        )

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` of the grid's corners in its CRS."""
        cols = np.array([0, self.width, self.width, 0], dtype=float)
        rows = np.array([0, 0, self.height, self.height], dtype=float)
        xs, ys = self.to_xy(cols, rows)
        return (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))

    # -- vectorised coordinate conversions ------------------------------------------------
    def to_xy(self, col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel ``(col, row)`` (edges at integers) to CRS ``(x, y)``, vectorised."""
        a, b, c, d, e, f = tuple(self.transform)[:6]
        col = np.asarray(col, dtype=float)
        row = np.asarray(row, dtype=float)
        return (a * col + b * row + c, d * col + e * row + f)

    def to_colrow(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CRS ``(x, y)`` to fractional pixel ``(col, row)``, vectorised."""
        a, b, c, d, e, f = tuple(~self.transform)[:6]
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        return (a * x + b * y + c, d * x + e * y + f)

    def __dask_tokenize__(self) -> tuple[str, tuple[float, ...], int, int]:
        return (self.crs.to_wkt(), tuple(self.transform)[:6], self.width, self.height)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (for the manifest)."""
        return {
            "crs": self.crs.to_string(),
            "crs_wkt": self.crs.to_wkt(),
            "transform": list(tuple(self.transform)[:6]),
            "width": self.width,
            "height": self.height,
            "res": list(self.res),
            "resolution_m": list(self.resolution_m),
        }


def _geod(crs: CRS) -> Geod:
    ell = crs.ellipsoid
    if ell is None:  # pragma: no cover - geographic CRSs always have one
        return Geod(ellps="WGS84")
    return Geod(a=ell.semi_major_metre, b=ell.semi_minor_metre)


def _to_geodetic(crs: CRS, x: float, y: float) -> tuple[float, float]:
    """Longitude/latitude (on the CRS's own datum) of a point in ``crs``."""
    from geoharmony.geometry.transforms import transformer

    if crs.is_geographic:
        return float(x), float(y)
    lon, lat = transformer(crs, _geodetic(crs)).transform(x, y)
    return float(lon), float(lat)


#: Per CRS object (by identity): its geodetic CRS and its Proj. ``geodetic_crs`` builds a
#: new object per call: a plan asks for the same few CRSs' ground resolution once per region
#: and modality.
_DERIVED: IdentityCache[tuple[CRS, Proj]] = IdentityCache(256)


def _derived(crs: CRS) -> tuple[CRS, Proj]:
    return _DERIVED.get(
        (crs,), lambda: (crs.geodetic_crs or CRS.from_epsg(4326), _proj(crs.to_wkt()))
    )


def _geodetic(crs: CRS) -> CRS:
    """The geodetic CRS of ``crs`` (one object per CRS object)."""
    return _derived(crs)[0]


def _ground_length(crs: CRS, lon: float, lat: float, vx: float, vy: float) -> float:
    """Ground metres of a short map vector ``(vx, vy)`` (metres of map) at ``(lon, lat)``.

    ``get_factors`` gives the Jacobian of the projection normalised to ``a = 1``; its
    inverse turns the map vector into ``(dlon, dlat)``, whose length on the ellipsoid is
    ``a * hypot(M dlat, N cos(lat) dlon)`` (normalised radii of curvature M and N).
    """
    f = _derived(crs)[1].get_factors(lon, lat)
    ell = crs.ellipsoid
    a = ell.semi_major_metre if ell is not None else 6378137.0
    b = ell.semi_minor_metre if ell is not None else a
    e2 = 1.0 - (b / a) ** 2
    jac = np.array([[f.dx_dlam, f.dx_dphi], [f.dy_dlam, f.dy_dphi]], dtype=float)
    dlam, dphi = np.linalg.solve(jac, np.array([vx, vy]) / a)
    s = math.sin(math.radians(lat))
    w = math.sqrt(1.0 - e2 * s * s)
    m_n, n_n = (1.0 - e2) / w**3, 1.0 / w
    return float(a * math.hypot(m_n * dphi, n_n * math.cos(math.radians(lat)) * dlam))


@lru_cache(maxsize=64)
def _proj(wkt: str) -> Proj:
    return Proj(CRS.from_wkt(wkt))


def _unit_factor(crs: CRS) -> float:
    """Metres per CRS unit along the first axis (1 for metre CRSs, 0.3048 for feet...)."""
    try:
        factor = crs.axis_info[0].unit_conversion_factor
    except (IndexError, AttributeError):
        return 1.0
    return float(factor) if factor else 1.0
