"""model_convert: an old model card's pickled ``.joblib`` model converted to the data-only format."""

from __future__ import annotations

from qgis.core import QgsProcessingOutputFile, QgsProcessingParameterFile, QgsProcessingParameterFolderDestination

from .base import LandslideAlgorithm


class ConvertModelAlgorithm(LandslideAlgorithm):
    """Convert a Random Forest / XGBoost-LR / GLM / GAM card of version <= 0.2 (pickled) into a new folder.

    Why an algorithm and not only the command line: the users whose old cards ``lsm_predict``
    now refuses are QGIS users; the refusal names this tool.
    """

    NAME = "model_convert"
    DISPLAY = "Convert an old model card (.joblib)"
    GROUP = "map"
    REQUIRES = ("numpy", "sklearn", "joblib")
    MODEL, OUTPUT = "MODEL", "OUTPUT_FOLDER"

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterFile(self.MODEL, "Old model card (.json naming a .joblib)", extension="json"))
        self.add(QgsProcessingParameterFolderDestination(self.OUTPUT, "Folder for the converted card"))
        self.addOutput(QgsProcessingOutputFile("MODEL_CARD", "Converted model card"))

    def execute_engine(self, parameters, context, progress, feedback):
        from ..core.susceptibility.tabular_io import convert_joblib

        out = self.parameterAsString(parameters, self.OUTPUT, context)
        card = convert_joblib(self.parameterAsFile(parameters, self.MODEL, context), out)
        progress.log(
            f"Converted: {card.name} and its data-only model in the output folder; the old files are unchanged."
        )
        return {self.OUTPUT: out, "MODEL_CARD": str(card)}
