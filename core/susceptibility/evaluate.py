"""Evaluation metrics of the paper: AUC, ACC, PRC, POD (recall), Kappa, MSE, and ROC curves."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    mean_squared_error,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

METRICS = ("AUC", "ACC", "PRC", "POD", "Kappa", "MSE")


def metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """All metrics of predicted probabilities ``p`` against labels ``y``.

    MSE is the Brier score (squared error of the probability), which is what a Keras model's
    ``mse`` metric reports for a sigmoid output, as in the paper.
    """
    yhat = (p >= threshold).astype(int)
    return {
        "AUC": float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan"),
        "ACC": float(accuracy_score(y, yhat)),
        "PRC": float(precision_score(y, yhat, zero_division=0)),
        "POD": float(recall_score(y, yhat, zero_division=0)),
        "Kappa": float(cohen_kappa_score(y, yhat)),
        "MSE": float(mean_squared_error(y, p)),
    }


def degenerate_flags(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> list[str]:
    """Warnings for results that must not be read like any other row of a comparison table.

    A model that calls every test sample one class, or outputs (nearly) one value, has learned
    nothing usable even if its accuracy equals the class share; an AUC near 0.5 is chance.
    """
    flags = []
    p = np.asarray(p, float)
    yhat = p >= threshold
    if yhat.all() or (~yhat).all():
        flags.append(f"predicts one class ({'landslide' if yhat.all() else 'no landslide'}) for every test sample")
    if p.size and float(np.ptp(p)) < 1e-6:
        flags.append("constant prediction")
    if len(np.unique(y)) == 2:
        auc = float(roc_auc_score(y, p))
        if abs(auc - 0.5) < 0.05:
            flags.append(f"AUC {auc:.3f} is at chance level")
    return flags


def roc(y: np.ndarray, p: np.ndarray) -> dict[str, list[float]]:
    """ROC curve points (FPR, TPR)."""
    fpr, tpr, _ = roc_curve(y, p)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
