"""Evaluation outputs: the crack evaluations' metric numbers (for models and scripts to chain on) and
what lsm_evaluate publishes to the dock."""

from __future__ import annotations

from qgis.core import QgsProcessingOutputNumber

from ..core.metrics import CRACK_EVALUATION
from . import events

#: the metrics of core.cracks.evaluate.classification_metrics, in report order
METRICS = CRACK_EVALUATION


def add_metric_outputs(alg) -> None:
    """One number output per metric and one per end of its 95 % interval (``ROC_AUC``, ``ROC_AUC_LOW``, ...)."""
    for k in METRICS:
        name = k.replace("_", " ")
        alg.addOutput(QgsProcessingOutputNumber(k.upper(), name))
        alg.addOutput(QgsProcessingOutputNumber(k.upper() + "_LOW", f"{name}, 95 % interval low"))
        alg.addOutput(QgsProcessingOutputNumber(k.upper() + "_HIGH", f"{name}, 95 % interval high"))


def metric_results(metrics: dict[str, float], intervals: dict[str, tuple[float, float]]) -> dict[str, float]:
    """The values of :func:`add_metric_outputs` (NaN where a metric is undefined, e.g. AUC of one class)."""
    out = {}
    for k in METRICS:
        out[k.upper()] = float(metrics[k])
        out[k.upper() + "_LOW"], out[k.upper() + "_HIGH"] = (float(v) for v in intervals[k])
    return out


def publish_evaluation(algorithm: str, res) -> None:
    """Rate curves of every landslide set and the first set's zone shares, for the dock."""
    events.publish(
        "roc",
        algorithm=algorithm,
        curves={
            f"{r.curve.name} (rate)": {"fpr": r.curve.area_share, "tpr": r.curve.landslide_share, "area": r.curve.auc}
            for r in res.sets
        },
    )
    first = res.sets[0]
    events.publish(
        "zones",
        algorithm=algorithm,
        zones=[z.label for z in first.zones],
        area_share=[z.area_share for z in first.zones],
        landslide_share=[z.landslide_share for z in first.zones],
    )
