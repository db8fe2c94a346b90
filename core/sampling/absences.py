"""The paper's three absence (non-landslide) sampling strategies and the train/test split.

(a) ``buffer``: cells farther than ``buffer_m`` from every known landslide;
(b) ``slope``: cells with slope below ``slope_max_deg``;
(c) ``cf``: cells in zones 1-2 (very low, low) of the certainty-factor pre-assessment.

Absences are drawn at random among the allowed valid cells of the stack, ``ratio`` per landslide
(paper: 1:2), at least ``min_spacing_m`` from each other and from landslides.

Split: neighbouring 30x30 patches share most of their cells, so a random 70/30 split leaks
information between training and test samples. The default split assigns whole square spatial
blocks (``block_size_m``) to the test set until it holds ``test_fraction`` of the samples.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from enum import Enum

import numpy as np
import rasterio
from rasterio.windows import Window
from scipy.spatial import cKDTree

from ..errors import InvalidInputError
from ..progress import NullProgress, Progress, check
from ..raster.grid import Grid
from ..raster.io import bounded_gdal_cache
from ..raster.stack import StackLike, as_stack, read_block
from .points import Points, points_on_grid, write_points


class Strategy(str, Enum):
    """Where absences may be drawn."""

    BUFFER = "buffer"
    SLOPE = "slope"
    CF = "cf"


class SplitMethod(str, Enum):
    """How samples are divided into training and test sets."""

    SPATIAL_BLOCKS = "spatial_blocks"
    RANDOM = "random"


@dataclass(frozen=True)
class SamplingConfig:
    """Absence sampling and split settings (defaults follow the paper where it is explicit)."""

    strategy: Strategy = Strategy.CF
    ratio: float = 2.0
    buffer_m: float = 1000.0
    slope_max_deg: float = 5.0
    slope_band: str = "slope"
    cf_max_zone: int = 2
    min_spacing_m: float = 60.0
    split: SplitMethod = SplitMethod.SPATIAL_BLOCKS
    test_fraction: float = 0.3
    block_size_m: float = 1000.0
    seed: int = 42


@dataclass
class Samples:
    """Sample cells with labels and split."""

    rows: np.ndarray
    cols: np.ndarray
    x: np.ndarray
    y: np.ndarray
    label: np.ndarray
    is_test: np.ndarray
    block: np.ndarray


def _allowed(
    cfg: SamplingConfig,
    data: np.ndarray,
    ok: np.ndarray,
    names: list[str],
    cfz: np.ndarray | None,
    win: Window,
    grid: Grid,
    tree: cKDTree,
) -> np.ndarray:
    allowed = ok.copy()
    if cfg.strategy is Strategy.SLOPE:
        allowed &= data[names.index(cfg.slope_band)] < cfg.slope_max_deg
    elif cfg.strategy is Strategy.CF:
        assert cfz is not None
        allowed &= (cfz >= 1) & (cfz <= cfg.cf_max_zone)
    min_d = cfg.buffer_m if cfg.strategy is Strategy.BUFFER else cfg.min_spacing_m
    if min_d > 0 and allowed.any():
        rr, cc = np.nonzero(allowed)
        xs, ys = grid.xy(rr + win.row_off, cc + win.col_off)
        d, _ = tree.query(np.column_stack([xs, ys]), k=1, distance_upper_bound=min_d)
        keep = ~np.isfinite(d)
        allowed[rr[~keep], cc[~keep]] = False
    return allowed


@bounded_gdal_cache
def sample_absences(
    stack: StackLike,
    landslides: Points,
    cfg: SamplingConfig,
    cf_zoning: str | None = None,
    block: int = 1024,
    progress: Progress | None = None,
) -> Samples:
    """Landslide cells plus absences drawn with ``cfg.strategy``, split into train and test."""
    progress = progress or NullProgress()
    info = as_stack(stack)
    stack = info.path
    grid = info.grid
    if cfg.strategy is Strategy.SLOPE and cfg.slope_band not in info.names:
        raise InvalidInputError(
            f"The slope strategy needs a factor named '{cfg.slope_band}' in the stack; it has {info.names}."
        )
    if cfg.strategy is Strategy.CF:
        if not cf_zoning:
            raise InvalidInputError("The CF strategy needs the zoning raster from lsm_cf_map.")
        grid.require_same(Grid.from_path(cf_zoning), "The CF zoning raster")
    rows, cols, inside = points_on_grid(landslides, grid)
    if not inside.any():
        raise InvalidInputError(
            "No landslide point falls inside the factor stack's grid. Check the inventory's CRS and extent."
        )
    rows, cols = rows[inside], cols[inside]
    # one positive per cell: duplicates in one 30 m cell would be identical samples
    cell = np.unique(rows * grid.width + cols)
    rows, cols = cell // grid.width, cell % grid.width
    with rasterio.open(stack) as ds:
        vals = np.array(list(ds.sample(zip(*grid.xy(rows, cols)))), dtype=np.float64)
    nod = info.nodata if info.nodata is not None else np.nan
    good = np.all(np.isfinite(vals) & (vals != nod), axis=1)
    rows, cols = rows[good], cols[good]
    if rows.size == 0:
        raise InvalidInputError("All landslide points inside the grid fall on nodata cells of the stack.")
    lx, ly = grid.xy(rows, cols)
    tree = cKDTree(np.column_stack([lx, ly]))
    n_neg = int(round(cfg.ratio * rows.size))
    rng = np.random.default_rng(cfg.seed)
    # pass 1: count allowed cells; pass 2: Bernoulli-thin to ~4x the need, then spacing-aware draw
    counts = []
    with rasterio.open(stack) as ds, rasterio.open(cf_zoning) if cf_zoning else contextlib.nullcontext() as zs:
        wins = list(grid.windows(block))
        for k, win in enumerate(wins):
            check(progress)
            data, ok = read_block(ds, win, info.nodata, "The factor stack")
            cfz = zs.read(1, window=win) if zs is not None else None
            counts.append(int(_allowed(cfg, data, ok, info.names, cfz, win, grid, tree).sum()))
            progress.report(0.4 * (k + 1) / len(wins), "counting candidate cells")
        total = sum(counts)
        if total < n_neg:
            raise InvalidInputError(
                f"Only {total} cells are allowed for absences by the '{cfg.strategy.value}' strategy but {n_neg} are "
                "needed. Lower the ratio, the buffer distance or the spacing, or choose another strategy."
            )
        p = min(1.0, 4.0 * n_neg / total + 1e-9)
        cand_r, cand_c = [], []
        for k, win in enumerate(wins):
            check(progress)
            if counts[k] == 0:
                continue
            data, ok = read_block(ds, win, info.nodata, "The factor stack")
            cfz = zs.read(1, window=win) if zs is not None else None
            rr, cc = np.nonzero(_allowed(cfg, data, ok, info.names, cfz, win, grid, tree))
            keep = rng.random(rr.size) < p
            cand_r.append(rr[keep] + win.row_off)
            cand_c.append(cc[keep] + win.col_off)
            progress.report(0.4 + 0.4 * (k + 1) / len(wins), "drawing candidates")
    cr, cc_ = np.concatenate(cand_r), np.concatenate(cand_c)
    order = rng.permutation(cr.size)
    cr, cc_ = cr[order], cc_[order]
    cx, cy = grid.xy(cr, cc_)
    chosen: list[int] = []
    sp = cfg.min_spacing_m
    # greedy draw with a spacing check through a hash grid of sp-sized cells (O(1) per candidate)
    cells: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for i in range(cr.size):
        if len(chosen) >= n_neg:
            break
        if sp > 0:
            kx, ky = int(cx[i] // sp), int(cy[i] // sp)
            near = [q for dx in (-1, 0, 1) for dy in (-1, 0, 1) for q in cells.get((kx + dx, ky + dy), ())]
            if any((qx - cx[i]) ** 2 + (qy - cy[i]) ** 2 < sp * sp for qx, qy in near):
                continue
            cells.setdefault((kx, ky), []).append((cx[i], cy[i]))
        chosen.append(i)
    if len(chosen) < n_neg:
        raise InvalidInputError(
            f"Could place only {len(chosen)} of {n_neg} absences {sp} m apart; reduce the minimum spacing or the ratio."
        )
    nr, nc = cr[chosen], cc_[chosen]
    all_r = np.concatenate([rows, nr])
    all_c = np.concatenate([cols, nc])
    label = np.concatenate([np.ones(rows.size, np.int32), np.zeros(nr.size, np.int32)])
    x, y = grid.xy(all_r, all_c)
    is_test, blk = split_samples(x, y, label, cfg)
    progress.report(1.0, f"{rows.size} landslides, {nr.size} absences")
    return Samples(all_r, all_c, x, y, label, is_test, blk)


def block_keys(x: np.ndarray, y: np.ndarray, block_m: float) -> np.ndarray:
    """One integer per square spatial block of side ``block_m`` (map units) holding each point."""
    bx = np.floor(np.asarray(x) / block_m).astype(np.int64)
    by = np.floor(np.asarray(y) / block_m).astype(np.int64)
    return bx * 1_000_003 + by


def split_samples(
    x: np.ndarray, y: np.ndarray, label: np.ndarray, cfg: SamplingConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Test mask and block ids.

    Spatial blocks: square blocks of ``block_size_m`` are shuffled (seeded) and assigned to the
    test set until it holds ``test_fraction`` of the positives *and* of the negatives, so both
    classes are represented. Random: a stratified random split.
    """
    rng = np.random.default_rng(cfg.seed)
    _, blk = np.unique(block_keys(x, y, cfg.block_size_m), return_inverse=True)
    if cfg.split is SplitMethod.RANDOM:
        is_test = np.zeros(label.size, bool)
        for cls in (0, 1):
            idx = np.flatnonzero(label == cls)
            n_test = int(round(cfg.test_fraction * idx.size))
            is_test[rng.choice(idx, n_test, replace=False)] = True
        return is_test, blk
    n_blocks = blk.max() + 1
    if n_blocks < 3:
        raise InvalidInputError(
            f"Only {n_blocks} spatial block(s) of {cfg.block_size_m} m hold samples; "
            "use smaller blocks or the random split."
        )
    is_test = np.zeros(label.size, bool)
    need = {c: cfg.test_fraction * np.sum(label == c) for c in (0, 1)}
    for b in rng.permutation(n_blocks):
        have = {c: np.sum(is_test & (label == c)) for c in (0, 1)}
        if all(have[c] >= need[c] for c in (0, 1)):
            break
        inb = blk == b
        # add a block only if it does not push a class already satisfied far beyond its share
        if any(have[c] < need[c] and np.any(inb & (label == c)) for c in (0, 1)):
            is_test |= inb
    for c in (0, 1):
        if not np.any(is_test & (label == c)) or np.all(is_test[label == c]):
            raise InvalidInputError(
                "The spatial-block split left a class without training or test samples; "
                "change the block size or the seed."
            )
    return is_test, blk


def write_samples(samples: Samples, crs_wkt: str, path: str, strategy: str) -> None:
    """Samples as a point layer: label (1 landslide / 0 absence), split, block, row, col."""
    write_points(
        path,
        crs_wkt,
        samples.x,
        samples.y,
        {
            "label": samples.label.astype(np.int32),
            "split": np.where(samples.is_test, "test", "train").astype(object),
            "block": samples.block.astype(np.int32),
            "row": samples.rows.astype(np.int32),
            "col": samples.cols.astype(np.int32),
            "strategy": np.array([strategy] * samples.label.size, dtype=object),
        },
    )
