"""``lsm_evaluate``: any susceptibility raster against any landslide inventory, absences not needed.

Per landslide set (training period / later period, training area / held-out area, or all):
the rate curve and its AUC with a bootstrap 95 % interval, the zone table (area share,
landslide share, density ratio with an interval), and, with mapping units, a unit-level AUC (a
unit is positive when it holds a landslide) with its interval. An HTML report leads with the
held-out (prediction-rate) figures and says in words when a result is not distinguishable
from chance.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio import features
from rasterio.io import DatasetReader
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds
from rasterio.windows import transform as window_transform

from ..errors import InvalidInputError
from ..progress import NullProgress, Progress, SubProgress, check
from ..raster.grid import Grid
from ..raster.io import atomic_path, bounded_gdal_cache, valid_mask, write_csv_atomic, write_text_atomic
from ..raster.units import GeomIndex, UnitStats, unit_statistics, units_with_points
from ..sampling.points import Points
from .rates import (
    RateCurve,
    ZoneRow,
    cell_histogram,
    chance_note,
    equal_area_breaks,
    exact_cell_scores,
    rate_curve,
    zone_densities,
)


@dataclass
class LandslideSet:
    """Landslides of one role, in the raster's CRS: points and/or polygons (shapely)."""

    name: str
    points: Points | None = None
    polygons: list = field(default_factory=list)
    held_out: bool = False  # True: never used in training (prediction rate)
    inside_area: bool | None = None  # evaluate against cells inside (True) / outside (False) the area

    def __len__(self) -> int:
        return (len(self.points.x) if self.points is not None else 0) + len(self.polygons)


@dataclass
class SetResult:
    """Everything measured for one landslide set."""

    landslides: LandslideSet
    curve: RateCurve
    zones: list[ZoneRow]
    unit_auc: float | None = None
    unit_auc_ci: tuple[float, float] | None = None
    unit_positive: int | None = None
    #: landslides given (points + polygons) and those that fell on at least one valid cell
    n_given: int = 0
    n_used: int = 0


@dataclass
class MapEvaluation:
    """The report's content and the files written."""

    sets: list[SetResult]
    breaks: list[float]
    html: str
    curves_csv: str | None
    zones_csv: str | None
    n_units: int | None = None


def landslide_values(
    raster: str, ls: LandslideSet, area: Callable[[Window], np.ndarray] | None = None
) -> tuple[np.ndarray, int]:
    """Raster values at landslide points and at the cells of landslide polygons; and how many landslides gave one.

    A polygon counts with every cell whose centre it contains (area-based rate curves); a polygon
    smaller than a cell, or thin enough to hold no centre, counts with the cell under its
    representative point, so every mapped landslide is used. Cells outside the evaluated ``area``
    mask function and nodata cells are dropped; a landslide left without a valid cell is not
    counted in the second value (callers report "used n of N").
    """
    vals: list[np.ndarray] = []
    used = 0
    with rasterio.open(raster) as ds:
        grid = Grid.from_dataset(ds)
        if ls.points is not None and len(ls.points.x):
            rows, cols = grid.rowcol(ls.points.x, ls.points.y)
            inside = grid.inside(rows, cols)
            xy = zip(ls.points.x[inside], ls.points.y[inside])
            v = np.array([s[0] for s in ds.sample(xy, indexes=1)], dtype=np.float64)
            ok = valid_mask(v, ds.nodata)
            vals.append(v[ok])
            used += int(ok.sum())
        for g in ls.polygons:
            if g is None or g.is_empty:
                continue
            win = _covering_window(ds, g.bounds)
            if win is None:
                continue
            tr = window_transform(win, ds.transform)
            shape = (int(win.height), int(win.width))
            lab = features.rasterize([(g, 1)], out_shape=shape, transform=tr).astype(bool)
            if not lab.any():  # no cell centre inside: the cell under the representative point
                rp = g.representative_point()
                r, c = rasterio.transform.rowcol(tr, rp.x, rp.y)
                if 0 <= r < shape[0] and 0 <= c < shape[1]:
                    lab[r, c] = True
            a = ds.read(1, window=win)
            ok = lab & valid_mask(a, ds.nodata)
            if area is not None:
                ok &= area(win)
            if ok.any():
                vals.append(a[ok])
                used += 1
    return (np.concatenate([np.ravel(v) for v in vals]).astype(float) if vals else np.empty(0)), used


def check_susceptibility_raster(raster: str) -> None:
    """Refuse a raster that cannot be a susceptibility map: more than one band (a factor stack).

    Why: band 1 of a stack is a factor (elevation in the Ecuador sample), and an AUC computed on
    it looks like a result. Single-band rasters of any range are accepted (a CF score, another
    tool's index, or one factor alone as a baseline) and a range outside [0, 1] is said in the log.
    """
    with rasterio.open(raster) as ds:
        if ds.count != 1:
            names = [d or f"band {i + 1}" for i, d in enumerate(ds.descriptions)]
            raise InvalidInputError(
                f"{raster} has {ds.count} bands ({', '.join(names[:6])}{'...' if ds.count > 6 else ''}): a "
                "susceptibility map has one. If this is the factor stack, make a map first with lsm_predict; to "
                "evaluate one band, extract it (e.g. gdal_translate -b N)."
            )


def _covering_window(ds: DatasetReader, bounds: tuple[float, float, float, float]) -> Window | None:
    """The smallest whole-cell window that covers ``bounds``, clipped to the raster (None: outside it).

    Why not ``round_offsets().round_lengths()``: both floor, so a polygon narrower than a cell got
    a window of zero cells, and others lost their last row or column.
    """
    import math

    w = ds.window(*bounds)
    c0, r0 = math.floor(w.col_off), math.floor(w.row_off)
    c1, r1 = math.ceil(w.col_off + w.width), math.ceil(w.row_off + w.height)
    c1, r1 = max(c1, c0 + 1), max(r1, r0 + 1)
    c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, ds.width), min(r1, ds.height)
    if c1 <= c0 or r1 <= r0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def _xy(points: list) -> tuple[np.ndarray, np.ndarray]:
    return np.array([p.x for p in points]), np.array([p.y for p in points])


def _restrict(s: LandslideSet, area_polygons: list) -> LandslideSet:
    """The landslides of ``s`` inside (or outside) the area: points by location, polygons by a representative point."""
    inside_flag = bool(s.inside_area)
    pts = s.points
    if pts is not None and len(pts.x):
        keep = _inside_any(area_polygons, pts.x, pts.y)
        keep = keep if inside_flag else ~keep
        pts = Points(pts.x[keep], pts.y[keep], {k: np.asarray(v)[keep] for k, v in pts.attrs.items()})
    polys = []
    if s.polygons:
        rx, ry = _xy([g.representative_point() for g in s.polygons])
        inside = _inside_any(area_polygons, rx, ry)
        polys = [g for g, i in zip(s.polygons, inside) if bool(i) == inside_flag]
    return LandslideSet(s.name, pts, polys, s.held_out, s.inside_area)


def _inside_any(polygons: list, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether each point lies in any of ``polygons``."""
    from shapely.geometry import Point

    tree = GeomIndex(polygons)
    return np.array(
        [any(polygons[i].covers(Point(px, py)) for i in tree.query(Point(px, py))) for px, py in zip(x, y)], bool
    )


def _overlaps(win: Window, ds: DatasetReader) -> bool:
    return (
        win.col_off < ds.width
        and win.row_off < ds.height
        and win.col_off + win.width > 0
        and (win.row_off + win.height > 0)
    )


def area_mask(raster: str, polygons: list, inside: bool = True) -> Callable[[Window], np.ndarray]:
    """A window -> mask function: cells whose centre is inside (or outside) ``polygons``."""
    from shapely.geometry import box

    tree = GeomIndex(polygons)
    with rasterio.open(raster) as ds:
        transform = ds.transform

    def mask(win: Window) -> np.ndarray:
        cand = tree.query(box(*window_bounds(win, transform)))
        shape = (int(win.height), int(win.width))
        if len(cand) == 0:
            m = np.zeros(shape, bool)
        else:
            m = features.rasterize(
                [(polygons[i], 1) for i in cand], out_shape=shape, transform=window_transform(win, transform)
            ).astype(bool)
        return m if inside else ~m

    return mask


def _unit_auc(stat: np.ndarray, positive: np.ndarray, seed: int) -> tuple[float, tuple[float, float]]:
    """AUC of a unit statistic for units with / without landslides, bootstrap over units."""
    from sklearn.metrics import roc_auc_score

    ok = np.isfinite(stat)
    s, y = stat[ok], positive[ok]
    if len(np.unique(y)) < 2:
        return float("nan"), (float("nan"), float("nan"))
    auc = float(roc_auc_score(y, s))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(1000):
        i = rng.integers(0, y.size, y.size)
        if len(np.unique(y[i])) == 2:
            boots.append(roc_auc_score(y[i], s[i]))
    ci = (float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))) if boots else (np.nan, np.nan)
    return auc, ci


@bounded_gdal_cache
def evaluate_map(
    raster: str,
    sets: list[LandslideSet],
    out_html: str,
    curves_csv: str | None = None,
    zones_csv: str | None = None,
    area_polygons: list | None = None,
    units: list | None = None,
    unit_statistic: str = "mean",
    breaks: list[float] | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> MapEvaluation:
    """Rate curves, zone densities and (optionally) unit-level AUC for each landslide set; HTML report.

    Args:
        raster: susceptibility raster (larger = more susceptible), any value range.
        sets: landslide sets; a set with ``inside_area`` is evaluated against the cells inside
            (True) or outside (False) ``area_polygons`` only.
        out_html: report path (a PNG of the curves is written beside it).
        curves_csv: optional table of the rate curves.
        zones_csv: optional table of the zone densities.
        area_polygons: polygons of the held-out area (raster CRS).
        units: mapping-unit polygons (raster CRS) for the unit-level AUC.
        unit_statistic: mean, max, p50 or p90 of the raster per unit.
        breaks: 4 zone thresholds; default equal-area (quantile) breaks over all valid cells.
        seed: bootstrap seed.
        progress: progress and cancel.
    """
    progress = progress or NullProgress()
    sets = [s for s in sets if len(s)]
    if not sets:
        raise InvalidInputError("No landslide to evaluate: the inventory (or the chosen part of it) is empty.")
    check_susceptibility_raster(raster)
    full = cell_histogram(raster, progress=SubProgress(progress, 0, 0.3))
    lo, hi = float(full.edges[0]), float(full.edges[-1])
    if lo < 0 or hi > 1 + 1e-6:
        progress.log(
            f"Note: the raster's values span {lo:.4g} to {hi:.4g}, not probabilities in [0, 1] (a score such as "
            "the CF map, or a factor). The rate curves and AUC depend only on the ordering of cells, so they are "
            "valid; zone thresholds must be given in these units."
        )
    breaks = list(breaks) if breaks else equal_area_breaks(full)
    stats = unit_statistics(raster, units, progress=SubProgress(progress, 0.3, 0.6)) if units else None
    results = []
    unit_in_area = None
    if units and area_polygons:
        unit_in_area = _inside_any(area_polygons, *_xy([u.representative_point() for u in units]))
    for k, s in enumerate(sets):
        check(progress)
        area = None
        hist = full
        if s.inside_area is not None and area_polygons:
            s = _restrict(s, area_polygons)
            area = area_mask(raster, area_polygons, bool(s.inside_area))
            hist = cell_histogram(raster, mask=area)
        vals, used = landslide_values(raster, s, area)
        if used < len(s):
            progress.log(
                f"Warning: {s.name}: {len(s) - used} of {len(s)} landslides fall on no valid cell of the raster "
                "(outside it, on nodata, or outside the evaluated area); the figures use the other "
                f"{used}. Check the CRS, the extent and nodata if that is unexpected."
            )
        if vals.size == 0:
            raise InvalidInputError(
                f"No {s.name} landslide falls on a valid cell of the raster (check the CRS, the extent and nodata)."
            )
        where = "" if s.inside_area is None else (" inside" if s.inside_area else " outside") + " the held-out area"
        note = (
            "prediction rate: landslides not used in training" if s.held_out else "success rate"
        ) + f"; {hist.n_cells} cells{where}"
        exact = exact_cell_scores(raster, vals, mask=area)
        curve = rate_curve(s.name, hist, vals, note, seed, scores=exact)
        zones = zone_densities(hist, vals, breaks, seed=seed)
        res = SetResult(s, curve, zones, n_given=len(s), n_used=used)
        if stats is not None and units is not None:
            px = np.array(
                [*(s.points.x if s.points is not None else [])] + [g.representative_point().x for g in s.polygons]
            )
            py = np.array(
                [*(s.points.y if s.points is not None else [])] + [g.representative_point().y for g in s.polygons]
            )
            pos = units_with_points(units, px, py) > 0
            stat = stats.statistic(unit_statistic)
            if unit_in_area is not None and s.inside_area is not None:
                keep = unit_in_area if s.inside_area else ~unit_in_area
                stat, pos = stat[keep], pos[keep]
            res.unit_auc, res.unit_auc_ci = _unit_auc(stat, pos, seed)
            res.unit_positive = int(pos.sum())
        results.append(res)
        progress.report(0.6 + 0.35 * (k + 1) / len(sets), f"{s.name}: AUC {curve.auc:.3f}")
    results.sort(key=lambda r: not r.landslides.held_out)  # held-out (independent) figures first
    png = str(Path(out_html).with_suffix(".png"))
    _curves_figure(results, png)
    if curves_csv:
        _write_curves(results, curves_csv)
    if zones_csv:
        _write_zones(results, zones_csv)
    write_text_atomic(out_html, _report(raster, results, breaks, Path(png).name, stats, unit_statistic))
    progress.report(1.0, "evaluation done")
    return MapEvaluation(
        results, breaks, out_html, curves_csv, zones_csv, None if stats is None or units is None else len(units)
    )


def _write_curves(results: list[SetResult], path: str) -> None:
    rows = [
        [r.curve.name, f"{a:.6f}", f"{b:.6f}"]
        for r in results
        for a, b in zip(r.curve.area_share, r.curve.landslide_share)
    ]
    write_csv_atomic(path, ["set", "area_share", "landslide_share"], rows)


def _write_zones(results: list[SetResult], path: str) -> None:
    rows = [
        [r.curve.name, z.zone, z.label, f"{z.lower:.6g}", f"{z.upper:.6g}", f"{z.area_share:.4f}", z.landslides,
         f"{z.landslide_share:.4f}", f"{z.density_ratio:.3f}", f"{z.density_ci[0]:.3f}", f"{z.density_ci[1]:.3f}"]
        for r in results
        for z in r.zones
    ]  # fmt: skip
    head = ["set", "zone", "label", "lower", "upper", "area_share", "landslides", "landslide_share",
            "density_ratio", "density_ci_low", "density_ci_high"]  # fmt: skip
    write_csv_atomic(path, head, rows)


def _curves_figure(results: list[SetResult], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    for r in results:
        c = r.curve
        ax.plot(c.area_share, c.landslide_share, label=f"{c.name} (AUC {c.auc:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8, label="chance")
    ax.set(xlabel="Share of area (most susceptible first)", ylabel="Share of landslides", title="Rate curves")
    ax.legend(fontsize=8, loc="lower right")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def _report(
    raster: str, results: list, breaks: list[float], png: str, stats: UnitStats | None, unit_statistic: str
) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(r.curve.name)}</td><td>{'prediction' if r.landslides.held_out else 'success'}</td>"
        f"<td><b>{r.curve.auc:.3f}</b></td><td>{r.curve.auc_ci[0]:.3f} – {r.curve.auc_ci[1]:.3f}</td>"
        f"<td>{r.n_used} of {r.n_given} ({r.curve.n_landslides} cells)</td><td>{r.curve.n_cells}</td>"
        f"<td>{e(chance_note(r.curve))}</td>"
        + (
            f"<td>{r.unit_auc:.3f} ({r.unit_auc_ci[0]:.3f} – {r.unit_auc_ci[1]:.3f}), {r.unit_positive} units</td>"
            if stats is not None and r.unit_auc is not None
            else ""
        )
        + "</tr>"
        for r in results
    )
    unit_head = f"<th>unit AUC ({e(unit_statistic)} per unit, 95 % CI)</th>" if stats is not None else ""
    zone_tables = "".join(
        f"<h3>Zones: {e(r.curve.name)}</h3><table border='1' cellspacing='0' cellpadding='3'><tr><th>zone</th>"
        "<th>range</th><th>area share</th><th>landslides</th><th>landslide share</th>"
        "<th>density ratio (95 % CI)</th></tr>"
        + "".join(
            f"<tr><td>{e(z.label)}</td><td>{z.lower:.4g} – {z.upper:.4g}</td><td>{z.area_share:.3f}</td>"
            f"<td>{z.landslides}</td><td>{z.landslide_share:.3f}</td>"
            f"<td>{z.density_ratio:.2f} ({z.density_ci[0]:.2f} – {z.density_ci[1]:.2f})</td></tr>"
            for z in r.zones
        )
        + "</table>"
        for r in results
    )
    held = [r for r in results if r.landslides.held_out]
    lead = (
        "Independent figures (landslides not used in training) come first."
        if held
        else "No held-out landslides were given: these are success rates (fit), not evidence of predictive skill. "
        "Give a later period (date field) or a held-out area to measure prediction."
    )
    return (
        "<html><head><meta charset='utf-8'><title>Susceptibility evaluation</title></head><body>"
        f"<h2>Susceptibility evaluation of {e(Path(raster).name)}</h2><p>{e(lead)} "
        "Rate curves rank every valid cell of the evaluated area by susceptibility; no absences are used, "
        "so the result does not depend on how absences were sampled. AUC intervals: percentile bootstrap "
        "over landslides (2000 resamples).</p>"
        "<table border='1' cellspacing='0' cellpadding='4'><tr><th>landslides</th><th>rate</th><th>AUC</th>"
        f"<th>95 % CI</th><th>landslides used (cells)</th><th>cells</th><th>reading</th>{unit_head}</tr>{rows}</table>"
        f"<p><img src='{e(png)}'/></p><p>Zone breaks (equal-area over all valid cells unless given): "
        f"{', '.join(f'{b:.4g}' for b in breaks)}</p>{zone_tables}</body></html>"
    )


def summary_lines(ev: MapEvaluation) -> list[str]:
    """One log line per landslide set (rate AUC, interval, counts, chance said in words), unit AUC below it."""
    from .rates import chance_note

    lines = []
    for r in ev.sets:
        c = r.curve
        lines.append(
            f"{c.name}: {'prediction' if r.landslides.held_out else 'success'}-rate AUC {c.auc:.3f} "
            f"(95 % CI {c.auc_ci[0]:.3f}-{c.auc_ci[1]:.3f}), {r.n_used} of {r.n_given} landslides used "
            f"({c.n_landslides} landslide cells), {c.n_cells} cells: {chance_note(c)}"
        )
        if r.unit_auc is not None and r.unit_auc_ci is not None:
            lines.append(f"  unit-level AUC {r.unit_auc:.3f} (95 % CI {r.unit_auc_ci[0]:.3f}-{r.unit_auc_ci[1]:.3f})")
    return lines
