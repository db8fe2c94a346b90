"""What lsm_train tells the dock while and after it runs (epochs, ROC, confusion, importance).

Why apart from the algorithm: publishing is desktop glue; the numbers come from ``core``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..core.metrics import ROC_AUC, confusion
from ..core.susceptibility.models import DISPLAY
from . import events


def epoch_publisher(algorithm: str) -> Callable[[str, dict], None]:
    """An ``on_epoch`` callback that publishes each epoch's losses for the dock's training plot.

    With cross-validation the curves worth watching are a fold's (its validation blocks judge early
    stopping): fold 1 is shown as "<model> (CV fold 1)", the other folds are not drawn, and the refit
    on all samples, which has no validation rows, as "<model> (refit)" with its training loss only.
    """

    def on_epoch(kind: str, m: dict) -> None:
        fold = m.get("fold")
        if fold is not None and fold != 1:
            return
        if fold is not None:
            name = f"{DISPLAY[kind]} (CV fold 1)"
        elif math.isnan(m["val_loss"]):
            name = f"{DISPLAY[kind]} (refit)"
        else:
            name = DISPLAY[kind]
        events.publish(
            "epoch",
            algorithm=algorithm,
            model=name,
            epoch=m["epoch"],
            loss=m["loss"],
            val_loss=m["val_loss"],
            metric=m["val_auc"],
            metric_name="validation AUC",
        )

    return on_epoch


def publish_results(algorithm: str, res) -> None:
    """ROC curves of all models, the best model's confusion matrix and SHAP importance, for the dock."""
    if not res.results:
        return
    cv = res.cv
    if cv is not None:
        from ..core.susceptibility.cross_validation import ranking

        events.publish(
            "skill",
            algorithm=algorithm,
            note=res.mapping_note,
            rows=[
                {
                    "model": DISPLAY[m.kind],
                    "rate": m.rate_auc,
                    "rate_low": m.rate_ci[0],
                    "rate_high": m.rate_ci[1],
                    "separability": m.pooled[ROC_AUC],
                    "flags": "; ".join(m.flags),
                }
                for m in ranking(cv)
            ],
        )
    events.publish(
        "roc",
        algorithm=algorithm,
        title="ROC out of fold, on the sampled absences (not skill)" if cv is not None else "ROC on the test split",
        curves={DISPLAY[r.kind]: {**r.roc, "area": r.metrics[ROC_AUC]} for r in res.results},
    )
    for r in res.results:
        matrix = confusion(res.test_labels, r.test_prob)
        events.publish(
            "confusion",
            algorithm=algorithm,
            model=DISPLAY[r.kind],
            matrix=matrix,
            labels=["absence", "landslide"],
            where="out of fold, sampled absences" if cv is not None else "test split",
        )
    for kind, values in res.importance.items():
        events.publish("importance", algorithm=algorithm, model=DISPLAY[kind], values=dict(values))
