"""Crack Processing algorithms: crack_tile, crack_train, crack_predict, crack_gradcam."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputFile,
    QgsProcessingOutputHtml,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)

from ..core.cracks.chips import AUTO_ALPHA, ChipSpec, iter_chips
from ..core.cracks.models import ARCHITECTURES
from ..core.cracks.predict import gradcam_chips, gradcam_overlays, predict_orthomosaic, write_chip_layer
from ..core.cracks.train import CrackTrainConfig, train_crack_model
from ..core.errors import InvalidInputError
from ..core.progress import check
from ..core.raster.grid import Grid
from ..core.raster.io import write_text_atomic
from . import events
from .base import LandslideAlgorithm
from .styling import crack_probability_qml, gradcam_qml

ARCH_NAMES = ["CNN (3 conv + 2 FC)", "ResNet50", "ResNet50 + SE (layer4)"]


class _ChipParams:
    """Chip-grid parameters shared by the orthomosaic algorithms."""

    INPUT, RGB, ALPHA, CHIP, STRIDE, MIN_VALID = "INPUT", "RGB_BANDS", "ALPHA_BAND", "CHIP_PX", "STRIDE_PX", "MIN_VALID"

    def add_chip_params(self, alg: LandslideAlgorithm, stride_default: int) -> None:
        alg.add(QgsProcessingParameterRasterLayer(self.INPUT, "Orthomosaic (8-bit RGB, projected CRS)"))
        alg.add(QgsProcessingParameterString(self.RGB, "Bands mapped to R,G,B", "1,2,3"))
        alg.add(
            QgsProcessingParameterNumber(
                self.ALPHA,
                "Alpha band (-1 = the band declared alpha, 0 = none; alpha 0 is nodata)",
                defaultValue=AUTO_ALPHA,
                minValue=AUTO_ALPHA,
            )
        )
        alg.add(QgsProcessingParameterNumber(self.CHIP, "Chip size (px)", defaultValue=227, minValue=8))
        alg.add(
            QgsProcessingParameterNumber(
                self.STRIDE, "Stride (px; smaller than the chip = overlap)", defaultValue=stride_default, minValue=1
            )
        )
        alg.add(
            QgsProcessingParameterNumber(
                self.MIN_VALID,
                "Minimum valid fraction of a chip",
                QgsProcessingParameterNumber.Double,
                0.5,
                minValue=0.0,
                maxValue=1.0,
            )
        )

    def chip_spec(self, alg, parameters, context) -> ChipSpec:
        try:
            rgb = tuple(int(b) for b in alg.parameterAsString(parameters, self.RGB, context).split(","))
        except ValueError as exc:
            raise InvalidInputError("RGB bands must be three comma-separated band numbers, e.g. 1,2,3.") from exc
        if len(rgb) != 3:
            raise InvalidInputError("RGB bands must be exactly three band numbers, e.g. 1,2,3.")
        return ChipSpec(
            alg.parameterAsInt(parameters, self.CHIP, context),
            alg.parameterAsInt(parameters, self.STRIDE, context),
            rgb,  # type: ignore[arg-type]
            alg.parameterAsInt(parameters, self.ALPHA, context),
            alg.parameterAsDouble(parameters, self.MIN_VALID, context),
        )


class CrackTileAlgorithm(LandslideAlgorithm, _ChipParams):
    """Chip index layer (and optionally chip images) over an orthomosaic."""

    NAME = "crack_tile"
    DISPLAY = "Tile orthomosaic into chips"
    GROUP = "cracks"
    OUTPUT, IMAGES = "OUTPUT", "IMAGE_FOLDER"

    def initAlgorithm(self, config=None):  # noqa: D102
        self.add_chip_params(self, 227)
        self.add(QgsProcessingParameterVectorDestination(self.OUTPUT, "Chip index"))
        self.add(
            QgsProcessingParameterFolderDestination(
                self.IMAGES, "Chip images (for labelling)", optional=True, createByDefault=False
            )
        )

    def execute_engine(self, parameters, context, progress, feedback):  # noqa: D102
        src = self.parameterAsRasterLayer(parameters, self.INPUT, context).source()
        spec = self.chip_spec(self, parameters, context)
        folder = self.parameterAsString(parameters, self.IMAGES, context) if parameters.get(self.IMAGES) else ""
        chips = []
        for chip, rgb in iter_chips(src, spec):
            check(progress)
            chips.append(chip)
            if folder:
                from PIL import Image

                Path(folder).mkdir(parents=True, exist_ok=True)
                Image.fromarray(rgb.transpose(1, 2, 0)).save(Path(folder) / f"chip_r{chip.row:04d}_c{chip.col:04d}.png")
        if not chips:
            raise InvalidInputError("No chip has enough valid pixels: the area is all nodata.")
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        if not out.lower().endswith(".gpkg"):
            out = out.rsplit(".", 1)[0] + ".gpkg"
        write_chip_layer(out, Grid.from_path(src), chips, probability=False)
        progress.log(f"{len(chips)} chips")
        return {self.OUTPUT: out, self.IMAGES: folder}


class CrackTrainAlgorithm(LandslideAlgorithm):
    """Train a crack classifier, optionally with two-stage transfer learning."""

    NAME = "crack_train"
    DISPLAY = "Train crack classifier"
    GROUP = "cracks"
    REQUIRES = ("torch", "torchvision", "sklearn", "PIL")
    (
        TARGET,
        SOURCE,
        ARCH,
        EPOCHS,
        BATCH,
        LR,
        INPUT_PX,
        SE_R,
        LOSS,
        POS_FRACTION,
        WEIGHTS,
        SEED,
        OUTPUT_FOLDER,
        CARD,
        METRICS,
    ) = (
        "TARGET_FOLDER",
        "SOURCE_FOLDER",
        "ARCHITECTURE",
        "EPOCHS",
        "BATCH_SIZE",
        "LEARNING_RATE",
        "INPUT_PX",
        "SE_REDUCTION",
        "LOSS",
        "POSITIVE_FRACTION",
        "IMAGENET_WEIGHTS",
        "SEED",
        "OUTPUT_FOLDER",
        "MODEL_CARD",
        "METRICS",
    )

    def initAlgorithm(self, config=None):  # noqa: D102
        d = CrackTrainConfig()
        self.add(
            QgsProcessingParameterFile(
                self.TARGET, "Target images (crack/, no_crack/)", QgsProcessingParameterFile.Folder
            )
        )
        self.add(
            QgsProcessingParameterFile(
                self.SOURCE,
                "Source images for pretraining (e.g. concrete cracks)",
                QgsProcessingParameterFile.Folder,
                optional=True,
            )
        )
        self.add(QgsProcessingParameterEnum(self.ARCH, "Architecture", ARCH_NAMES, defaultValue=2))
        self.add(QgsProcessingParameterNumber(self.EPOCHS, "Maximum epochs", defaultValue=d.epochs, minValue=1))
        self.add(
            QgsProcessingParameterNumber(self.BATCH, "Batch size", defaultValue=d.batch_size, minValue=2), advanced=True
        )
        self.add(
            QgsProcessingParameterNumber(
                self.LR, "Learning rate", QgsProcessingParameterNumber.Double, d.lr, minValue=1e-7
            ),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterNumber(self.INPUT_PX, "Input size (px)", defaultValue=d.input_px, minValue=32),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterNumber(self.SE_R, "SE reduction r", defaultValue=d.se_reduction, minValue=1),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterEnum(
                self.LOSS, "Loss", ["Class-weighted cross-entropy", "Focal loss", "Cross-entropy"], defaultValue=0
            )
        )
        self.add(
            QgsProcessingParameterNumber(
                self.POS_FRACTION,
                "Share of crack images kept (imbalance experiment)",
                QgsProcessingParameterNumber.Double,
                1.0,
                minValue=0.05,
                maxValue=1.0,
            ),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterFile(self.WEIGHTS, "Local ImageNet ResNet50 weights (.pth, optional)", optional=True),
            advanced=True,
        )
        self.add(QgsProcessingParameterNumber(self.SEED, "Random seed", defaultValue=d.seed))
        self.add(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Output folder"))
        self.addOutput(QgsProcessingOutputFile(self.CARD, "Model card"))
        self.addOutput(QgsProcessingOutputHtml(self.METRICS, "Test metrics"))

    def execute_engine(self, parameters, context, progress, feedback):  # noqa: D102
        cfg = CrackTrainConfig(
            arch=ARCHITECTURES[self.parameterAsEnum(parameters, self.ARCH, context)],
            epochs=self.parameterAsInt(parameters, self.EPOCHS, context),
            batch_size=self.parameterAsInt(parameters, self.BATCH, context),
            lr=self.parameterAsDouble(parameters, self.LR, context),
            input_px=self.parameterAsInt(parameters, self.INPUT_PX, context),
            se_reduction=self.parameterAsInt(parameters, self.SE_R, context),
            loss=["weighted_ce", "focal", "ce"][self.parameterAsEnum(parameters, self.LOSS, context)],
            positive_fraction=self.parameterAsDouble(parameters, self.POS_FRACTION, context),
            imagenet_weights=self.parameterAsFile(parameters, self.WEIGHTS, context) or None,
            seed=self.parameterAsInt(parameters, self.SEED, context),
        )
        out = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        source = self.parameterAsFile(parameters, self.SOURCE, context) or None
        events.publish("run_started", algorithm=self.NAME, title=f"Crack classifier {cfg.arch}")
        stage = {"name": "pretrain" if source else "train", "seen": 0}

        def on_epoch(m: dict) -> None:
            if source and m["epoch"] == 1 and stage["seen"]:
                stage["name"] = "fine-tune"  # the second stage starts again at epoch 1
            stage["seen"] += 1
            events.publish(
                "epoch",
                algorithm=self.NAME,
                model=f"{cfg.arch} ({stage['name']})",
                epoch=m["epoch"],
                loss=m["loss"],
                val_loss=m["val_loss"],
                metric=m["val_acc"],
                metric_name="validation accuracy",
            )

        card, m = train_crack_model(
            self.parameterAsFile(parameters, self.TARGET, context), out, cfg, source, progress, on_epoch
        )
        events.publish(
            "confusion", algorithm=self.NAME, model=Path(card).stem, matrix=m["confusion"], labels=["no crack", "crack"]
        )
        rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in m.items())
        html = str(Path(out) / (Path(card).stem + "_metrics.html"))
        write_text_atomic(
            html, f"<html><body><h2>{cfg.arch} test metrics</h2><table border='1'>{rows}</table></body></html>"
        )
        progress.log(", ".join(f"{k} {v:.3f}" for k, v in m.items() if isinstance(v, float)))
        return {self.OUTPUT_FOLDER: out, self.CARD: card, self.METRICS: html}


class CrackPredictAlgorithm(LandslideAlgorithm, _ChipParams):
    """Crack-probability raster and chip layer over an orthomosaic."""

    NAME = "crack_predict"
    DISPLAY = "Predict crack probability"
    GROUP = "cracks"
    REQUIRES = ("torch", "torchvision")
    MODEL, THRESHOLD, OUTPUT, CHIPS, GRADCAM = "MODEL", "THRESHOLD", "OUTPUT", "CHIPS", "GRADCAM"
    MASK = "MASK_UNFAMILIAR"
    IMAGES, OVERLAYS = "IMAGES", "OVERLAY_FOLDER"
    WITH_GRADCAM = False

    def initAlgorithm(self, config=None):  # noqa: D102
        self.add(QgsProcessingParameterFile(self.MODEL, "Model card (.json from crack_train)", extension="json"))
        self.add_chip_params(self, 113)
        self.add(
            QgsProcessingParameterNumber(
                self.THRESHOLD,
                "Display threshold (transparent below)",
                QgsProcessingParameterNumber.Double,
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
        self.add(QgsProcessingParameterRasterDestination(self.OUTPUT, "Crack probability"))
        self.add(QgsProcessingParameterVectorDestination(self.CHIPS, "Chips with probability"))
        if self.WITH_GRADCAM:
            self.add(QgsProcessingParameterRasterDestination(self.GRADCAM, "Grad-CAM heatmap"))
            self.add(
                QgsProcessingParameterMultipleLayers(
                    self.IMAGES, "Images for PNG overlays (optional)", QgsProcessing.TypeFile, optional=True
                )
            )
            self.add(
                QgsProcessingParameterFolderDestination(
                    self.OVERLAYS, "Grad-CAM PNG overlays", optional=True, createByDefault=False
                )
            )

    def execute_engine(self, parameters, context, progress, feedback):  # noqa: D102
        src = self.parameterAsRasterLayer(parameters, self.INPUT, context).source()
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        cam = self.parameterAsOutputLayer(parameters, self.GRADCAM, context) if self.WITH_GRADCAM else None
        res = predict_orthomosaic(
            self.parameterAsFile(parameters, self.MODEL, context),
            src,
            out,
            self.chip_spec(self, parameters, context),
            cam,
            progress=progress,
            mask_unfamiliar=self.parameterAsBool(parameters, self.MASK, context),
        )
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
                items = gradcam_chips(self.parameterAsFile(parameters, self.MODEL, context), images)
                pngs = gradcam_overlays(items, folder)
                events.publish("gradcam", algorithm=self.NAME, items=items)
                progress.log(f"{len(pngs)} Grad-CAM overlays in {folder}")
                result[self.OVERLAYS] = folder
        return result


class CrackGradcamAlgorithm(CrackPredictAlgorithm):
    """Grad-CAM heatmap raster (plus probabilities) over an orthomosaic."""

    NAME = "crack_gradcam"
    DISPLAY = "Grad-CAM heatmap over orthomosaic"
    REQUIRES = ("torch", "torchvision", "captum")
    WITH_GRADCAM = True


CRACK_ALGORITHMS = [CrackTileAlgorithm, CrackTrainAlgorithm, CrackPredictAlgorithm, CrackGradcamAlgorithm]
