"""Zonal statistics of a raster over mapping units (slope units, catchments, parcels), windowed.

Why units: many agencies decide per slope unit or parcel, not per 30 m cell, and a unit-level
evaluation avoids counting the many cells of one landslide as many independent successes.

How: each window of the raster is rasterised with the indices of the units that intersect it
(cell centres inside a polygon belong to it; an STRtree finds the candidates), then per-unit
sums, maxima and a value histogram are accumulated. Memory is bounded by the window size and
``units x bins`` counters, never by the raster. Percentiles come from the histogram, so they are
exact to 1/``bins`` of the raster's range.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shapely.strtree import STRtree


from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio import features
from rasterio.windows import bounds as window_bounds
from rasterio.windows import transform as window_transform

from ..errors import InvalidInputError
from ..progress import NullProgress, Progress, check
from .grid import Grid
from .io import bounded_gdal_cache, valid_mask, valid_range


@dataclass
class UnitStats:
    """Per-unit statistics, in the order of the units given."""

    n_cells: np.ndarray
    mean: np.ndarray
    maximum: np.ndarray
    p50: np.ndarray
    p90: np.ndarray

    def statistic(self, name: str) -> np.ndarray:
        """One statistic by name (mean, max, p50, p90)."""
        return {"mean": self.mean, "max": self.maximum, "p50": self.p50, "p90": self.p90}[name]


STATISTICS = ("mean", "max", "p50", "p90")


class GeomIndex:
    """A spatial index of polygons whose query gives their positions, under shapely 1.8 and 2.x alike.

    Why: shapely 1.8's ``STRtree.query`` returns the geometries, 2.x returns their integer indices
    (QGIS 3.40+ on Debian and OSGeo4W ship shapely 2): code that took the answer for geometries
    failed there ('numpy.int64' object has no attribute 'covers'). Callers get positions, always.
    """

    def __init__(self, geoms: list) -> None:
        import warnings

        from shapely.strtree import STRtree

        self.geoms = list(geoms)
        self._pos = {id(g): i for i, g in enumerate(self.geoms)}
        with warnings.catch_warnings():  # 1.8's notice that 2.0 changes query's answer (handled here)
            warnings.simplefilter("ignore")
            self.tree: STRtree = STRtree(self.geoms)

    def query(self, geom: Any) -> list[int]:
        """Positions (in ``geoms``) of the polygons whose envelope meets ``geom``'s."""
        return [int(h) if isinstance(h, int | np.integer) else self._pos[id(h)] for h in self.tree.query(geom)]


@bounded_gdal_cache
def unit_statistics(
    raster: str, geoms: list, bins: int = 200, block: int = 1024, progress: Progress | None = None
) -> UnitStats:
    """Mean, max, median and 90th percentile of band 1 over each polygon of ``geoms`` (raster CRS)."""
    progress = progress or NullProgress()
    if not geoms:
        raise InvalidInputError("The mapping-unit layer has no polygon.")
    n = len(geoms)
    tree = GeomIndex(geoms)
    with rasterio.open(raster) as ds:
        grid = Grid.from_dataset(ds)
        nod = ds.nodata
        lo, hi = valid_range(ds, grid.windows(block))
        if not np.isfinite(lo):
            raise InvalidInputError(f"The raster {raster} has no valid cell.")
        hi = hi if hi > lo else lo + 1e-9
        edges = np.linspace(lo, hi, bins + 1)
        count = np.zeros(n, np.int64)
        total = np.zeros(n, np.float64)
        maximum = np.full(n, -np.inf)
        hist = np.zeros(n * bins, np.int64)
        nwin = grid.n_windows(block)
        from shapely.geometry import box

        for k, win in enumerate(grid.windows(block)):
            check(progress)
            cand = tree.query(box(*window_bounds(win, ds.transform)))
            if len(cand) == 0:
                continue
            ids = [(geoms[i], i + 1) for i in cand]
            lab = features.rasterize(
                ids,
                out_shape=(int(win.height), int(win.width)),
                transform=window_transform(win, ds.transform),
                fill=0,
                dtype="int32",
            )
            a = ds.read(1, window=win)
            ok = valid_mask(a, nod) & (lab > 0)
            u = lab[ok] - 1
            v = a[ok].astype(np.float64)
            count += np.bincount(u, minlength=n)
            total += np.bincount(u, weights=v, minlength=n)
            np.maximum.at(maximum, u, v)
            b = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, bins - 1)
            hist += np.bincount(u * bins + b, minlength=n * bins)
            progress.report((k + 1) / nwin, "unit statistics")
    hist = hist.reshape(n, bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    maximum = np.where(count > 0, maximum, np.nan)
    return UnitStats(count, mean, maximum, _percentile(hist, edges, 0.5), _percentile(hist, edges, 0.9))


def _percentile(hist: np.ndarray, edges: np.ndarray, q: float) -> np.ndarray:
    """Per-row percentile from histograms (upper edge of the bin where the cumulative share reaches q)."""
    tot = hist.sum(axis=1)
    cum = np.cumsum(hist, axis=1)
    b = np.argmax(cum >= np.maximum(q * tot, 1)[:, None], axis=1)
    out = edges[np.minimum(b + 1, edges.size - 1)]
    return np.where(tot > 0, out, np.nan)


def units_with_points(geoms: list, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Number of points inside each polygon (a point on a shared border counts for one unit)."""
    from shapely.geometry import Point

    tree = GeomIndex(geoms)
    hits = np.zeros(len(geoms), np.int64)
    for px, py in zip(x, y):
        p = Point(float(px), float(py))
        for i in tree.query(p):
            if geoms[i].covers(p):
                hits[i] += 1
                break
    return hits


def unit_zones(values: np.ndarray, n_classes: int = 5) -> tuple[np.ndarray, list[float]]:
    """Quantile zones (1..n) of a per-unit statistic, 0 where the unit has no value; and the breaks."""
    ok = np.isfinite(values)
    if ok.sum() < n_classes:
        raise InvalidInputError(f"Only {int(ok.sum())} units hold raster cells: too few for {n_classes} zones.")
    breaks = [float(b) for b in np.quantile(values[ok], np.linspace(0, 1, n_classes + 1)[1:-1])]
    zones = np.zeros(values.size, np.int32)
    zones[ok] = np.digitize(values[ok], breaks) + 1
    return zones, breaks


#: the fields every unit gains (prefixed so that they do not clash with the unit layer's own);
#: ``int`` / ``float`` is the field type
UNIT_FIELDS: tuple[tuple[str, type], ...] = (
    ("ls_cells", int),
    ("ls_mean", float),
    ("ls_max", float),
    ("ls_p50", float),
    ("ls_p90", float),
    ("ls_zone", int),
    ("landslides", int),
)


def unit_rows(stats: UnitStats, zones: np.ndarray, hits: np.ndarray | None) -> list[dict[str, float | int | None]]:
    """The :data:`UNIT_FIELDS` values of every unit (None where a unit has no value).

    Why one function: ``lsm_aggregate_units`` and ``python -m core aggregate-units`` write the
    same rows into their own layer types.
    """

    def num(v: float) -> float | None:
        return float(v) if np.isfinite(v) else None

    return [
        {
            "ls_cells": int(stats.n_cells[i]),
            "ls_mean": num(stats.mean[i]),
            "ls_max": num(stats.maximum[i]),
            "ls_p50": num(stats.p50[i]),
            "ls_p90": num(stats.p90[i]),
            "ls_zone": int(zones[i]),
            "landslides": None if hits is None else int(hits[i]),
        }
        for i in range(zones.size)
    ]


@dataclass(frozen=True)
class UnitAggregation:
    """One aggregation run: the new fields' values per unit, the zone breaks and the empty units."""

    rows: list[dict[str, float | int | None]]
    breaks: list[float]
    empty: int  # units without a valid raster cell (zone 0)


def aggregate_units(
    raster: str,
    geoms: list,
    statistic: str = "mean",
    points: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Progress | None = None,
) -> UnitAggregation:
    """The ``lsm_aggregate_units`` engine call: per unit its statistics, zone and landslide hits.

    ``geoms``: the units as shapely polygons in the raster's CRS; ``points``: landslide x, y (same
    CRS) or None. Processing writes the rows through a QGIS sink, the command line with OGR
    (:func:`aggregate_units_file`); both call this.
    """
    if statistic not in STATISTICS:
        raise InvalidInputError(f"Unknown statistic '{statistic}'; choose one of {', '.join(STATISTICS)}.")
    stats = unit_statistics(raster, geoms, progress=progress)
    zones, breaks = unit_zones(stats.statistic(statistic))
    hits = units_with_points(geoms, points[0], points[1]) if points is not None else None
    return UnitAggregation(unit_rows(stats, zones, hits), breaks, int((stats.n_cells == 0).sum()))


def aggregate_units_file(
    raster: str,
    units: str,
    output: str,
    statistic: str = "mean",
    inventory: str | None = None,
    where: str | None = None,
    progress: Progress | None = None,
) -> list[float]:
    """The command line's ``lsm_aggregate_units``: units read and written with OGR (GeoPackage out).

    The output holds every unit with a geometry, its own fields and :data:`UNIT_FIELDS`, in the
    raster's CRS; it is written atomically. Returns the zone breaks of ``statistic``.
    """
    from osgeo import ogr
    from shapely import wkb

    from ..sampling.points import layer_transform, read_points
    from .io import atomic_path

    if statistic not in STATISTICS:
        raise InvalidInputError(f"Unknown statistic '{statistic}'; choose one of {', '.join(STATISTICS)}.")
    grid = Grid.from_path(raster)
    try:
        ds = ogr.Open(str(units))
    except RuntimeError as exc:  # GDAL raises when exceptions are on (sampling.points turns them on)
        raise InvalidInputError(f"Cannot open the mapping units {units}: {exc}") from exc
    if ds is None:
        raise InvalidInputError(f"Cannot open the mapping units {units}.")
    lyr = ds.GetLayer(0)
    target, ct = layer_transform(lyr, grid.crs_wkt)
    geoms, ogr_geoms, attrs = [], [], []
    defn = lyr.GetLayerDefn()
    for f in lyr:
        g = f.GetGeometryRef()
        if g is None or g.IsEmpty():
            continue
        if ogr.GT_Flatten(g.GetGeometryType()) not in (ogr.wkbPolygon, ogr.wkbMultiPolygon):
            raise InvalidInputError(
                f"The mapping units {units} must be polygons (slope units, catchments, parcels); feature "
                f"{f.GetFID()} is a {g.GetGeometryName().lower()}."
            )
        g = g.Clone()
        if ct is not None:
            g.Transform(ct)
        geoms.append(wkb.loads(bytes(g.ExportToWkb())))
        ogr_geoms.append(g)
        attrs.append([f.GetField(i) for i in range(defn.GetFieldCount())])
    if not geoms:
        raise InvalidInputError(f"The mapping units {units} hold no polygon with a geometry.")
    pts = read_points(inventory, grid.crs_wkt, where) if inventory else None
    agg = aggregate_units(raster, geoms, statistic, (pts.x, pts.y) if pts is not None else None, progress)
    rows, breaks = agg.rows, agg.breaks
    with atomic_path(output) as tmp:
        out = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp))
        ol = out.CreateLayer("units", target, lyr.GetGeomType())
        own = [defn.GetFieldDefn(i) for i in range(defn.GetFieldCount())]
        for fd in own:
            if fd.GetName() not in dict(UNIT_FIELDS):
                ol.CreateField(fd)
        for name, kind in UNIT_FIELDS:
            ol.CreateField(ogr.FieldDefn(name, ogr.OFTInteger if kind is int else ogr.OFTReal))
        out.StartTransaction()
        for g, a, row in zip(ogr_geoms, attrs, rows):
            f = ogr.Feature(ol.GetLayerDefn())
            for fd, v in zip(own, a):
                if fd.GetName() not in row and v is not None:
                    f.SetField(fd.GetName(), v)
            for k, v in row.items():
                if v is not None:
                    f.SetField(k, v)
            f.SetGeometry(g)
            ol.CreateFeature(f)
        out.CommitTransaction()
        out = None
    return breaks
