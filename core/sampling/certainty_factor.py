"""Certainty-factor (CF) model: the paper's pre-assessment used to find low-risk zones.

For each class of each factor, ``PPa`` is the landslide density in that class (points per cell)
and ``PPs`` the density over the whole valid grid (Heckerman's CF, paper Eq. 15):

    CF = (PPa - PPs) / (PPa (1 - PPs))   if PPa >= PPs
    CF = (PPa - PPs) / (PPs (1 - PPa))   otherwise

The sensitivity index E = CFmax - CFmin of each factor, normalised to sum to 1, weights the
factor's CF map; the weighted sum is zoned into 5 quantile classes (1 = very low). Continuous
factors are classed by quantiles (default 5 classes, as in Table 4) or by user breaks;
categorical ones by their codes.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from ..errors import InvalidInputError
from ..progress import NullProgress, Progress, SubProgress, check
from ..raster.grid import Grid
from ..raster.io import FLOAT_NODATA, atomic_path, bounded_gdal_cache, write_text_atomic
from ..raster.stack import StackLike, as_stack, read_block
from ..raster.zoning import ZoningMethod, compute_breaks, sample_values, zone_raster
from .points import Points, points_on_grid


@dataclass
class FactorClasses:
    """Classes of one factor: interior breaks (continuous) or codes (categorical)."""

    name: str
    categorical: bool
    breaks: list[float] = field(default_factory=list)
    codes: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Number of classes."""
        return len(self.codes) if self.categorical else len(self.breaks) + 1

    def index(self, v: np.ndarray) -> np.ndarray:
        """Class index (0-based) of values; -1 for an unknown category."""
        if self.categorical:
            idx = np.searchsorted(self.codes, v)
            idx = np.clip(idx, 0, len(self.codes) - 1)
            return np.where(np.asarray(self.codes)[idx] == v, idx, -1)
        return np.digitize(v, self.breaks)

    def label(self, i: int) -> str:
        """Human-readable class label."""
        if self.categorical:
            return f"{self.codes[i]:g}"
        lo = "min" if i == 0 else f"{self.breaks[i - 1]:.4g}"
        hi = "max" if i == len(self.breaks) else f"{self.breaks[i]:.4g}"
        return f"{lo} – {hi}"


@dataclass
class CFResult:
    """CF table, weights and the zoning breaks."""

    factors: list[FactorClasses]
    cf: list[np.ndarray]
    cells: list[np.ndarray]
    landslides: list[np.ndarray]
    weights: dict[str, float]
    sensitivity: dict[str, float]
    zone_breaks: list[float]
    n_landslides: int
    n_cells: int

    def rows(self) -> list[dict]:
        """One row per factor class."""
        out = []
        for f, cf, c, ls in zip(self.factors, self.cf, self.cells, self.landslides):
            for i in range(f.n):
                out.append(
                    {
                        "factor": f.name,
                        "class": f.label(i),
                        "cells": int(c[i]),
                        "landslides": int(ls[i]),
                        "cf": None if np.isnan(cf[i]) else round(float(cf[i]), 4),
                        "E": round(self.sensitivity[f.name], 4),
                        "weight": round(self.weights[f.name], 4),
                    }
                )
        return out


def certainty_factor(ppa: np.ndarray, pps: float) -> np.ndarray:
    """Heckerman's certainty factor for class densities ``ppa`` against the prior ``pps``."""
    ppa = np.asarray(ppa, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        pos = (ppa - pps) / (ppa * (1 - pps))
        neg = (ppa - pps) / (pps * (1 - ppa))
    return np.where(ppa >= pps, pos, neg)


@bounded_gdal_cache
def fit_cf(
    stack: StackLike,
    landslides: Points,
    categorical: set[str] | None = None,
    n_classes: int = 5,
    user_breaks: dict[str, list[float]] | None = None,
    block: int = 1024,
    progress: Progress | None = None,
) -> CFResult:
    """Class every factor, count cells and landslides per class and compute CF, E and weights."""
    progress = progress or NullProgress()
    categorical = categorical or set()
    user_breaks = user_breaks or {}
    info = as_stack(stack)
    stack = info.path
    unknown = (categorical | set(user_breaks)) - set(info.names)
    if unknown:
        raise InvalidInputError(f"Unknown factor name(s) {sorted(unknown)}; the stack has {info.names}.")
    rows, cols, inside = points_on_grid(landslides, info.grid)
    if not inside.any():
        raise InvalidInputError(
            "No landslide point falls inside the factor stack's grid. Check that the inventory covers the study "
            "area and that its CRS is set correctly."
        )
    # Pass 1: class definitions from a bounded sample (quantiles) or the codes present.
    classes = []
    for b, name in enumerate(info.names, start=1):
        vals = sample_values(stack, band=b, max_n=100_000, block=block)
        if name in categorical:
            codes = np.unique(vals)
            if codes.size > 255:
                raise InvalidInputError(f"Categorical factor '{name}' has {codes.size} codes; at most 255 allowed.")
            classes.append(FactorClasses(name, True, codes=[float(c) for c in codes]))
        elif name in user_breaks:
            classes.append(FactorClasses(name, False, breaks=sorted(float(x) for x in user_breaks[name])))
        else:
            br = np.unique(np.quantile(vals, np.linspace(0, 1, n_classes + 1)[1:-1]))
            classes.append(FactorClasses(name, False, breaks=[float(x) for x in br]))
        progress.report(0.2 * b / len(info.names), f"classes of {name}")
    # Pass 2: cells per class (windowed) and landslides per class (point samples).
    cells = [np.zeros(f.n, np.int64) for f in classes]
    n_cells = 0
    with rasterio.open(stack) as ds:
        nwin = info.grid.n_windows(block)
        for k, win in enumerate(info.grid.windows(block)):
            check(progress)
            data, ok = read_block(ds, win, info.nodata, "The factor stack")
            n_cells += int(ok.sum())
            for i, f in enumerate(classes):
                idx = f.index(data[i][ok])
                cells[i] += np.bincount(idx[idx >= 0], minlength=f.n)[: f.n]
            progress.report(0.2 + 0.3 * (k + 1) / nwin, "counting cells per class")
        # one landslide per cell: duplicated points (or several points in one cell) would count a
        # cell twice and inflate its class's frequency ratio
        _, first = np.unique(np.stack([rows[inside], cols[inside]], axis=1), axis=0, return_index=True)
        first = np.sort(first)
        dup = int(inside.sum()) - first.size
        if dup:
            progress.log(f"{dup} landslide point(s) share a cell with another one; each cell is counted once.")
        xs, ys = landslides.x[inside][first], landslides.y[inside][first]
        pv = np.array(list(ds.sample(zip(xs, ys))), dtype=np.float64)
    pok = np.all(np.isfinite(pv) & (pv != (info.nodata if info.nodata is not None else np.nan)), axis=1)
    pv = pv[pok]
    if pv.shape[0] == 0:
        raise InvalidInputError("Every landslide point inside the grid falls on nodata cells; check the factor stack.")
    ls = [np.bincount(np.clip(f.index(pv[:, i]), 0, None), minlength=f.n)[: f.n] for i, f in enumerate(classes)]
    pps = pv.shape[0] / n_cells
    cfs, sens = [], {}
    for f, c, lsi in zip(classes, cells, ls):
        with np.errstate(invalid="ignore", divide="ignore"):
            ppa = np.where(c > 0, lsi / np.maximum(c, 1), np.nan)
        cf = certainty_factor(ppa, pps)
        cf = np.where(c > 0, cf, np.nan)
        cfs.append(cf)
        sens[f.name] = float(np.nanmax(cf) - np.nanmin(cf)) if np.isfinite(cf).any() else 0.0
    tot = sum(sens.values())
    weights = {k: (v / tot if tot > 0 else 1.0 / len(sens)) for k, v in sens.items()}
    return CFResult(classes, cfs, cells, ls, weights, sens, [], int(pv.shape[0]), n_cells)


@bounded_gdal_cache
def cf_map(
    stack: StackLike,
    landslides: Points,
    score_out: str,
    zoning_out: str,
    table_csv: str | None = None,
    table_html: str | None = None,
    block: int = 1024,
    progress: Progress | None = None,
    **fit_options: Any,
) -> CFResult:
    """Fit the CF model, write the weighted CF score, its 5-class quantile zoning and the CF table.

    ``fit_options``: ``categorical``, ``n_classes``, ``user_breaks`` of :func:`fit_cf`.
    """
    progress = progress or NullProgress()
    info = as_stack(stack)
    stack = info.path
    res = fit_cf(info, landslides, block=block, progress=SubProgress(progress, 0, 0.5), **fit_options)
    grid: Grid = info.grid
    prof = grid.profile(1, "float32", FLOAT_NODATA)
    w = np.array([res.weights[f.name] for f in res.factors])
    with rasterio.open(stack) as ds, atomic_path(score_out) as tmp:
        with rasterio.open(tmp, "w", **prof) as dst:
            nwin = grid.n_windows(block)
            for k, win in enumerate(grid.windows(block)):
                check(progress)
                data, ok = read_block(ds, win, info.nodata, "The factor stack")
                score = np.zeros(ok.shape, np.float64)
                for i, f in enumerate(res.factors):
                    idx = f.index(data[i])
                    cf = np.nan_to_num(res.cf[i], nan=0.0)
                    score += w[i] * np.where(idx >= 0, cf[np.clip(idx, 0, f.n - 1)], 0.0)
                dst.write(np.where(ok, score, FLOAT_NODATA).astype(np.float32), 1, window=win)
                progress.report(0.5 + 0.3 * (k + 1) / nwin, "weighted CF score")
        # zoning inside the atomic block of the score so both appear, or neither
        res.zone_breaks = compute_breaks(sample_values(str(tmp)), ZoningMethod.QUANTILE, 5)
        zone_raster(str(tmp), zoning_out, res.zone_breaks, progress=SubProgress(progress, 0.8, 1.0))
    if table_csv:
        write_cf_table_csv(res, table_csv)
    if table_html:
        write_cf_table_html(res, table_html)
    return res


def write_cf_table_csv(res: CFResult, path: str) -> None:
    """The CF table as CSV (one row per factor class)."""
    rows = res.rows()
    head = list(rows[0].keys())
    lines = [",".join(head)] + [",".join(f'"{r[h]}"' if h == "class" else str(r[h]) for h in head) for r in rows]
    write_text_atomic(path, "\n".join(lines) + "\n")


def write_cf_table_html(res: CFResult, path: str) -> None:
    """The CF table as a small standalone HTML page (paper Tables 4 and 5)."""
    rows = res.rows()
    head = list(rows[0].keys())
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[h]))}</td>" for h in head) + "</tr>" for r in rows)
    meta = json.dumps({"landslides": res.n_landslides, "valid_cells": res.n_cells, "zone_breaks": res.zone_breaks})
    page = (
        "<html><head><meta charset='utf-8'><title>Certainty factors</title></head><body>"
        "<h2>Certainty factor per factor class</h2>"
        f"<p>{html.escape(meta)}</p><table border='1' cellspacing='0' cellpadding='3'><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + f"</tr>{body}</table></body></html>"
    )
    write_text_atomic(Path(path), page)
