"""The reference grid: CRS, affine transform and shape, plus window iteration.

Every factor, sample and prediction in a susceptibility project lives on one grid. Keeping it as a
small frozen value (instead of passing rasterio datasets around) makes it trivial to compare two
rasters, to store the grid in a model card and to refuse a mismatched stack.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from ..errors import GridMismatchError, InvalidInputError
from .io import FLOAT_NODATA, GTIFF_OPTIONS


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid.

    Attributes:
        crs_wkt: CRS as WKT.
        transform: GDAL-order affine coefficients (a, b, c, d, e, f) as in ``Affine``.
        width: columns.
        height: rows.
    """

    crs_wkt: str
    transform: tuple[float, float, float, float, float, float]
    width: int
    height: int

    @property
    def affine(self) -> Affine:
        """The transform as an :class:`affine.Affine`."""
        return Affine(*self.transform)

    @property
    def crs(self) -> CRS:
        """The CRS as a rasterio CRS."""
        return CRS.from_wkt(self.crs_wkt)

    @property
    def resolution(self) -> tuple[float, float]:
        """Cell size (x, y) in CRS units, both positive."""
        return abs(self.transform[0]), abs(self.transform[4])

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top)."""
        a = self.affine
        left, top = a.c, a.f
        right = left + a.a * self.width
        bottom = top + a.e * self.height
        return left, bottom, right, top

    @classmethod
    def from_dataset(cls, ds: rasterio.io.DatasetReader) -> Grid:
        """Grid of an open rasterio dataset."""
        if ds.crs is None:
            raise InvalidInputError(f"{ds.name} has no CRS. Assign one (Raster > Projections > Assign Projection).")
        t = ds.transform
        if t.b != 0 or t.d != 0:
            raise InvalidInputError(f"{ds.name} is rotated; warp it to a north-up grid first (gdalwarp).")
        return cls(ds.crs.to_wkt(), tuple(t)[:6], ds.width, ds.height)

    @classmethod
    def from_path(cls, path: str) -> Grid:
        """Grid of a raster file."""
        with rasterio.open(path) as ds:
            return cls.from_dataset(ds)

    @classmethod
    def from_bounds(
        cls,
        crs_wkt: str,
        bounds: tuple[float, float, float, float],
        resolution: float,
        anchor: tuple[float, float] = (0.0, 0.0),
    ) -> Grid:
        """A grid covering ``bounds`` with square cells whose lines pass through ``anchor``.

        Anchoring (to the first factor's origin by default in stacking) keeps the stack aligned with
        that factor and makes two runs with the same resolution produce identical grids.
        """
        if resolution <= 0:
            raise InvalidInputError(f"Resolution must be positive, got {resolution}.")
        left, bottom, right, top = bounds
        eps = 1e-6  # in cells: reprojected bounds carry float noise that must not add a cell
        ax, ay = anchor
        left = ax + math.floor((left - ax) / resolution + eps) * resolution
        top = ay + math.ceil((top - ay) / resolution - eps) * resolution
        width = int(math.ceil((right - left) / resolution - eps))
        height = int(math.ceil((top - bottom) / resolution - eps))
        if width < 1 or height < 1:
            raise InvalidInputError(f"The extent {bounds} is empty at {resolution} m resolution.")
        return cls(crs_wkt, (resolution, 0.0, left, 0.0, -resolution, top), width, height)

    def same_as(self, other: Grid, tol: float = 1e-6) -> bool:
        """True when both grids have the same CRS, shape and (nearly) the same transform."""
        if (self.width, self.height) != (other.width, other.height):
            return False
        if not self.crs == other.crs:
            return False
        return bool(np.allclose(self.transform, other.transform, atol=tol * max(self.resolution)))

    def require_same(self, other: Grid, what: str) -> None:
        """Raise :class:`GridMismatchError` unless ``other`` is the same grid."""
        if not self.same_as(other):
            raise GridMismatchError(
                f"{what} is not on the factor stack's grid ({other.width}x{other.height} vs "
                f"{self.width}x{self.height} cells, or a different CRS/origin). "
                "Stack it with lsm_stack_factors using the factor stack as reference."
            )

    def windows(self, block: int = 512) -> Iterator[Window]:
        """Row-major square windows covering the grid; the last ones are clipped to the edge."""
        for r in range(0, self.height, block):
            for c in range(0, self.width, block):
                yield Window(c, r, min(block, self.width - c), min(block, self.height - r))

    def n_windows(self, block: int = 512) -> int:
        """Number of windows :meth:`windows` yields (for progress)."""
        return math.ceil(self.height / block) * math.ceil(self.width / block)

    def rowcol(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell row/col of map coordinates (may lie outside the grid)."""
        inv = ~self.affine
        cols, rows = inv * (np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        return np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)

    def xy(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates of cell centres."""
        a = self.affine
        xs, ys = a * (np.asarray(cols, dtype=float) + 0.5, np.asarray(rows, dtype=float) + 0.5)
        return np.asarray(xs), np.asarray(ys)

    def inside(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Boolean mask of cells inside the grid."""
        return (rows >= 0) & (rows < self.height) & (cols >= 0) & (cols < self.width)

    def profile(self, count: int = 1, dtype: str = "float32", nodata: float | None = FLOAT_NODATA) -> dict:
        """Rasterio creation profile of a tiled, compressed GeoTIFF on this grid (every engine writer uses it)."""
        return {
            "driver": "GTiff",
            "width": self.width,
            "height": self.height,
            "count": count,
            "dtype": dtype,
            "crs": self.crs,
            "transform": self.affine,
            "nodata": nodata,
            **GTIFF_OPTIONS,
        }

    def to_dict(self) -> dict:
        """JSON-serialisable form (model cards, reports)."""
        return {"crs_wkt": self.crs_wkt, "transform": list(self.transform), "width": self.width, "height": self.height}

    @classmethod
    def from_dict(cls, d: dict) -> Grid:
        """Inverse of :meth:`to_dict`."""
        return cls(d["crs_wkt"], tuple(d["transform"]), int(d["width"]), int(d["height"]))
