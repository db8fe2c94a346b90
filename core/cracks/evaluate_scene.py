"""A crack chip layer scored against a pixel-label raster (chip-level truth from crack pixels).

Why: a crack-probability map over an orthomosaic is what users act on, and the figures from image
folders do not say how the chip loop, the band mapping, the unfamiliar-chip mask and the stitching
behave on a real scene. With pixel labels of the same scene (any raster where crack pixels are > 0,
nodata ignored), each chip of ``crack_predict``'s chip layer gets a truth: crack when it holds at
least ``min_crack_px`` crack pixels, crack-free when it holds none, and *ambiguous* in between
(left out and counted: a chip with a few crack pixels at its edge is neither a fair hit nor a fair
miss). The same rule cut the bundled chip folders.

Intervals resample spatial groups of chips: chips that overlap (stride < chip) or touch share
pixels and lighting, so they are resampled together, never one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rasterio
from osgeo import ogr
from rasterio.windows import from_bounds

from ..errors import InvalidInputError
from ..metrics import confusion
from ..raster.io import write_csv_atomic, write_text_atomic
from .evaluate import bootstrap_intervals, classification_metrics, report_html

#: a chip with at least this many crack pixels is a crack chip (the rule of scripts/derive_uav75_chips.py)
MIN_CRACK_PX = 150


@dataclass
class SceneEvaluation:
    """Metrics with 95 % intervals over labelled chips, and what was left out."""

    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    confusion: list[list[int]]
    n_chips: int
    n_ambiguous: int
    n_unfamiliar: int
    labels: np.ndarray
    probabilities: np.ndarray
    html: str


def read_chip_layer(path: str) -> list[dict]:
    """Chips of a ``crack_predict`` layer: bounds, row, col, probability, unfamiliar flag."""
    ds = ogr.Open(path)
    if ds is None or ds.GetLayerCount() == 0:
        raise InvalidInputError(f"Cannot open the chip layer {path}: give the chip layer written by crack_predict.")
    lyr = ds.GetLayer(0)
    names = {lyr.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(lyr.GetLayerDefn().GetFieldCount())}
    need = {"probability", "row", "col"}
    if not need <= names:
        raise InvalidInputError(
            f"{path} lacks the field(s) {sorted(need - names)}: give the chip layer written by crack_predict "
            "(the 'Chips with probability' output), not the tiling layer."
        )
    chips = []
    for f in lyr:
        g = f.GetGeometryRef()
        if g is None:
            continue
        x0, x1, y0, y1 = g.GetEnvelope()
        chips.append(
            {
                "bounds": (x0, y0, x1, y1),
                "row": int(f.GetField("row")),
                "col": int(f.GetField("col")),
                "probability": float(f.GetField("probability")),
                "unfamiliar": bool(f.GetField("unfamiliar")) if "unfamiliar" in names else False,
            }
        )
    if not chips:
        raise InvalidInputError(f"The chip layer {path} has no chips.")
    return chips


def crack_pixel_counts(label_path: str, chips: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Crack pixels (label > 0, nodata excluded) and labelled pixels inside each chip, one window read per chip."""
    counts, labelled = np.zeros(len(chips), np.int64), np.zeros(len(chips), np.int64)
    with rasterio.open(label_path) as ds:
        if ds.crs is None:
            raise InvalidInputError(f"The label raster {label_path} has no CRS; it must share the orthomosaic's grid.")
        for i, c in enumerate(chips):
            win = from_bounds(*c["bounds"], transform=ds.transform).round_offsets().round_lengths()
            a = ds.read(1, window=win, boundless=True, masked=True)
            labelled[i] = int(a.count())
            counts[i] = int((a.filled(0) > 0).sum())
    if not labelled.any():
        raise InvalidInputError(
            f"No chip overlaps a labelled pixel of {label_path}: the label raster and the chip layer do not "
            "cover the same place (check that both are on the orthomosaic's CRS and extent)."
        )
    return counts, labelled


def evaluate_scene(
    chips_path: str,
    label_path: str,
    out_html: str,
    min_crack_px: int = MIN_CRACK_PX,
    include_unfamiliar: bool = False,
    threshold: float = 0.5,
    out_csv: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> SceneEvaluation:
    """Chip-level metrics of a chip layer against pixel labels; HTML report and optional per-chip CSV.

    Unfamiliar chips (outside the model's training domain) are left out by default, as the
    probability raster leaves them out; their number is reported beside the figures.
    """
    if min_crack_px < 1:
        raise InvalidInputError("The minimum number of crack pixels of a crack chip must be at least 1.")
    chips = read_chip_layer(chips_path)
    counts, labelled = crack_pixel_counts(label_path, chips)
    y_all = np.where(counts >= min_crack_px, 1, np.where(counts == 0, 0, -1))
    y_all[labelled == 0] = -2  # outside the labelled area
    odd = np.array([c["unfamiliar"] for c in chips])
    use = (y_all >= 0) & (include_unfamiliar | ~odd)
    if not use.any():
        raise InvalidInputError(
            "No chip is both labelled and usable (all are ambiguous, unlabelled or unfamiliar); lower the minimum "
            "number of crack pixels or include unfamiliar chips."
        )
    y = y_all[use]
    p = np.array([c["probability"] for c in chips])[use]
    rows = np.array([c["row"] for c in chips])[use]
    cols = np.array([c["col"] for c in chips])[use]
    met = classification_metrics(y, p, threshold)
    # chips in one 2 x 2 block of chip positions are resampled together (they overlap or touch)
    groups = np.array([f"{r // 2}_{c // 2}" for r, c in zip(rows, cols)])
    ci = bootstrap_intervals(y, p, threshold, n_boot, seed, groups)
    matrix = confusion(y, p, threshold)
    n_amb, n_odd = int((y_all == -1).sum()), int((odd & (y_all >= 0)).sum())
    notes = [
        f"{n_amb} ambiguous chip(s) (1 to {min_crack_px - 1} crack pixels) left out; "
        f"{int((y_all == -2).sum())} chip(s) outside the labels left out."
    ]
    if n_odd and not include_unfamiliar:
        notes.append(f"{n_odd} labelled chip(s) were unfamiliar to the model and left out, as in the probability map.")
    if out_csv:
        keys = ["row", "col", "crack_pixels", "label", "probability", "unfamiliar", "used"]
        table = [
            [c["row"], c["col"], int(n), int(t), f"{c['probability']:.6f}", int(c["unfamiliar"]), int(u)]
            for c, n, t, u in zip(chips, counts, y_all, use)
        ]
        write_csv_atomic(out_csv, keys, table)
    title = f"Chip layer against pixel labels: {int(use.sum())} chips"
    write_text_atomic(
        out_html,
        report_html(
            title, y, met, ci, matrix, threshold, [], out_html, notes, unit="chips", resampled="2 x 2 chip blocks"
        ),
    )
    return SceneEvaluation(met, ci, matrix, int(use.sum()), n_amb, n_odd, y, p, out_html)
