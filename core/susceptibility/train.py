"""Training of every model on one sample set, its figures (CV or the held-out split), and saving.

The test split (spatial blocks by default) is never seen during training, early stopping or the
hyper-parameter search: early stopping uses a validation set carved out of the *training* blocks.
After a cross-validation the models are refit on all samples (see :func:`train_all`).
``Prepared`` / ``prepare`` live in ``prepared.py`` and are re-exported here for callers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidInputError
from ..metrics import ROC_AUC
from ..model_card import SusceptibilityCard, SusceptibilityInputs
from ..progress import NullProgress, Progress, SubProgress, check
from ..runtime import pick_device
from .dataset import SampleSet
from .evaluate import degenerate_flags, metrics, roc
from .fitting import (
    EpochCallback,
    TrainConfig,
    fit_deep,
    fit_tree,
    make_augment,
    predict_deep,
    validation_split,
)
from .models import ALL_MODELS, DEEP_MODELS, DISPLAY, SERIES_MODELS, DeepHP
from .prepared import Prepared, patch_share_note, prepare, valid_cell_count
from .search import search_hyperparameters
from .tabular_io import SUFFIX as TABULAR_SUFFIX
from .tabular_io import save_tabular

if TYPE_CHECKING:
    from .cross_validation import CVResult

__all__ = ["ModelResult", "Prepared", "TrainConfig", "patch_share_note", "prepare", "train_all", "valid_cell_count"]


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
    #: its scores on the uniformly sampled training-area cells (for the zoning breaks of a mean card)
    p_area: np.ndarray = field(default_factory=lambda: np.empty(0))


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
        inputs=SusceptibilityInputs(
            factors=prep.names,
            features=prep.features,
            patch_size=cfg.patch_size if kind in DEEP_MODELS else 1,
            temporal_mode=cfg.temporal_mode.value if kind in SERIES_MODELS else "none",
            climate_bands=prep.climate_names,
            n_steps=prep.n_steps,
            n_vars=prep.n_vars,
            resolution_m=prep.grid_resolution,
        ),
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
        if cv is not None:
            progress.log(
                "Warning: the spatial CV above used the default hyper-parameters; the saved deep models use the "
                "searched ones, which the CV did not evaluate (a nested search per fold would): read their CV "
                "figures as those of the default settings."
            )
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
            searched = kind in DEEP_MODELS and hp != cfg.hp
            card_m = {
                "cv": mcv.card_metrics()
                | ({"hyperparameters": "the defaults; the saved model uses the searched ones"} if searched else {}),
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
        results.append(ModelResult(kind, m, roc(y_eval, p_eval), hist, str(card_path), p_eval, flags, model, p_area))
        if mcv is not None:
            sub.report(1.0, f"{DISPLAY[kind]}: refit on all samples")
        else:
            sub.report(1.0, f"{DISPLAY[kind]}: test AUC {m[ROC_AUC]:.3f}")
            progress.log(f"{DISPLAY[kind]} (single split): " + ", ".join(f"{k} {v:.3f}" for k, v in m.items()))
            for f in flags:
                progress.log(f"Warning: {DISPLAY[kind]} {f}.")
    return results
