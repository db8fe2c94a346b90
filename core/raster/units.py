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


def strtree(geoms: list):
    """A shapely STRtree (its 1.8 -> 2.0 deprecation notice silenced: both query by geometry here)."""
    import warnings

    from shapely.strtree import STRtree

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return STRtree(geoms)


def _tree(geoms: list):
    tree = strtree(geoms)
    index = {id(g): i for i, g in enumerate(geoms)}
    return tree, index


@bounded_gdal_cache
def unit_statistics(
    raster: str, geoms: list, bins: int = 200, block: int = 1024, progress: Progress | None = None
) -> UnitStats:
    """Mean, max, median and 90th percentile of band 1 over each polygon of ``geoms`` (raster CRS)."""
    progress = progress or NullProgress()
    if not geoms:
        raise InvalidInputError("The mapping-unit layer has no polygon.")
    n = len(geoms)
    tree, index = _tree(geoms)
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
            ids = [(g, index[id(g)] + 1) for g in cand]
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

    tree, index = _tree(geoms)
    hits = np.zeros(len(geoms), np.int64)
    for px, py in zip(x, y):
        p = Point(float(px), float(py))
        for g in tree.query(p):
            if g.covers(p):
                hits[index[id(g)]] += 1
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
