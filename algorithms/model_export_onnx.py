"""model_export_onnx: a deep model (susceptibility or crack) as an ONNX file with its card inside."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
)

from ..core.onnx_models import export_onnx
from .base import LandslideAlgorithm


class ExportOnnxAlgorithm(LandslideAlgorithm):
    """Export a model card's deep model to ONNX (our runtime format, or Deepness's for crack models)."""

    NAME = "model_export_onnx"
    DISPLAY = "Export a model to ONNX"
    GROUP = "map"
    REQUIRES = ("torch", "onnx")
    MODEL, DEEPNESS, OUTPUT = "MODEL", "DEEPNESS", "OUTPUT"

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterFile(self.MODEL, "Model card (.json)", extension="json"))
        self.add(QgsProcessingParameterBoolean(self.DEEPNESS, "Deepness plugin format (crack models)", False))
        self.add(QgsProcessingParameterFileDestination(self.OUTPUT, "ONNX model", "ONNX models (*.onnx)"))

    def execute_engine(self, parameters, context, progress, feedback):
        out = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        kind = export_onnx(
            self.parameterAsFile(parameters, self.MODEL, context),
            out,
            deepness=self.parameterAsBool(parameters, self.DEEPNESS, context),
        )
        progress.log(f"Exported the '{kind}' graph to {out}")
        return {self.OUTPUT: out}
