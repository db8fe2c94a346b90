"""crack_evaluate_scene: a crack chip layer scored against a pixel-label raster of the same scene."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorLayer,
)

from ..core.cracks.evaluate_scene import MIN_CRACK_PX, evaluate_scene
from . import events
from .base import LandslideAlgorithm
from .eval_outputs import add_metric_outputs, metric_results
from .qgis_enums import DOUBLE


class CrackEvaluateSceneAlgorithm(LandslideAlgorithm):
    """Chip-level accuracy, precision, recall, F1, FPR, ROC/PR AUC with intervals, against pixel labels."""

    NAME = "crack_evaluate_scene"
    DISPLAY = "Evaluate crack map against pixel labels"
    GROUP = "cracks"
    REQUIRES = ("sklearn",)
    CHIPS, LABELS, MIN_PX, UNFAMILIAR = "CHIPS", "LABELS", "MIN_CRACK_PX", "INCLUDE_UNFAMILIAR"
    THRESHOLD, SEED, OUTPUT, CSV = "THRESHOLD", "SEED", "OUTPUT_HTML", "CHIPS_CSV"

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterVectorLayer(self.CHIPS, "Chip layer (from crack_predict)"))
        self.add(QgsProcessingParameterRasterLayer(self.LABELS, "Crack label raster (crack pixels > 0)"))
        self.add(
            QgsProcessingParameterNumber(
                self.MIN_PX, "Crack pixels that make a crack chip", defaultValue=MIN_CRACK_PX, minValue=1
            )
        )
        self.add(QgsProcessingParameterBoolean(self.UNFAMILIAR, "Include chips unfamiliar to the model", False))
        self.add(
            QgsProcessingParameterNumber(self.THRESHOLD, "Decision threshold", DOUBLE, 0.5, minValue=0, maxValue=1)
        )
        self.add(QgsProcessingParameterNumber(self.SEED, "Bootstrap seed", defaultValue=0), advanced=True)
        self.add(QgsProcessingParameterFileDestination(self.OUTPUT, "Evaluation report", "HTML files (*.html)"))
        self.add(
            QgsProcessingParameterFileDestination(
                self.CSV, "Per-chip table (CSV)", "CSV files (*.csv)", optional=True, createByDefault=False
            )
        )
        add_metric_outputs(self)

    def execute_engine(self, parameters, context, progress, feedback):
        out = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        csv = self.parameterAsFileOutput(parameters, self.CSV, context) or None
        res = evaluate_scene(
            self.vector_file(parameters, context, self.CHIPS),
            self.parameterAsRasterLayer(parameters, self.LABELS, context).source(),
            out,
            self.parameterAsInt(parameters, self.MIN_PX, context),
            self.parameterAsBool(parameters, self.UNFAMILIAR, context),
            self.parameterAsDouble(parameters, self.THRESHOLD, context),
            csv,
            seed=self.parameterAsInt(parameters, self.SEED, context),
        )
        progress.log(
            f"{res.n_chips} labelled chips ({res.n_ambiguous} ambiguous, {res.n_unfamiliar} unfamiliar left out)"
        )
        for k, v in res.metrics.items():
            lo, hi = res.intervals[k]
            progress.log(f"{k}: {v:.3f} (95 % CI {lo:.3f}-{hi:.3f})")
        events.publish(
            "confusion", algorithm=self.NAME, model="scene", matrix=res.confusion, labels=["no crack", "crack"]
        )
        return {self.OUTPUT: out, **metric_results(res.metrics, res.intervals), **({self.CSV: csv} if csv else {})}
