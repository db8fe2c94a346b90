"""Classing a continuous raster into zones (quantile, natural breaks or user thresholds).

Used by the CF pre-assessment (5 quantile classes, as in the paper) and by the final
susceptibility zoning. Breaks are estimated from a bounded random sample of valid cells so that
any raster size is classed in bounded memory; the classing pass itself is windowed.
"""

from __future__ import annotations

from enum import Enum

import numpy as np
import rasterio

from ..errors import InvalidInputError, MissingDependencyError
from ..progress import NullProgress, Progress, check
from .grid import Grid
from .io import atomic_path, bounded_gdal_cache, valid_mask

ZONE_NODATA = 0
#: names and colours of the five susceptibility zones, lowest first (one source for maps, tables and plots)
ZONE_LABELS_5 = ["Very low", "Low", "Moderate", "High", "Very high"]
ZONE_COLOURS_5 = ["#1a9641", "#a6d96a", "#ffffbf", "#fdae61", "#d7191c"]


class ZoningMethod(str, Enum):
    """How class breaks are chosen."""

    QUANTILE = "quantile"
    NATURAL_BREAKS = "natural_breaks"
    USER = "user"
    #: the breaks a model card stores (quantiles over its training area): every tile and run zones alike
    CARD = "card"


@bounded_gdal_cache
def sample_values(path: str, band: int = 1, max_n: int = 200_000, seed: int = 0, block: int = 1024) -> np.ndarray:
    """A uniform random sample (at most ``max_n``) of the valid cells of one band, windowed."""
    rng = np.random.default_rng(seed)
    with rasterio.open(path) as ds:
        grid = Grid.from_dataset(ds)
        frac = min(1.0, max_n / max(1, grid.width * grid.height) * 1.5)
        parts = []
        for win in grid.windows(block):
            a = ds.read(band, window=win)
            v = a[valid_mask(a, ds.nodata)]
            if frac < 1.0:
                v = v[rng.random(v.size) < frac]
            parts.append(v.astype(np.float64))
    vals = np.concatenate(parts) if parts else np.empty(0)
    if vals.size > max_n:
        vals = rng.choice(vals, max_n, replace=False)
    return vals


def validate_user_breaks(user: list[float] | None, n_classes: int = 5) -> list[float]:
    """User thresholds: ``n_classes - 1`` finite, strictly ascending values (checked before any work)."""
    vals = [float(u) for u in user] if user else []
    if len(vals) != n_classes - 1 or not all(np.isfinite(vals)) or any(b <= a for a, b in zip(vals, vals[1:])):
        raise InvalidInputError(
            f"User thresholds must be {n_classes - 1} finite, strictly ascending values "
            f"(e.g. 0.2,0.4,0.6,0.8); got {user}."
        )
    return vals


def empty_zone_warning(counts: list[int] | np.ndarray, what: str = "zoning") -> str | None:
    """A warning naming the zones that hold no cell (ties in the values make quantile breaks coincide)."""
    empty = [i + 1 for i, c in enumerate(counts) if c == 0]
    if not empty:
        return None
    return (
        f"Warning: {what} leaves zone(s) {empty} empty: the values have too many ties for "
        f"{len(counts)} distinct classes (e.g. a model that outputs only a few values); "
        "consider natural breaks or user thresholds."
    )


def compute_breaks(
    values: np.ndarray, method: ZoningMethod | str, n_classes: int = 5, user: list[float] | None = None
) -> list[float]:
    """Interior class breaks (``n_classes - 1`` ascending values).

    Natural breaks use Fisher-Jenks (jenkspy) on at most 5000 sampled values: the exact
    algorithm is quadratic, and 5000 values pin the breaks to well under 1 % of the range.
    """
    method = ZoningMethod(method)
    if method is ZoningMethod.USER:
        return validate_user_breaks(user, n_classes)
    if values.size < n_classes:
        raise InvalidInputError(f"Only {values.size} valid cells: too few to form {n_classes} classes.")
    if method is ZoningMethod.QUANTILE:
        qs = np.quantile(values, np.linspace(0, 1, n_classes + 1)[1:-1])
        return [float(q) for q in qs]
    try:
        import jenkspy
    except ImportError as exc:  # pragma: no cover
        raise MissingDependencyError("Natural-breaks zoning needs jenkspy: pip install jenkspy") from exc
    rng = np.random.default_rng(0)
    sub = values if values.size <= 5000 else rng.choice(values, 5000, replace=False)
    br = jenkspy.jenks_breaks(sub.tolist(), n_classes=n_classes)
    # jenks gives each class's inclusive upper bound; classify() sends a value equal to a break upward
    return [float(np.nextafter(b, np.inf)) for b in br[1:-1]]


def classify(values: np.ndarray, breaks: list[float]) -> np.ndarray:
    """Zone numbers 1..len(breaks)+1 (a value equal to a break goes to the upper zone)."""
    return (np.digitize(values, breaks, right=False) + 1).astype(np.uint8)


@bounded_gdal_cache
def zone_raster(
    src_path: str, out_path: str, breaks: list[float], block: int = 1024, progress: Progress | None = None
) -> None:
    """Write a uint8 zoning raster (nodata 0) from a continuous one, window by window."""
    progress = progress or NullProgress()
    with rasterio.open(src_path) as src:
        grid = Grid.from_dataset(src)
        prof = grid.profile(1, "uint8", ZONE_NODATA)
        with atomic_path(out_path) as tmp, rasterio.open(tmp, "w", **prof) as dst:
            n = grid.n_windows(block)
            for k, win in enumerate(grid.windows(block)):
                check(progress)
                a = src.read(1, window=win)
                ok = valid_mask(a, src.nodata)
                z = np.where(ok, classify(a, breaks), ZONE_NODATA).astype(np.uint8)
                dst.write(z, 1, window=win)
                progress.report((k + 1) / n, "zoning")
