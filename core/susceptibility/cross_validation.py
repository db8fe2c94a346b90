"""Spatial k-fold cross-validation of every model, with blocks sized from the data.

Why: one train/test split with 1 km blocks left test landslides in the same slope unit as
training samples (identical factor values), and AUC on sampled absences measures the sampling
rule. Here:

* samples are grouped into spatial blocks whose side is the factors' **correlation length**
  (estimated from the stack, see :func:`correlation_length_m`) or into user mapping units (a
  group field), and whole groups are dealt to ``k`` folds balanced by landslide count;
* an optional buffer drops training samples closer than ``buffer_m`` to any test sample;
* every model is trained ``k`` times (early stopping on blocks of its own training folds) and
  scored on its held-out fold: per-fold metrics, their mean and spread, and the pooled
  out-of-fold AUC with a **block bootstrap** 95 % interval (blocks, not samples, are resampled,
  because samples of one block are not independent);
* the **prediction rate** (the headline figure): each fold's model scores a uniform sample of
  the valid cells of its held-out blocks; the AUC of the fold's landslides against those cells
  does not use absences at all, so it cannot be decided by how absences were drawn. Pooled over
  folds, with an interval that resamples whole blocks (their landslides *and* their cells).
  The AUC on the sampled absences comes second, named for what it is: how separable the
  sampled absences are, not skill (on a held-back area it overstated held-out skill by +0.20).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .prepared import Prepared


import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import rasterio
from rasterio.io import DatasetReader

from ..errors import InvalidInputError
from ..metrics import ROC_AUC, label
from ..progress import NullProgress, Progress, SubProgress, check
from ..raster.io import valid_mask
from ..raster.stack import Stack, StackLike, as_stack
from ..runtime import pick_device
from ..sampling.absences import block_keys
from .dataset import SampleSet, read_patches, read_series, series_for
from .evaluate import METRICS, degenerate_flags, metrics
from .fitting import EpochCallback, TrainConfig, fit_deep, fit_tree, make_augment, predict_deep, validation_split
from .models import DEEP_MODELS, DISPLAY, SERIES_MODELS, DeepHP
from .rates import BlockRate, block_bootstrap_rate, paired_difference_ci


@dataclass(frozen=True)
class CVConfig:
    """Cross-validation settings.

    Attributes:
        folds: number of folds (>= 2).
        block_m: block side in metres; 0 = the factors' correlation length (from the data).
        buffer_m: training samples closer than this to a test sample are dropped (0 = none).
        rate_cells: valid cells sampled (in all, spread over the folds) for the prediction rate.
        n_boot: bootstrap resamples for the intervals.
    """

    folds: int = 5
    block_m: float = 0.0
    buffer_m: float = 0.0
    rate_cells: int = 10_000
    n_boot: int = 1000


@dataclass
class ModelCV:
    """Cross-validated results of one model."""

    kind: str
    fold_metrics: list[dict[str, float]]
    pooled: dict[str, float]
    auc_ci: tuple[float, float]
    #: the pooled prediction rate with its block-bootstrap interval and draws (the draws are paired
    #: across the models and factors of one CV: same blocks, same seed)
    rate: BlockRate
    fold_rate_auc: list[float]
    flags: list[str] = field(default_factory=list)
    #: best epoch of each fold's deep model (the refit on all samples trains for their median)
    best_epochs: list[int] = field(default_factory=list)
    #: out-of-fold probability of every sample (NaN: never held out)
    oof: np.ndarray = field(default_factory=lambda: np.empty(0))
    #: each sampled cell's probability from its fold's model (the cells of the prediction rate)
    cell_scores: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def rate_auc(self) -> float:
        """The pooled prediction-rate AUC (the headline figure)."""
        return self.rate.auc

    @property
    def rate_ci(self) -> tuple[float, float]:
        """Its 95 % block-bootstrap interval."""
        return self.rate.ci

    @property
    def refit_epochs(self) -> int | None:
        """Epochs for the refit on all samples: the median of the folds' early-stopping epochs (None: trees)."""
        return max(1, int(np.median(self.best_epochs))) if self.best_epochs else None

    def card_metrics(self) -> dict:
        """The CV figures a saved model's card carries (the estimate of the model refit on all samples)."""
        mean, sd = self.mean_sd(ROC_AUC)
        return {
            "prediction_rate_auc": self.rate_auc,
            "prediction_rate_ci": list(self.rate_ci),
            "separability_auc": self.pooled[ROC_AUC],
            "separability_ci": list(self.auc_ci),
            "separability_folds_mean": mean,
            "separability_folds_sd": sd,
            "sampled_absences": {k: v for k, v in self.pooled.items()},
            "flags": list(self.flags),
        }

    def mean_sd(self, metric: str) -> tuple[float, float]:
        """Mean and standard deviation of a metric over the folds (NaN folds ignored)."""
        v = np.array([m[metric] for m in self.fold_metrics], float)
        v = v[np.isfinite(v)]
        return (float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0) if v.size else (np.nan, np.nan)


@dataclass
class EnsembleCV:
    """The cross-validated mean of the top models: which, its prediction rate, and its gain on the best."""

    kinds: list[str]
    rate_auc: float
    rate_ci: tuple[float, float]
    gain: float  # over the best single model
    gain_ci: tuple[float, float]  # paired block-bootstrap interval of the gain

    @property
    def name(self) -> str:
        """How tables and logs name it."""
        return "mean of " + " + ".join(DISPLAY[k] for k in self.kinds)


@dataclass
class CVResult:
    """Everything a report needs about the cross-validation."""

    models: list[ModelCV]
    folds: np.ndarray  # fold of each sample (-1 never used)
    groups: np.ndarray  # block / unit of each sample
    split_note: str
    correlation_length_m: float | None
    block_m: float | None
    #: each factor alone as the score, under the same folds and blocks as the models, by name
    factor_rate: dict[str, BlockRate] = field(default_factory=dict)
    #: caveats a user must read next to the figures (shrunk blocks, ...); they go to the log too
    caveats: list[str] = field(default_factory=list)
    #: the mean of the models not distinguishable from the best, judged like a model (None: < 2 such)
    ensemble: EnsembleCV | None = None

    @property
    def factor_rates(self) -> list[tuple[str, float, tuple[float, float]]]:
        """(name, prediction-rate AUC, 95 % CI) of each factor alone."""
        return [(n, r.auc, r.ci) for n, r in self.factor_rate.items()]

    def best_factor(self) -> tuple[str, float, tuple[float, float]] | None:
        """The single factor with the highest prediction-rate AUC (None: not computed)."""
        ok = [f for f in self.factor_rates if np.isfinite(f[1])]
        return max(ok, key=lambda f: f[1]) if ok else None


#: correlation below which two cells count as independent: the "practical range" of a variogram
#: (about three e-folding lengths of an exponential model), as blockCV's spatial auto-range uses
PRACTICAL_RANGE_CORRELATION = 0.05


def correlation_length_m(
    stack: StackLike | DatasetReader, max_side: int = 512, threshold: float = PRACTICAL_RANGE_CORRELATION
) -> float:
    """Median over factors of the lag at which a factor's autocorrelation falls below ``threshold`` (m).

    Estimated on a decimated read (bounded memory) along rows and columns: the practical range of
    the empirical correlogram. A factor still correlated at half the study area (elevation, often)
    counts with that half-width; the median keeps one such factor from making a single block.
    """
    with _opened(stack) as ds:
        f = max(1, int(np.ceil(max(ds.width, ds.height) / max_side)))
        shape = (ds.count, max(2, ds.height // f), max(2, ds.width // f))
        data = ds.read(out_shape=shape, resampling=rasterio.enums.Resampling.nearest).astype(np.float64)
        ok = np.all(valid_mask(data, ds.nodata), axis=0)
        cell = abs(ds.transform.a) * ds.width / shape[2]
        name = ds.name
    lengths = []
    for band in data:
        z = np.where(ok, band, np.nan)
        mu, sd = np.nanmean(z), np.nanstd(z)
        if not np.isfinite(sd) or sd == 0:
            continue
        z = (z - mu) / sd
        max_lag = max(1, min(z.shape) // 2)
        length = max_lag
        for h in range(1, max_lag + 1):
            pairs = [(z[:, :-h], z[:, h:]), (z[:-h, :], z[h:, :])]
            num = sum(np.nansum(a * b) for a, b in pairs)
            cnt = sum(np.sum(np.isfinite(a * b)) for a, b in pairs)
            if cnt == 0 or num / cnt < threshold:
                length = h
                break
        lengths.append(length * cell)
    if not lengths:
        raise InvalidInputError(f"Cannot estimate a correlation length: every factor of {name} is constant.")
    return float(np.median(lengths))


#: fewest landslides a cross-validation fold may hold out (an AUC on fewer is noise)
MIN_LANDSLIDES_PER_FOLD = 3


def make_folds(
    x: np.ndarray,
    y: np.ndarray,
    labels: np.ndarray,
    k: int,
    block_m: float,
    seed: int,
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold of each sample: whole blocks (or user groups) dealt to ``k`` folds, balanced by landslides."""
    if groups is None:
        _, grp = np.unique(block_keys(x, y, block_m), return_inverse=True)
    else:
        _, grp = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    n_groups = int(grp.max()) + 1
    if n_groups < k:
        raise InvalidInputError(
            f"Only {n_groups} spatial group(s) hold samples: too few for {k} folds. Use smaller blocks, "
            "fewer folds, or mapping units with more members."
        )
    rng = np.random.default_rng(seed)
    pos = np.bincount(grp, weights=labels == 1, minlength=n_groups)
    neg = np.bincount(grp, weights=labels == 0, minlength=n_groups)
    order = sorted(rng.permutation(n_groups), key=lambda g: -(pos[g] + neg[g]))
    fold_of_group = np.zeros(n_groups, np.int64)
    load_pos, load_neg = np.zeros(k), np.zeros(k)
    tp, tn = max(pos.sum(), 1), max(neg.sum(), 1)
    for g in order:
        # the fold whose landslide *and* absence shares stay most even after taking this group
        cost = (load_pos + pos[g]) / tp + (load_neg + neg[g]) / tn
        f = int(np.argmin(cost + 1e-9 * rng.random(k)))
        fold_of_group[g] = f
        load_pos[f] += pos[g]
        load_neg[f] += neg[g]
    folds = fold_of_group[grp]
    for f in range(k):
        for c in (0, 1):
            if not np.any((folds == f) & (labels == c)):
                what = "landslide" if c else "absence"
                raise InvalidInputError(f"Fold {f + 1} of {k} holds no {what}: use fewer folds or smaller blocks.")
    return folds, grp


class BlockChoice(NamedTuple):
    """The CV block side and why: the sentence for the report and whether folds lost independence."""

    side_m: float
    range_m: float | None  # the factors' correlation range (None: the side was given)
    note: str
    #: the blocks are smaller than the range (or the patch footprint): folds are less independent
    shrunk: bool = False


def choose_block(
    stack: StackLike | DatasetReader, x: np.ndarray, y: np.ndarray, k: int, given_m: float, min_block_m: float = 0.0
) -> BlockChoice:
    """Block side: the given one, else the larger of the factors' correlation range and ``min_block_m``.

    ``min_block_m`` is the patch footprint of the deep models: samples closer than one patch share
    input cells, so smaller blocks would leak. Shrunk only when fewer than ``2k`` blocks would hold
    samples, and then the note says that folds are less independent than they should be.

    """
    if given_m > 0:
        return BlockChoice(given_m, None, f"{given_m:g} m blocks (given)")
    rng = correlation_length_m(stack)
    target = max(rng, min_block_m)
    why = "the factors' correlation range" if rng >= min_block_m else "one patch footprint (larger than the range)"
    block = target
    while True:
        n = np.unique(block_keys(x, y, block)).size
        if n >= 2 * k or block < 1:
            break
        block *= 0.8
    note = f"{block:.0f} m blocks = {why} (correlation range {rng:.0f} m)"
    if block < target:
        note = (
            f"{block:.0f} m blocks, shrunk from {target:.0f} m ({why}; correlation range {rng:.0f} m) because fewer "
            f"than {2 * k} blocks held samples: folds are less independent than they should be"
        )
    return BlockChoice(float(block), rng, note, block < target)


def _folds_of(
    prep: Prepared, cfg: TrainConfig, cv: CVConfig, groups: np.ndarray | None, choice: BlockChoice
) -> tuple[np.ndarray, np.ndarray, BlockChoice]:
    """Folds and groups of the samples, shrinking data-sized blocks until both classes reach every fold."""
    block = choice.side_m
    while True:
        try:
            folds, grp = make_folds(prep.x, prep.y, prep.data.labels, cv.folds, block or 1.0, cfg.seed, groups)
            return folds, grp, choice
        except InvalidInputError:
            # blocks from the data can be too coarse for both classes to reach every fold
            # (absences drawn in a few zones): shrink them, and say so
            if groups is not None or cv.block_m > 0 or choice.range_m is None or block < 2 * prep.grid_resolution:
                raise
            block *= 0.8
            choice = BlockChoice(
                block,
                choice.range_m,
                f"{block:.0f} m blocks (shrunk so that every fold holds landslides and absences; correlation "
                f"range {choice.range_m:.0f} m: folds are less independent than they should be)",
                True,
            )


def _buffer_exclusion(x: np.ndarray, y: np.ndarray, test: np.ndarray, buffer_m: float) -> np.ndarray:
    """Training rows within ``buffer_m`` of a test row."""
    if buffer_m <= 0 or not test.any():
        return np.zeros(x.size, bool)
    from scipy.spatial import cKDTree

    tree = cKDTree(np.c_[x[test], y[test]])
    d, _ = tree.query(np.c_[x, y], k=1)
    return (~test) & (d < buffer_m)


def block_bootstrap_auc(
    y: np.ndarray, p: np.ndarray, groups: np.ndarray, n_boot: int, seed: int
) -> tuple[float, float]:
    """95 % interval of the AUC resampling whole groups (blocks or units) with replacement."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    ug = np.unique(groups)
    members = [np.flatnonzero(groups == g) for g in ug]
    vals = []
    for _ in range(n_boot):
        idx = np.concatenate([members[i] for i in rng.integers(0, ug.size, ug.size)])
        if len(np.unique(y[idx])) == 2:
            vals.append(roc_auc_score(y[idx], p[idx]))
    if not vals:
        return float("nan"), float("nan")
    return float(np.quantile(vals, 0.025)), float(np.quantile(vals, 0.975))


def _rate_scores(cell_scores: np.ndarray, ls_scores: np.ndarray) -> np.ndarray:
    """Per landslide: share of the fold's cells scored lower (ties count half)."""
    s = np.sort(cell_scores)
    lo = np.searchsorted(s, ls_scores, side="left")
    hi = np.searchsorted(s, ls_scores, side="right")
    return (lo + 0.5 * (hi - lo)) / max(s.size, 1)


def _rate_cells(stack: StackLike | DatasetReader, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and cols of up to ``n`` valid cells drawn uniformly (windowed, bounded memory)."""
    from ..raster.grid import Grid

    rng = np.random.default_rng(seed)
    rows, cols = [], []
    with _opened(stack) as ds:
        grid = Grid.from_dataset(ds)
        frac = min(1.0, 1.5 * n / max(1, ds.width * ds.height))
        for win in grid.windows(1024):
            a = ds.read(window=win)
            ok = np.all(valid_mask(a, ds.nodata), axis=0)
            rr, cc = np.nonzero(ok & (rng.random(ok.shape) < frac))
            rows.append(rr + int(win.row_off))
            cols.append(cc + int(win.col_off))
    r, c = np.concatenate(rows), np.concatenate(cols)
    if r.size > n:
        keep = np.sort(rng.choice(r.size, n, replace=False))
        r, c = r[keep], c[keep]
    return r, c


def cross_validate(
    prep: Prepared,
    cfg: TrainConfig,
    cv: CVConfig,
    groups: np.ndarray | None = None,
    hp: DeepHP | None = None,
    progress: Progress | None = None,
    on_epoch: Callable | None = None,
) -> CVResult:
    """Spatial k-fold CV of ``cfg.models`` on ``prep`` (see the module docstring).

    The stack travels in ``prep`` and is opened once here for the block size, the prediction-rate
    cells and their patches (it used to be a path opened five times, once for a transform).
    """
    progress = progress or NullProgress()
    stack = _stack_of(prep)
    hp = hp or cfg.hp
    d = prep.data
    if cv.folds < 2:
        raise InvalidInputError("Cross-validation needs at least 2 folds.")
    total_pos = int((d.labels == 1).sum())
    if total_pos < MIN_LANDSLIDES_PER_FOLD * cv.folds:
        raise InvalidInputError(
            f"{total_pos} landslides are too few for {cv.folds}-fold cross-validation: each fold must hold at least "
            f"{MIN_LANDSLIDES_PER_FOLD} (so at least {MIN_LANDSLIDES_PER_FOLD * cv.folds} in all). Use fewer folds "
            "(at least 2), or map more landslides."
        )
    deep = any(m in DEEP_MODELS for m in cfg.models)
    footprint = cfg.patch_size * prep.grid_resolution if deep else 0.0
    with rasterio.open(stack.path) as ds:
        if groups is None:
            choice = choose_block(ds, prep.x, prep.y, cv.folds, cv.block_m, footprint)
        else:
            choice = BlockChoice(0.0, None, "user mapping units (group field)")
        folds, grp, choice = _folds_of(prep, cfg, cv, groups, choice)
        # cells for the prediction rate, with the fold and block they fall in
        rr, cc = _rate_cells(ds, cv.rate_cells, cfg.seed)
        cx, cy = stack.grid.xy(rr, cc)
        block = None if groups is not None else choice.side_m
        cell_fold, cell_grp = _cell_folds(cx, cy, prep, folds, grp, block, groups is not None)
        has = cell_fold >= 0
        rr, cc, cell_fold, cell_grp = rr[has], cc[has], cell_fold[has], cell_grp[has]
        cells = _cells_set(prep, rr, cc, cfg, ds)
    how, corr = choice.note, choice.range_m
    caveats = [f"Spatial CV: {how}."] if choice.shrunk else []
    device = pick_device(cfg.device)
    kinds = [m for m in cfg.models if not (m in SERIES_MODELS and d.series is None)]
    is_ls = d.labels == 1

    def block_rate(ls_scores: np.ndarray, cell_scores: np.ndarray) -> BlockRate:
        """Pooled rate of every held-out landslide against its fold's cells, blocks resampled."""
        ls = is_ls & np.isfinite(ls_scores)
        ok = np.isfinite(cell_scores)
        return block_bootstrap_rate(
            ls_scores[ls], folds[ls], grp[ls], cell_scores[ok], cell_fold[ok], cell_grp[ok], cv.n_boot, cfg.seed
        )

    results = []
    n_steps = len(kinds) * cv.folds
    step = 0
    for kind in kinds:
        oof = np.full(d.labels.size, np.nan)
        cell_p = np.full(cell_fold.size, np.nan)
        fold_metrics, fold_rate, best_epochs = [], [], []
        for f in range(cv.folds):
            check(progress)
            sub = SubProgress(progress, step / n_steps, (step + 1) / n_steps)
            step += 1
            test = folds == f
            excluded = _buffer_exclusion(prep.x, prep.y, test, cv.buffer_m)
            view = SampleSet(d.patches, d.series, d.labels, test | excluded, grp)
            tr_idx, va_idx = validation_split(view, cfg.val_fraction, cfg.seed + f)
            te = np.flatnonzero(test)
            in_fold = cell_fold == f
            if kind in DEEP_MODELS:
                model, hist = fit_deep(
                    kind,
                    view,
                    tr_idx,
                    va_idx,
                    cfg,
                    hp,
                    len(prep.features),
                    prep.n_vars,
                    sub,
                    _fold_epochs(on_epoch, f),
                    make_augment(cfg, prep.features, prep.norm, prep.names),
                )
                best_epochs.append(int(np.median(hist["best_epoch"])))
                p = predict_deep(model, d.patches[te], None if d.series is None else d.series[te], device)
                pc = predict_deep(
                    model,
                    cells.patches[in_fold],
                    None if cells.series is None else cells.series[in_fold],
                    device,
                )
            else:
                trn = np.concatenate([tr_idx, va_idx])
                model = fit_tree(kind, d.centre[trn], d.labels[trn], cfg)
                p = model.predict_proba(d.centre[te])[:, 1]
                pc = model.predict_proba(cells.centre[in_fold])[:, 1] if in_fold.any() else np.empty(0)
            oof[te] = p
            cell_p[in_fold] = pc
            fold_metrics.append({**metrics(d.labels[te], p), "n_test": int(te.size), "n_train": int(tr_idx.size)})
            ls = p[d.labels[te] == 1]
            fold_rate.append(float(_rate_scores(pc, ls).mean()) if pc.size and ls.size else float("nan"))
            sub.report(1.0, f"{DISPLAY[kind]} fold {f + 1}/{cv.folds}: prediction-rate AUC {fold_rate[-1]:.3f}")
        used = np.isfinite(oof)
        pooled = metrics(d.labels[used], oof[used])
        ci = block_bootstrap_auc(d.labels[used], oof[used], grp[used], cv.n_boot, cfg.seed)
        rate = block_rate(oof, cell_p)
        flags = degenerate_flags(d.labels[used], oof[used])
        if np.isfinite(rate.ci[0]) and rate.ci[0] <= 0.5 <= rate.ci[1]:
            flags.append("prediction-rate AUC not distinguishable from chance")
        results.append(
            ModelCV(
                kind,
                fold_metrics,
                pooled,
                ci,
                rate,
                fold_rate,
                flags,
                best_epochs,
                oof,
                cell_p,
            )
        )
        progress.log(
            f"{DISPLAY[kind]} spatial CV: prediction-rate AUC {rate.auc:.3f} (95 % CI {rate.ci[0]:.3f}-"
            f"{rate.ci[1]:.3f}, blocks resampled); separability of the sampled absences (AUC, not skill) "
            f"{pooled[ROC_AUC]:.3f} ({ci[0]:.3f}-{ci[1]:.3f})"
        )
    factor_rate = {}
    for j, name in enumerate(prep.features):
        scores = _factor_scores(d, cells, folds, cell_fold, j, cv.folds)
        if scores is not None:
            factor_rate[name] = block_rate(*scores)
    res = CVResult(results, folds, grp, "", corr, block, factor_rate, caveats)
    best = res.best_factor()
    if best is not None:
        for m in results:
            if np.isfinite(m.rate_auc) and m.rate_auc <= best[1]:
                lo, hi = paired_difference_ci(m.rate, res.factor_rate[best[0]])
                m.flags.append(
                    f"does not beat the best single factor ({best[0]} alone: prediction-rate AUC {best[1]:.3f}, "
                    f"{best[2][0]:.3f}-{best[2][1]:.3f}; difference {m.rate_auc - best[1]:+.3f}, "
                    f"95 % CI {lo:+.3f} to {hi:+.3f})"
                )
        progress.log(
            f"Best single factor under the same folds: {best[0]} alone, prediction-rate AUC {best[1]:.3f} "
            f"({best[2][0]:.3f}-{best[2][1]:.3f}); a model should beat it to be worth its complexity."
        )
    res.ensemble = _ensemble(results, block_rate)
    if res.ensemble is not None:
        e = res.ensemble
        progress.log(
            f"The {e.name}, cross-validated the same way: prediction-rate AUC {e.rate_auc:.3f} "
            f"({e.rate_ci[0]:.3f}-{e.rate_ci[1]:.3f}); gain on the best single model {e.gain:+.3f} "
            f"(paired 95 % CI {e.gain_ci[0]:+.3f} to {e.gain_ci[1]:+.3f})."
        )
    res.split_note = (
        f"Spatial {cv.folds}-fold cross-validation over {how}; buffer {cv.buffer_m:g} m; "
        f"{int(rr.size)} cells sampled for the prediction rate; intervals resample whole blocks; seed {cfg.seed}."
    )
    for c in caveats:
        progress.log("Warning: " + c)
    return res


def _ranked(models: list[ModelCV]) -> list[ModelCV]:
    """Models with a finite CV prediction rate, best first."""
    return sorted((m for m in models if np.isfinite(m.rate_auc)), key=lambda m: -m.rate_auc)


def top_models(models: list[ModelCV]) -> list[ModelCV]:
    """The best model by CV prediction rate and every model not distinguishable from it (paired interval)."""
    ranked = _ranked(models)
    if not ranked:
        return []
    best = ranked[0]
    return [best] + [m for m in ranked[1:] if paired_difference_ci(best.rate, m.rate)[0] <= 0]


def _ensemble(models: list[ModelCV], rate_of: Callable[[np.ndarray, np.ndarray], BlockRate]) -> EnsembleCV | None:
    """The mean probability of the top models, judged on the same held-out landslides, cells and blocks.

    Why: when the leaders cannot be told apart, their mean is the natural candidate for the map;
    whether it beats the best single model is measured here, fold by fold (each fold's mean of the
    members' fold models), not assumed.
    """
    top = top_models(models)
    if len(top) < 2:
        return None
    r = rate_of(np.mean([m.oof for m in top], axis=0), np.mean([m.cell_scores for m in top], axis=0))
    lo, hi = paired_difference_ci(r, top[0].rate)
    return EnsembleCV([m.kind for m in top], r.auc, r.ci, r.auc - top[0].rate_auc, (lo, hi))


def ranking(res: CVResult) -> list[ModelCV]:
    """Models by CV prediction-rate AUC, best first (models without a finite rate last)."""
    return sorted(res.models, key=lambda m: -m.rate_auc if np.isfinite(m.rate_auc) else np.inf)


def leaders_sentence(res: CVResult) -> str:
    """One sentence: is the best model distinguishable from the runner-up (paired block-bootstrap interval)?

    Why: on three held-out splits of a held-back area every interval overlapped, yet the tool
    mapped one model as if it were the best; the user must read whether the ranking is evidence.
    """
    ranked = _ranked(res.models)
    if not ranked:
        return "No model has a finite cross-validated prediction rate."
    top = ranked[0]
    if len(ranked) == 1:
        return f"{DISPLAY[top.kind]}: prediction-rate AUC {top.rate_auc:.3f} (only model compared)."
    second = ranked[1]
    lo, hi = paired_difference_ci(top.rate, second.rate)
    diff = top.rate_auc - second.rate_auc
    if np.isfinite(lo) and lo > 0:
        verdict = "distinguishable: the paired 95 % interval of the difference excludes 0"
    else:
        verdict = (
            "not distinguishable: the paired 95 % interval of the difference contains 0, so the ranking is not evidence"
        )
    return (
        f"Best cross-validated prediction rate: {DISPLAY[top.kind]} {top.rate_auc:.3f}, ahead of "
        f"{DISPLAY[second.kind]} {second.rate_auc:.3f} by {diff:+.3f} (95 % CI {lo:+.3f} to {hi:+.3f}); {verdict}."
    )


def _factor_scores(
    d: SampleSet, cells: SampleSet, folds: np.ndarray, cell_fold: np.ndarray, j: int, k: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Factor ``j`` alone as the susceptibility score, oriented on each fold's training samples.

    Why: a model is only worth its complexity if it ranks held-out landslides above the held-out
    area better than one of its own inputs does (measured on a held-back area: contributing area
    alone beat every model). The direction (high or low values susceptible) is chosen on each
    fold's training samples, so the held-out fold never decides it.

    Returns:
        (score of every sample, score of every sampled cell), or None when no fold could orient it.
    """
    s_scores = np.full(d.labels.size, np.nan)
    c_scores = np.full(cell_fold.size, np.nan)
    for f in range(k):
        test = folds == f
        train = ~test & (folds >= 0)
        y, col = d.labels[train], d.centre[train, j]
        if np.unique(y).size < 2:
            continue
        sign = 1.0 if col[y == 1].mean() >= col[y == 0].mean() else -1.0
        s_scores[test] = sign * d.centre[test, j]
        c_scores[cell_fold == f] = sign * cells.centre[cell_fold == f, j]
    if not np.isfinite(s_scores).any():
        return None
    return s_scores, c_scores


def _fold_epochs(on_epoch: EpochCallback | None, fold: int) -> EpochCallback | None:
    if on_epoch is None:
        return None
    return lambda kind, m: on_epoch(kind, {**m, "fold": fold + 1})


def _cell_folds(
    cx: np.ndarray,
    cy: np.ndarray,
    prep: Prepared,
    folds: np.ndarray,
    grp: np.ndarray,
    block: float | None,
    by_groups: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold and group (block or unit) of each sampled cell; fold -1: a block without samples."""
    if by_groups or block is None:
        # units are polygons we do not have here: a cell belongs to the unit of its nearest sample
        from scipy.spatial import cKDTree

        _, i = cKDTree(np.c_[prep.x, prep.y]).query(np.c_[cx, cy], k=1)
        return folds[i], grp[i]
    keys = block_keys(prep.x, prep.y, block).tolist()
    fold_of_key = dict(zip(keys, folds.tolist()))
    grp_of_key = dict(zip(keys, grp.tolist()))
    cell_keys = block_keys(cx, cy, block).tolist()
    return (
        np.array([fold_of_key.get(k, -1) for k in cell_keys], np.int64),
        np.array([grp_of_key.get(k, -1) for k in cell_keys], np.int64),
    )


def area_cells(prep: Prepared, cfg: TrainConfig, n: int = 10_000) -> SampleSet:
    """Model inputs for up to ``n`` valid cells drawn uniformly over the stack (bounded memory).

    Used for the zoning breaks a card carries: quantiles of a model's scores over these cells are
    quantiles over the training area, so every later tile and run zones with the same thresholds.
    """
    with rasterio.open(_stack_of(prep).path) as ds:
        rows, cols = _rate_cells(ds, n, cfg.seed + 1)
        return _cells_set(prep, rows, cols, cfg, ds)


def _stack_of(prep: Prepared) -> Stack:
    if prep.stack is None:
        raise ValueError("These samples were not read by prepare(): no stack travels with them.")
    return prep.stack


@contextlib.contextmanager
def _opened(stack: StackLike | DatasetReader) -> Iterator[DatasetReader]:
    """The dataset itself, or the stack opened for the ``with`` block (callers holding it open pass it)."""
    if isinstance(stack, DatasetReader):
        yield stack
        return
    with rasterio.open(as_stack(stack).path) as ds:
        yield ds


def _cells_set(prep: Prepared, rows: np.ndarray, cols: np.ndarray, cfg: TrainConfig, ds: DatasetReader) -> SampleSet:
    """Model inputs for arbitrary cells, normalised like the samples (``ds``: the open factor stack)."""
    patches = read_patches(_stack_of(prep), rows, cols, cfg.patch_size, prep.norm, ds)
    climate = None
    if prep.climate_norm is not None and prep.temporal is not None:
        climate = read_series(prep.temporal, rows, cols, prep.n_steps, prep.n_vars, prep.climate_norm)
    series = series_for(cfg.temporal_mode, patches, climate)
    z = np.zeros(rows.size, bool)
    return SampleSet(patches, series, z.astype(int), z, z.astype(int))


#: the column name of the AUC on sampled absences: what it measures, so nobody quotes it as skill
SEPARABILITY = "separability of sampled absences (AUC, not skill)"


def cv_rows(res: CVResult) -> tuple[list[str], list[list[str]]]:
    """The CV comparison table, best prediction rate first: the headline figure, then the rest.

    Columns: the prediction-rate AUC with its block-bootstrap interval and its reading in words
    (the figure to quote), then the separability of the sampled absences (the AUC that the
    sampling rule can decide), the fold spread and the other metrics on the sampled absences.
    Each factor alone follows, judged the same way.
    """
    from .rates import auc_reading

    head = ["model", "prediction-rate AUC", "prediction-rate 95% CI", "reading", SEPARABILITY,
            "separability 95% CI", "prediction-rate AUC folds sd", "separability folds mean",
            "separability folds sd"]  # fmt: skip
    head += [f"{label(k)} on sampled absences (pooled)" for k in METRICS if k != ROC_AUC] + ["warnings"]
    rows = []
    for m in ranking(res):
        mean, sd = m.mean_sd(ROC_AUC)
        fr = np.asarray(m.fold_rate_auc, float)
        fr = fr[np.isfinite(fr)]
        rows.append(
            [
                DISPLAY[m.kind],
                f"{m.rate_auc:.4f}",
                f"{m.rate_ci[0]:.3f}-{m.rate_ci[1]:.3f}",
                auc_reading(m.rate_auc, m.rate_ci),
                f"{m.pooled[ROC_AUC]:.4f}",
                f"{m.auc_ci[0]:.3f}-{m.auc_ci[1]:.3f}",
                f"{fr.std(ddof=1):.4f}" if fr.size > 1 else "",
                f"{mean:.4f}",
                f"{sd:.4f}",
                *[f"{m.pooled[k]:.4f}" for k in METRICS if k != ROC_AUC],
                "; ".join(m.flags),
            ]  # fmt: skip
        )
    blank = [""] * (len(head) - 4)
    if res.ensemble is not None:
        e = res.ensemble
        rows.append(
            [
                e.name,
                f"{e.rate_auc:.4f}",
                f"{e.rate_ci[0]:.3f}-{e.rate_ci[1]:.3f}",
                auc_reading(e.rate_auc, e.rate_ci),
                *blank[:-1],
                f"gain on the best single model {e.gain:+.3f} (paired 95 % CI {e.gain_ci[0]:+.3f} to "
                f"{e.gain_ci[1]:+.3f})",
            ]  # fmt: skip
        )
    for name, rate, ci in sorted(res.factor_rates, key=lambda f: -f[1] if np.isfinite(f[1]) else 1.0):
        reading = auc_reading(rate, ci) if np.isfinite(rate) else ""
        rows.append([f"factor alone: {name}", f"{rate:.4f}", f"{ci[0]:.3f}-{ci[1]:.3f}", reading, *blank])
    return head, rows


def fold_rows(res: CVResult) -> tuple[list[str], list[list[str]]]:
    """Per model and fold: every metric, the prediction-rate AUC and the sizes."""
    head = ["model", "fold", "prediction-rate AUC", *[f"{label(k)} on sampled absences" for k in METRICS], "n_train",
            "n_test"]  # fmt: skip
    rows = []
    for m in res.models:
        for f, fm in enumerate(m.fold_metrics):
            rows.append(
                [
                    DISPLAY[m.kind],
                    str(f + 1),
                    f"{m.fold_rate_auc[f]:.4f}",
                    *[f"{fm[k]:.4f}" for k in METRICS],
                    str(fm["n_train"]),
                    str(fm["n_test"]),
                ]  # fmt: skip
            )
    return head, rows
