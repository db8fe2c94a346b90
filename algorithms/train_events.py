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
            metric=m["val_acc"],
            metric_name="validation accuracy",
        )

    return on_epoch


def mapping_card(res) -> str:
    """Card of the model a chained ``lsm_predict`` maps with: the paper's CNN-LSTM-AM when trained.

    Otherwise the first trained model in the paper's order. Deliberately not "the best test AUC":
    choosing by the test split would make the reported test metrics optimistic.
    """
    by_kind = {r.kind: r.card_path for r in res.results}
    return by_kind.get("cnn_lstm_am") or (res.results[0].card_path if res.results else "")


def publish_results(algorithm: str, res) -> None:
    """ROC curves of all models, the best model's confusion matrix and SHAP importance, for the dock."""
    if not res.results:
        return
    events.publish(
        "roc",
        algorithm=algorithm,
        curves={DISPLAY[r.kind]: {**r.roc, "auc": r.metrics["AUC"]} for r in res.results},
    )
    for r in res.results:
        matrix = confusion(res.test_labels, r.test_prob)
        events.publish(
            "confusion", algorithm=algorithm, model=DISPLAY[r.kind], matrix=matrix, labels=["absence", "landslide"]
        )
    for kind, values in res.importance.items():
        events.publish("importance", algorithm=algorithm, model=DISPLAY[kind], values=dict(values))
