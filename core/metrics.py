"""One vocabulary of classification metrics for both tasks (issue 22).

Why one module: the susceptibility half spelled its metrics with the paper's labels (AUC, ACC,
PRC, POD), the crack trainer with ``auc`` and the crack evaluation with ``roc_auc``, so one crack
card held both ``auc`` and ``roc_auc`` and every reader had to know which writer it met. Keys are
now the ones below everywhere (cards, tables' data, events); the paper's labels are display only
(:data:`PAPER_LABELS`), and :func:`canonical_keys` renames the old spellings when an old card is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

#: every metric key either task writes, in report order
ROC_AUC, PR_AUC = "roc_auc", "pr_auc"
ACCURACY, PRECISION, RECALL, F1 = "accuracy", "precision", "recall", "f1"
FALSE_POSITIVE_RATE, KAPPA, MSE = "false_positive_rate", "kappa", "mse"
ALL = (ROC_AUC, ACCURACY, PRECISION, RECALL, F1, FALSE_POSITIVE_RATE, KAPPA, MSE, PR_AUC)

#: the susceptibility paper's metrics (Sect. 3.4), in its order
SUSCEPTIBILITY = (ROC_AUC, ACCURACY, PRECISION, RECALL, KAPPA, MSE)
#: what a crack evaluation reports (with intervals)
CRACK_EVALUATION = (ACCURACY, PRECISION, RECALL, F1, FALSE_POSITIVE_RATE, ROC_AUC, PR_AUC)
#: what a crack training run reports on its test split
CRACK_TRAINING = (ACCURACY, RECALL, PRECISION, F1, ROC_AUC)

#: the susceptibility paper's labels (for tables and plots only; never a key)
PAPER_LABELS = {ROC_AUC: "AUC", ACCURACY: "ACC", PRECISION: "PRC", RECALL: "POD", KAPPA: "Kappa", MSE: "MSE"}

#: old spellings (cards of version 1, history files): the paper's labels and the crack trainer's ``auc``
LEGACY = {label: key for key, label in PAPER_LABELS.items()} | {"auc": ROC_AUC}


def label(key: str) -> str:
    """The paper's label of a metric key where it has one (``roc_auc`` -> ``AUC``), else the key."""
    return PAPER_LABELS.get(key, key)


def canonical_keys(d: Mapping[str, Any]) -> dict[str, Any]:
    """``d`` with old metric spellings renamed (``AUC``/``auc`` -> ``roc_auc``, ``POD`` -> ``recall`` ...).

    A key already in the new spelling wins over its old twin (a crack card of version 1 held both
    ``auc`` and ``roc_auc`` in different sections, never in one).
    """
    out = {LEGACY.get(k, k): v for k, v in d.items() if k in LEGACY and LEGACY[k] not in d}
    out.update({k: v for k, v in d.items() if k not in LEGACY})
    return out


def confusion(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> list[list[int]]:
    """``[[TN, FP], [FN, TP]]`` at ``threshold`` (rows: truth negative / positive; columns: predicted)."""
    truth = np.asarray(y).astype(int)
    pred = (np.asarray(p) >= threshold).astype(int)
    return [[int(((truth == t) & (pred == q)).sum()) for q in (0, 1)] for t in (0, 1)]


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5, keys: Iterable[str] = ALL) -> dict[str, float]:
    """The metrics ``keys`` of probabilities ``p`` against 0/1 labels ``y`` at ``threshold``.

    Undefined values are NaN, never a silent 0: precision with no positive prediction, recall with
    no positive label, either AUC with one class only. ``mse`` is the Brier score (the squared error
    of the probability), which is what a Keras model's ``mse`` metric reports for a sigmoid output,
    as in the susceptibility paper. Kappa is Cohen's (chance-corrected agreement at the threshold).
    """
    from sklearn.metrics import average_precision_score, cohen_kappa_score, roc_auc_score

    y = np.asarray(y).astype(int)
    p = np.asarray(p, float)
    (tn, fp), (fn, tp) = confusion(y, p, threshold)
    nan = float("nan")
    both = len(np.unique(y)) == 2
    prec = tp / (tp + fp) if tp + fp else nan
    rec = tp / (tp + fn) if tp + fn else nan
    found: dict[str, float] = {}
    for k in keys:
        if k == ROC_AUC:
            found[k] = float(roc_auc_score(y, p)) if both else nan
        elif k == PR_AUC:
            found[k] = float(average_precision_score(y, p)) if both else nan
        elif k == ACCURACY:
            found[k] = (tp + tn) / y.size if y.size else nan
        elif k == PRECISION:
            found[k] = prec
        elif k == RECALL:
            found[k] = rec
        elif k == F1:
            found[k] = 2 * prec * rec / (prec + rec) if np.isfinite(prec) and np.isfinite(rec) and prec + rec else nan
        elif k == FALSE_POSITIVE_RATE:
            found[k] = fp / (fp + tn) if fp + tn else nan
        elif k == KAPPA:
            found[k] = float(cohen_kappa_score(y, (p >= threshold).astype(int))) if y.size else nan
        elif k == MSE:
            found[k] = float(np.mean((p - y) ** 2)) if y.size else nan
        else:
            raise ValueError(f"Unknown metric '{k}': one of {', '.join(ALL)}.")
    return {k: float(v) for k, v in found.items()}
