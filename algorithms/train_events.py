"""What lsm_train tells the dock while and after it runs (epochs, ROC, confusion, importance).

Why apart from the algorithm: publishing is desktop glue; the numbers come from ``core``.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.susceptibility.evaluate import confusion
from ..core.susceptibility.models import DISPLAY
from . import events


def epoch_publisher(algorithm: str) -> Callable[[str, dict], None]:
    """An ``on_epoch`` callback that publishes each epoch's losses for the dock's training plot."""

    def on_epoch(kind: str, m: dict) -> None:
        events.publish(
            "epoch",
            algorithm=algorithm,
            model=DISPLAY[kind],
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
                    "separability": m.pooled["AUC"],
                    "flags": "; ".join(m.flags),
                }
                for m in ranking(cv)
            ],
        )
    events.publish(
        "roc",
        algorithm=algorithm,
        title="ROC out of fold, on the sampled absences (not skill)" if cv is not None else "ROC on the test split",
        curves={DISPLAY[r.kind]: {**r.roc, "auc": r.metrics["AUC"]} for r in res.results},
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
