"""Evaluation of the paper: its metrics (AUC, ACC, PRC, POD, Kappa, MSE), ROC curves, fair-play checks."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from ..metrics import SUSCEPTIBILITY, binary_metrics

#: the paper's metrics, in the one key vocabulary of ``core.metrics`` (its labels are for display)
METRICS = SUSCEPTIBILITY


def metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """The paper's metrics of predicted probabilities ``p`` against labels ``y`` (see ``core.metrics``)."""
    return binary_metrics(y, p, threshold, METRICS)


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


#: a factor that alone separates absences from landslides better than this is flagged
SEPARABLE_AUC = 0.9
#: a factor separating the sampled absences this well alone is reported too (held-back area: NDVI or
#: rainfall alone reached 0.81-0.89 on CF-zone absences, and nothing was said)
STRONG_AUC = 0.75


def single_factor_auc(centre: np.ndarray, labels: np.ndarray, names: list[str]) -> dict[str, float]:
    """Per factor, the AUC of its value alone for absence vs landslide, folded to >= 0.5.

    Why: absences drawn by a rule on an input (slope threshold) or on a model of the inputs (CF
    zones) are separable by construction; a near-perfect single factor shows that the metrics
    measure the sampling rule rather than the model's skill.
    """
    out = {}
    for i, n in enumerate(names):
        v = centre[:, i]
        ok = np.isfinite(v)
        if len(np.unique(labels[ok])) < 2 or np.ptp(v[ok]) == 0:
            out[n] = 0.5
            continue
        a = float(roc_auc_score(labels[ok], v[ok]))
        out[n] = max(a, 1.0 - a)
    return out


def separability_flag(auc: float) -> str:
    """The fair_play.csv flag of a factor's single-factor AUC on the sampled absences."""
    if auc > SEPARABLE_AUC:
        return "separates alone"
    return "separates strongly" if auc > STRONG_AUC else ""


def fair_play_warnings(separability: dict[str, float], strategy: str | None) -> list[str]:
    """Sentences for the report when the sampling rule, not the model, may decide the metrics."""
    notes = [
        f"Factor '{n}' alone separates absences from landslides with AUC {a:.3f} (> {SEPARABLE_AUC}): "
        "metrics on these absences largely measure how the absences were drawn, not skill."
        for n, a in separability.items()
        if a > SEPARABLE_AUC
    ]
    strong = {n: a for n, a in separability.items() if STRONG_AUC < a <= SEPARABLE_AUC}
    if strong:
        listed = ", ".join(f"'{n}' {a:.3f}" for n, a in sorted(strong.items(), key=lambda t: -t[1]))
        notes.append(
            f"Factors that alone separate the sampled absences strongly (AUC > {STRONG_AUC}): {listed}. Much of any "
            "AUC on these absences is within reach of one factor; judge the models by the prediction rate."
        )
    if strategy == "slope":
        notes.append(
            "Absences were drawn by a slope threshold: where slope (or a factor derived from it) is an input, "
            "the split's AUC is decided by the sampling rule (circular)."
        )
    elif strategy == "cf":
        notes.append(
            "Absences were drawn from the certainty-factor model's low zones, itself a model of the input factors: "
            "they are separable by construction, so any AUC on them is optimistic."
        )
    return notes


def roc(y: np.ndarray, p: np.ndarray) -> dict[str, list[float]]:
    """ROC curve points (FPR, TPR)."""
    fpr, tpr, _ = roc_curve(y, p)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
