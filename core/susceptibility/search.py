"""Bayesian hyper-parameter search (paper Sect. 2.9): Gaussian-process sampler, 3 spatial folds.

Folds are grouped by spatial block (``GroupKFold``) inside the *training* rows only, so the test
split stays untouched. The objective is the mean validation binary cross-entropy, as in the paper.
The L2 interval of the paper ([0.1, 0.5]) is meant for Keras kernel regularisers; as Adam weight
decay it would swamp the loss, so the search uses [1e-5, 1e-1] on a log scale (documented choice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .fitting import TrainConfig
    from .prepared import Prepared


import numpy as np

from ..errors import MissingDependencyError
from ..progress import NullProgress, Progress, check
from .fitting import fit_deep, make_augment, predict_deep
from .models import DeepHP


def search_hyperparameters(prep: Prepared, cfg: TrainConfig, progress: Progress | None = None) -> DeepHP:
    """Best :class:`DeepHP` for ``cfg.search_model`` after ``cfg.search_trials`` trials."""
    progress = progress or NullProgress()
    try:
        import optuna
    except ImportError as exc:
        raise MissingDependencyError("The Bayesian search needs optuna: pip install optuna") from exc
    import torch
    from sklearn.model_selection import GroupKFold
    from torch import nn

    from ..runtime import pick_device

    data = prep.data
    tr = np.flatnonzero(~data.is_test)
    groups = data.blocks[tr]
    n_folds = min(3, len(np.unique(groups)))
    folds = list(GroupKFold(n_splits=n_folds).split(tr, groups=groups)) if n_folds >= 2 else []
    device = pick_device(cfg.device)
    bce = nn.BCELoss()

    def objective(trial: "optuna.Trial") -> float:
        hp = DeepHP(
            filters=trial.suggest_int("filters", 16, 128, log=True),
            lr=trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            l2=trial.suggest_float("l2", 1e-5, 1e-1, log=True),
            dropout=trial.suggest_float("dropout", 0.1, 0.5),
            activation=trial.suggest_categorical("activation", ["relu", "tanh", "sigmoid"]),
            lstm_units=trial.suggest_int("lstm_units", 32, 256, log=True),
            lstm_layers=trial.suggest_int("lstm_layers", 1, 3),
            lstm_dropout=trial.suggest_float("lstm_dropout", 0.1, 0.5),
            cnn_padding=cfg.hp.cnn_padding,
            centre_skip=cfg.hp.centre_skip,
        )
        losses = []
        for a, b in folds:
            check(progress)
            model, _ = fit_deep(
                cfg.search_model,
                data,
                tr[a],
                tr[b],
                cfg,
                hp,
                len(prep.features),
                prep.n_vars,
                augment=make_augment(cfg, prep.features, prep.norm, prep.names),
            )
            p = predict_deep(model, data.patches[tr[b]], None if data.series is None else data.series[tr[b]], device)
            y = torch.from_numpy(data.labels[tr[b]].astype(np.float32))
            losses.append(float(bce(torch.from_numpy(np.clip(p, 1e-6, 1 - 1e-6)), y)))
        progress.report(
            (trial.number + 1) / cfg.search_trials, f"search trial {trial.number + 1}: BCE {np.mean(losses):.3f}"
        )
        return float(np.mean(losses))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler: optuna.samplers.BaseSampler
    try:
        sampler = optuna.samplers.GPSampler(seed=cfg.seed)
    except (AttributeError, ImportError):  # GPSampler needs optuna >= 3.6 with torch
        sampler = optuna.samplers.TPESampler(seed=cfg.seed)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.optimize(objective, n_trials=cfg.search_trials)
    return DeepHP(**{**cfg.hp.to_dict(), **study.best_params})
