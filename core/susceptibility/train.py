"""Training of the six models on one sample set, their evaluation on the held-out split, and saving.

The test split (spatial blocks by default) is never seen during training, early stopping or the
hyper-parameter search: early stopping uses a validation set carved out of the *training* blocks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidInputError
from ..model_card import SusceptibilityCard
from ..progress import NullProgress, Progress, SubProgress, check
from ..raster.stack import StackLike, as_stack, temporal_layout, temporal_variables
from ..runtime import pick_device
from ..sampling.absences import SamplingConfig, SplitMethod, split_samples
from ..sampling.points import read_points
from .dataset import (
    Normalisation,
    SampleSet,
    TemporalMode,
    band_stats,
    check_temporal_grid,
    read_patches,
    read_series,
    series_for,
)
from .evaluate import degenerate_flags, metrics, roc
from .fitting import (
    PATCH_SHARE_WARNING,
    EpochCallback,
    TrainConfig,
    fit_deep,
    fit_tree,
    make_augment,
    predict_deep,
    validation_split,
)
from .models import ALL_MODELS, DEEP_MODELS, DISPLAY, SERIES_MODELS, DeepHP
from .search import search_hyperparameters
from .tabular_io import SUFFIX as TABULAR_SUFFIX
from .tabular_io import save_tabular

if TYPE_CHECKING:
    from .cross_validation import CVResult


def valid_cell_count(stack_path: str) -> int:
    """Cells with data in every band (the study area proper), counted window by window."""
    import rasterio

    n = 0
    with rasterio.open(stack_path) as ds:
        for _, win in ds.block_windows(1):
            n += int((ds.dataset_mask(window=win) > 0).sum())
    return n


def patch_share_note(stack_path: str, patch: int) -> str | None:
    """A warning when one patch covers more than PATCH_SHARE_WARNING of the *valid* cells, with a size that would not.

    Why valid cells: a study area is rarely its bounding box; on a held-back area whose valid half
    made a 30-cell patch cover 2 % of the data, the warning counted the whole grid and stayed silent.
    """
    valid = valid_cell_count(stack_path)
    share = patch**2 / max(1, valid)
    if share <= PATCH_SHARE_WARNING:
        return None
    fits = int(np.floor(np.sqrt(PATCH_SHARE_WARNING * valid)))
    from .models import MIN_VALID_PATCH

    if fits >= MIN_VALID_PATCH:
        advice = f"a patch of {fits} cells or fewer keeps it under {PATCH_SHARE_WARNING:.0%}"
    elif fits >= 3:
        advice = (
            f"a patch of {fits} cells or fewer keeps it under {PATCH_SHARE_WARNING:.0%} (below {MIN_VALID_PATCH} the "
            "CNN pads its convolutions); or a larger study area, or the tabular models"
        )
    else:
        advice = "the area is too small for patch models: use the tabular models (RF, GLM, GAM) or a larger area"
    return (
        f"one {patch} x {patch}-cell patch covers {share:.1%} of the stack's {valid} valid cells: patches of "
        f"different samples overlap heavily, spatial blocks must be large and few, and the deep models see much "
        f"of the area around every sample; {advice}."
    )


@dataclass
class Prepared:
    """Everything read from disk for a training run."""

    data: SampleSet
    names: list[str]
    norm: Normalisation
    climate_norm: Normalisation | None
    climate_names: list[str] | None
    n_steps: int
    n_vars: int
    grid_resolution: float
    crs_wkt: str
    x: np.ndarray = field(default_factory=lambda: np.empty(0))  # sample coordinates (stack CRS)
    y: np.ndarray = field(default_factory=lambda: np.empty(0))
    attrs: dict = field(default_factory=dict)  # the samples' other fields (e.g. a mapping-unit id)
    climate_vars: list[str] | None = None  # the temporal stack's variables (e.g. rain, temp)

    @property
    def features(self) -> list[str]:
        """Names of the model-input channels (a categorical factor gives one per code)."""
        return self.norm.feature_names(self.names)


def prepare(
    stack: StackLike,
    samples: str,
    cfg: TrainConfig,
    temporal_stack: StackLike | None = None,
    label_field: str = "label",
    split_field: str = "split",
    block_size_m: float = 1000.0,
    progress: Progress | None = None,
) -> Prepared:
    """Read sample patches (and series) for every sample point of ``samples``."""
    progress = progress or NullProgress()
    info = as_stack(stack)
    if cfg.patch_size > min(info.grid.width, info.grid.height):
        raise InvalidInputError(
            f"The patch ({cfg.patch_size} x {cfg.patch_size} cells) is larger than the stack "
            f"({info.grid.width} x {info.grid.height} cells): patches would be mostly padding. Use a patch of at most "
            f"{min(info.grid.width, info.grid.height)} cells (much smaller is wiser) or a larger study area."
        )
    if any(m in DEEP_MODELS for m in cfg.models):
        note = patch_share_note(info.path, cfg.patch_size)
        if note:
            progress.log("Warning: " + note)
    pts = read_points(samples, info.grid.crs_wkt)
    if label_field not in pts.attrs:
        raise InvalidInputError(f"The sample layer has no '{label_field}' field (1 = landslide, 0 = absence).")
    rows, cols = info.grid.rowcol(pts.x, pts.y)
    inside = info.grid.inside(rows, cols)
    if not inside.any():
        raise InvalidInputError("No sample point falls inside the factor stack's grid; check CRS and extent.")
    raw = np.asarray(pts.attrs[label_field], dtype=object)[inside]
    try:
        labels_f = np.array([float(v) for v in raw], dtype=float)
    except (TypeError, ValueError) as exc:
        found = sorted({str(v) for v in raw})[:5]
        raise InvalidInputError(
            f"The '{label_field}' field must hold numbers 1 (landslide) and 0 (absence); found values like {found}. "
            "Recode it (e.g. with the field calculator) or use the samples written by lsm_sample_absences."
        ) from exc
    if not np.isin(labels_f, (0.0, 1.0)).all() or set(np.unique(labels_f)) != {0.0, 1.0}:
        raise InvalidInputError(
            f"The '{label_field}' field must hold only 1 (landslide) and 0 (absence), both present; found "
            f"{sorted(set(np.unique(labels_f).tolist()))[:6]}."
        )
    labels = labels_f.astype(int)
    rows, cols = rows[inside], cols[inside]
    x, y = pts.x[inside], pts.y[inside]
    if split_field in pts.attrs:
        is_test = np.asarray(pts.attrs[split_field])[inside].astype(str) == "test"
        blocks = np.asarray(pts.attrs.get("block", np.zeros(inside.size)))[inside].astype(int)
    else:
        is_test, blocks = split_samples(
            x, y, labels, SamplingConfig(split=SplitMethod.SPATIAL_BLOCKS, block_size_m=block_size_m, seed=cfg.seed)
        )
    if not is_test.any() or is_test.all():
        raise InvalidInputError("The samples need both 'train' and 'test' rows in their split field.")
    progress.report(0.1, "normalisation statistics")
    norm = band_stats(info, one_hot=cfg.one_hot)
    if norm.categories:
        progress.log(
            "One-hot encoding the categorical factor(s) "
            + ", ".join(f"{info.names[int(i)]} ({len(c)} classes)" for i, c in norm.categories.items())
        )
    progress.report(0.3, f"reading {rows.size} patches of {cfg.patch_size}x{cfg.patch_size}")
    patches = read_patches(info, rows, cols, cfg.patch_size, norm)
    climate = climate_norm = climate_names = climate_vars = None
    n_steps, n_vars = norm.n_channels, 1
    if cfg.temporal_mode is TemporalMode.CLIMATE:
        if not temporal_stack:
            raise InvalidInputError("Temporal mode 'climate' needs a temporal stack (monthly rainfall + temperature).")
        tinfo = as_stack(temporal_stack)
        check_temporal_grid(info.grid, tinfo)
        n_steps, n_vars = temporal_layout(tinfo)
        climate_norm = band_stats(tinfo)
        climate = read_series(tinfo, rows, cols, n_steps, n_vars, climate_norm)
        climate_names = tinfo.names
        climate_vars = temporal_variables(tinfo)
    series = series_for(cfg.temporal_mode, patches, climate)
    progress.report(1.0, "samples read")
    data = SampleSet(patches, series, labels, is_test, blocks)
    attrs = {k: np.asarray(v)[inside] for k, v in pts.attrs.items()}
    return Prepared(
        data,
        info.names,
        norm,
        climate_norm,
        climate_names,
        n_steps,
        n_vars,
        info.grid.resolution[0],
        info.grid.crs_wkt,
        x,
        y,
        attrs,
        climate_vars,
    )


@dataclass
class ModelResult:
    """One trained model with its test-split metrics."""

    kind: str
    metrics: dict[str, float]
    roc: dict[str, list[float]]
    history: dict | None
    card_path: str
    test_prob: np.ndarray
    flags: list[str] = field(default_factory=list)  # degenerate results (one class, constant, chance)
    #: the fitted model in memory (a torch module or a scikit-learn/XGBoost estimator), so that
    #: explaining it needs no second read of what was just saved
    model: Any = None


def _card(
    kind: str,
    prep: Prepared,
    cfg: TrainConfig,
    hp: DeepHP | None,
    weights: str,
    m: dict,
    extra: dict,
    training: dict,
    zoning: dict | None,
) -> SusceptibilityCard:
    return SusceptibilityCard.create(
        architecture=kind,
        weights_file=weights,
        inputs={
            "factors": prep.names,
            "features": prep.features,
            "patch_size": cfg.patch_size if kind in DEEP_MODELS else 1,
            "temporal_mode": cfg.temporal_mode.value if kind in SERIES_MODELS else "none",
            "climate_bands": prep.climate_names,
            "n_steps": prep.n_steps,
            "n_vars": prep.n_vars,
            "resolution_m": prep.grid_resolution,
        },
        normalisation={
            "factors": asdict(prep.norm),
            "climate": asdict(prep.climate_norm) if prep.climate_norm else None,
            "nodata_fill": "0 after standardisation",
        },
        classes=["absence", "landslide"],
        metrics=m,
        hyperparameters=(hp.to_dict() if hp else {}) | extra,
        training={
            "epochs_max": cfg.epochs,
            "patience": cfg.patience,
            "batch_size": cfg.batch_size,
            "seed": cfg.seed,
            **training,
        }
        | ({"zoning": zoning} if zoning else {}),
    )


def zoning_breaks(p_area: np.ndarray, n_cells: int) -> dict | None:
    """The card's zoning: quantile breaks of the model's scores over uniformly sampled training-area cells.

    Why in the card: quantiles computed by each ``lsm_predict`` run are relative to that run's
    extent, so two tiles of one region zoned the same cell differently (37 % agreement on a crop);
    breaks fixed at training make every tile and every run zone alike.
    """
    from ..raster.zoning import ZoningMethod, compute_breaks

    ok = p_area[np.isfinite(p_area)]
    if ok.size < 5:
        return None
    breaks = compute_breaks(ok, ZoningMethod.QUANTILE, 5)
    return {
        "method": "quantile",
        "breaks": breaks,
        "source": f"quantiles of this model's scores over {ok.size} valid cells drawn uniformly from the training "
        f"stack (of {n_cells} drawn)",
    }


#: fewest samples per class in the training rows (training + validation) and in the test rows of a
#: single split: below them a model learns noise and a test AUC rests on one or two landslides
MIN_TRAIN_PER_CLASS = 10
MIN_TEST_PER_CLASS = 5


def check_sample_size(labels: np.ndarray, is_test: np.ndarray) -> None:
    """Refuse a sample layer too small to train on and test, saying the minimum and how to get there.

    Why: a run on 3 landslides and 6 absences used to train and print an AUC as if it meant something.
    """
    labels, is_test = np.asarray(labels), np.asarray(is_test, bool)
    short = []
    for part, mask, need in (("training", ~is_test, MIN_TRAIN_PER_CLASS), ("test", is_test, MIN_TEST_PER_CLASS)):
        for c, name in ((1, "landslides"), (0, "absences")):
            n = int(((labels == c) & mask).sum())
            if n < need:
                short.append(f"{n} {name} in the {part} rows (at least {need} needed)")
    if short:
        raise InvalidInputError(
            "Too few samples to train and test: " + "; ".join(short) + ". Map more landslides, sample more "
            "absences (a larger ratio), or change the split (larger test share, smaller blocks) so both parts hold "
            "enough of each class."
        )


def train_all(
    prep: Prepared,
    cfg: TrainConfig,
    out_dir: str,
    progress: Progress | None = None,
    on_epoch: EpochCallback | None = None,
    cv: CVResult | None = None,
    area: SampleSet | None = None,
) -> list[ModelResult]:
    """Train every model of ``cfg.models``, save model + card, and report each model's figures.

    Without ``cv``: fitted on the training rows, evaluated on the test rows of the single split.
    With ``cv`` (the spatial cross-validation already run): **refit on all samples** and the card
    carries the CV figures, which estimate the skill of exactly this procedure; deep models train
    for the median of the folds' early-stopping epochs (no rows are left for a validation split).
    Why: a map from a model fitted on 47-69 % of the samples wastes the rest, and the single-split
    AUC it carried was the most inflated figure of all (+0.15 on a held-back area).

    ``area``: uniformly sampled cells of the stack; each card then stores quantile zoning breaks
    over the training area (see :func:`zoning_breaks`).
    """
    progress = progress or NullProgress()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = prep.data
    models = [m for m in cfg.models if m in ALL_MODELS]
    unknown = set(cfg.models) - set(ALL_MODELS)
    if unknown:
        raise InvalidInputError(f"Unknown model(s) {sorted(unknown)}; choose from {list(ALL_MODELS)}.")
    if data.series is None:
        skipped = [m for m in models if m in SERIES_MODELS]
        if skipped:
            progress.log(f"Temporal mode 'none': skipping {', '.join(skipped)} (they need an LSTM input).")
        models = [m for m in models if m not in skipped]
    by_kind = {m.kind: m for m in cv.models} if cv is not None else {}
    if cv is None:
        check_sample_size(data.labels, data.is_test)
        tr_idx, va_idx = validation_split(data, cfg.val_fraction, cfg.seed)
        te_idx = np.flatnonzero(data.is_test)
    else:
        tr_idx, va_idx = np.arange(data.labels.size), np.empty(0, np.int64)
        te_idx = np.empty(0, np.int64)
    yte = data.labels[te_idx]
    hp = cfg.hp
    if cfg.search_trials > 0 and cfg.search_model in models:
        hp = search_hyperparameters(prep, cfg, SubProgress(progress, 0.0, 0.3))
        progress.log(f"Bayesian search best hyper-parameters: {hp.to_dict()}")
    augment = make_augment(cfg, prep.features, prep.norm, prep.names)
    results = []
    start = 0.3 if cfg.search_trials > 0 else 0.0
    for k, kind in enumerate(models):
        sub = SubProgress(progress, start + (1 - start) * k / len(models), start + (1 - start) * (k + 1) / len(models))
        check(progress)
        mcv = by_kind.get(kind)
        training: dict = {"n_train": int(tr_idx.size + va_idx.size), "n_test": int(te_idx.size)}
        if kind in DEEP_MODELS:
            fit_cfg = cfg
            if mcv is not None and mcv.refit_epochs is not None:
                fit_cfg = replace(cfg, epochs=mcv.refit_epochs)
                training["epochs_refit"] = mcv.refit_epochs
            model, hist = fit_deep(
                kind, data, tr_idx, va_idx, fit_cfg, hp, len(prep.features), prep.n_vars, sub, on_epoch, augment
            )
            device = pick_device(cfg.device)  # torch only here: the tabular models train without it
            p = predict_deep(model, data.patches[te_idx], None if data.series is None else data.series[te_idx], device)
            p_area = predict_deep(model, area.patches, area.series, device) if area is not None else np.empty(0)
            weights = f"{kind}.pt"
            import torch

            torch.save(model.state_dict(), out / weights)
            extra: dict = {
                "n_factors": len(prep.features),
                "n_vars": prep.n_vars,
                "ensemble": max(1, cfg.ensemble),
                "augment": cfg.augment,
                "class_weight": cfg.class_weight,
            }
            used_hp: DeepHP | None = hp
        else:
            trn = np.concatenate([tr_idx, va_idx])  # trees need no early stopping set
            model = fit_tree(kind, data.centre[trn], data.labels[trn], cfg)
            p = model.predict_proba(data.centre[te_idx])[:, 1] if te_idx.size else np.empty(0)
            p_area = model.predict_proba(area.centre)[:, 1] if area is not None else np.empty(0)
            hist = None
            weights = f"{kind}{TABULAR_SUFFIX}"
            save_tabular(model, kind, out / weights)
            extra = {"trees": cfg.rf_trees if kind == "rf" else cfg.xgb_trees} if kind in ("rf", "xgb_lr") else {}
            used_hp = None
        if mcv is not None and cv is not None:
            y_eval, p_eval = data.labels, mcv.oof
            m = mcv.pooled
            flags = list(mcv.flags)
            card_m = {
                "cv": mcv.card_metrics(),
                "split": cv.split_note,
                "fit": f"refit on all {data.labels.size} samples after the cross-validation; the CV figures "
                "estimate the skill of this procedure",
            }
            training["fit_on"] = "all samples"
        else:
            y_eval, p_eval = yte, p
            m = metrics(yte, p)
            flags = degenerate_flags(yte, p)
            card_m = {
                "test": {**m, "flags": flags},
                "split": "held-out test rows of the sample layer (spatial blocks unless chosen otherwise)",
            }
            training["fit_on"] = "training rows of the split"
        zoning = zoning_breaks(p_area, area.labels.size) if area is not None else None
        card = _card(kind, prep, cfg, used_hp, weights, card_m, extra, training, zoning)
        card_path = out / f"{kind}.json"
        card.save(card_path)
        results.append(ModelResult(kind, m, roc(y_eval, p_eval), hist, str(card_path), p_eval, flags, model))
        if mcv is not None:
            sub.report(1.0, f"{DISPLAY[kind]}: refit on all samples")
        else:
            sub.report(1.0, f"{DISPLAY[kind]}: test AUC {m['AUC']:.3f}")
            progress.log(f"{DISPLAY[kind]} (single split): " + ", ".join(f"{k} {v:.3f}" for k, v in m.items()))
            for f in flags:
                progress.log(f"Warning: {DISPLAY[kind]} {f}.")
    return results
