"""lsm_train: CNN-LSTM-AM and the five baselines, compared on the held-out split."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputFile,
    QgsProcessingOutputHtml,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
)

from ..core.susceptibility.comparison import run_training
from ..core.susceptibility.cross_validation import CVConfig
from ..core.susceptibility.dataset import TemporalMode
from ..core.susceptibility.models import ALL_MODELS, DISPLAY, DeepHP
from ..core.susceptibility.train import TrainConfig
from . import events
from .base import LandslideAlgorithm

MODES = [TemporalMode.FACTOR_SEQUENCE, TemporalMode.CLIMATE, TemporalMode.NONE]


class TrainAlgorithm(LandslideAlgorithm):
    """Train, evaluate, explain and save susceptibility models."""

    NAME = "lsm_train"
    DISPLAY = "Train and compare susceptibility models"
    GROUP = "train"
    REQUIRES = ("rasterio", "torch", "sklearn", "xgboost", "shap", "matplotlib")
    CV_FOLDS, CV_BLOCK, CV_BUFFER, CV_GROUPS = "CV_FOLDS", "CV_BLOCK_M", "CV_BUFFER_M", "CV_GROUP_FIELD"
    CLASS_WEIGHT, AUGMENT, ENSEMBLE, ONE_HOT = "CLASS_WEIGHT", "AUGMENT", "ENSEMBLE", "ONE_HOT"
    (
        STACK,
        SAMPLES,
        TEMPORAL,
        MODE,
        MODELS,
        PATCH,
        EPOCHS,
        BATCH,
        PATIENCE,
        LR,
        TRIALS,
        SHAP,
        SEED,
        DEVICE,
        OUTPUT_FOLDER,
        TABLE_HTML,
        TABLE_CSV,
        CARD,
    ) = (
        "STACK",
        "SAMPLES",
        "TEMPORAL_STACK",
        "TEMPORAL_MODE",
        "MODELS",
        "PATCH_SIZE",
        "EPOCHS",
        "BATCH_SIZE",
        "PATIENCE",
        "LEARNING_RATE",
        "SEARCH_TRIALS",
        "SHAP_SAMPLES",
        "SEED",
        "DEVICE",
        "OUTPUT_FOLDER",
        "TABLE_HTML",
        "TABLE_CSV",
        "MODEL_CARD",
    )

    def initAlgorithm(self, config=None):
        d = TrainConfig()
        self.add(QgsProcessingParameterRasterLayer(self.STACK, "Factor stack"))
        self.add(
            QgsProcessingParameterVectorLayer(
                self.SAMPLES, "Samples (label 1/0, split train/test)", [QgsProcessing.TypeVectorPoint]
            )
        )
        self.add(QgsProcessingParameterRasterLayer(self.TEMPORAL, "Temporal (climate) stack", optional=True))
        self.add(
            QgsProcessingParameterEnum(
                self.MODE,
                "LSTM input",
                [
                    "Factor sequence (no climate data)",
                    "Monthly climate series (temporal stack)",
                    "None (no LSTM models)",
                ],
                defaultValue=0,
            )
        )
        self.add(
            QgsProcessingParameterEnum(
                self.MODELS,
                "Models",
                [DISPLAY[m] for m in ALL_MODELS],
                allowMultiple=True,
                defaultValue=list(range(len(ALL_MODELS))),
            )
        )
        self.add(
            QgsProcessingParameterNumber(
                self.PATCH, "Patch size (cells)", defaultValue=d.patch_size, minValue=4, maxValue=128
            )
        )
        self.add(QgsProcessingParameterNumber(self.EPOCHS, "Maximum epochs", defaultValue=d.epochs, minValue=1))
        self.add(
            QgsProcessingParameterNumber(self.BATCH, "Batch size", defaultValue=d.batch_size, minValue=2), advanced=True
        )
        self.add(
            QgsProcessingParameterNumber(
                self.PATIENCE, "Early-stopping patience (epochs)", defaultValue=d.patience, minValue=1
            ),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterNumber(
                self.LR, "Learning rate", QgsProcessingParameterNumber.Double, DeepHP().lr, minValue=1e-6, maxValue=1.0
            ),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterNumber(self.TRIALS, "Bayesian search trials (0 = off)", defaultValue=0, minValue=0)
        )
        self.add(
            QgsProcessingParameterNumber(
                self.SHAP, "Test samples explained with SHAP (0 = off)", defaultValue=d.shap_samples, minValue=0
            ),
            advanced=True,
        )
        c = CVConfig()
        self.add(
            QgsProcessingParameterNumber(
                self.CV_FOLDS,
                "Spatial cross-validation folds (0 = single split only)",
                defaultValue=c.folds,
                minValue=0,
            )
        )
        self.add(
            QgsProcessingParameterNumber(
                self.CV_BLOCK,
                "CV block size (m; 0 = the factors' correlation length)",
                QgsProcessingParameterNumber.Double,
                c.block_m,
                minValue=0,
            ),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterNumber(
                self.CV_BUFFER,
                "CV buffer between training and test samples (m)",
                QgsProcessingParameterNumber.Double,
                c.buffer_m,
                minValue=0,
            ),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterString(
                self.CV_GROUPS, "CV groups: samples' mapping-unit field (empty: spatial blocks)", optional=True
            ),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterBoolean(
                self.CLASS_WEIGHT, "Weight landslides by the absence:landslide ratio (deep models)", d.class_weight
            ),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterBoolean(
                self.AUGMENT, "Augment patches by rotations/mirrors (directions rotated with them)", d.augment
            ),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterNumber(
                self.ENSEMBLE, "Seed ensemble: members per deep model", defaultValue=d.ensemble, minValue=1, maxValue=20
            ),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterBoolean(self.ONE_HOT, "One-hot encode categorical factors", d.one_hot),
            advanced=True,
        )
        self.add(QgsProcessingParameterNumber(self.SEED, "Random seed", defaultValue=d.seed))
        self.add(QgsProcessingParameterString(self.DEVICE, "Device (auto, cpu, cuda)", "auto"), advanced=True)
        self.add(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Output folder (models, tables, figures)"))
        self.addOutput(QgsProcessingOutputHtml(self.TABLE_HTML, "Comparison table"))
        self.addOutput(QgsProcessingOutputFile(self.TABLE_CSV, "Comparison table (CSV)"))
        self.addOutput(QgsProcessingOutputFile(self.CARD, "Model card of the model to map (CNN-LSTM-AM when trained)"))

    def execute_engine(self, parameters, context, progress, feedback):
        stack = self.parameterAsRasterLayer(parameters, self.STACK, context)
        temporal = self.parameterAsRasterLayer(parameters, self.TEMPORAL, context)
        models = tuple(ALL_MODELS[i] for i in self.parameterAsEnums(parameters, self.MODELS, context))
        cfg = TrainConfig(
            models=models,
            patch_size=self.parameterAsInt(parameters, self.PATCH, context),
            temporal_mode=MODES[self.parameterAsEnum(parameters, self.MODE, context)],
            epochs=self.parameterAsInt(parameters, self.EPOCHS, context),
            batch_size=self.parameterAsInt(parameters, self.BATCH, context),
            patience=self.parameterAsInt(parameters, self.PATIENCE, context),
            hp=DeepHP(lr=self.parameterAsDouble(parameters, self.LR, context)),
            search_trials=self.parameterAsInt(parameters, self.TRIALS, context),
            shap_samples=self.parameterAsInt(parameters, self.SHAP, context),
            seed=self.parameterAsInt(parameters, self.SEED, context),
            class_weight=self.parameterAsBool(parameters, self.CLASS_WEIGHT, context),
            augment=self.parameterAsBool(parameters, self.AUGMENT, context),
            ensemble=self.parameterAsInt(parameters, self.ENSEMBLE, context),
            one_hot=self.parameterAsBool(parameters, self.ONE_HOT, context),
            device=self.parameterAsString(parameters, self.DEVICE, context) or "auto",
        )
        out = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        folds = self.parameterAsInt(parameters, self.CV_FOLDS, context)
        cv = None
        if folds >= 2:
            cv = CVConfig(
                folds=folds,
                block_m=self.parameterAsDouble(parameters, self.CV_BLOCK, context),
                buffer_m=self.parameterAsDouble(parameters, self.CV_BUFFER, context),
            )
        group_field = self.parameterAsString(parameters, self.CV_GROUPS, context).strip() or None

        events.publish("run_started", algorithm=self.NAME, title="Susceptibility models")

        def on_epoch(kind: str, m: dict) -> None:
            events.publish(
                "epoch",
                algorithm=self.NAME,
                model=DISPLAY[kind],
                epoch=m["epoch"],
                loss=m["loss"],
                val_loss=m["val_loss"],
                metric=m["val_acc"],
                metric_name="validation accuracy",
            )

        res = run_training(
            stack.source(),
            self.vector_file(parameters, context, self.SAMPLES),
            out,
            cfg,
            temporal.source() if temporal else None,
            progress,
            on_epoch,
            cv=cv,
            group_field=group_field,
        )
        publish_results(self.NAME, res)
        return {
            self.OUTPUT_FOLDER: out,
            self.TABLE_HTML: res.table_html,
            self.TABLE_CSV: res.table_csv,
            self.CARD: mapping_card(res),
        }


def mapping_card(res) -> str:
    """Card of the model a chained ``lsm_predict`` maps with: the paper's CNN-LSTM-AM when trained.

    Otherwise the first trained model in the paper's order. Deliberately not "the best test AUC":
    choosing by the test split would make the reported test metrics optimistic.
    """
    by_kind = {r.kind: r.card_path for r in res.results}
    return by_kind.get("cnn_lstm_am") or (res.results[0].card_path if res.results else "")


def publish_results(algorithm: str, res) -> None:
    """ROC curves of all models, the best model's confusion matrix and SHAP importance, for the dock."""
    import numpy as np

    if not res.results:
        return
    events.publish(
        "roc",
        algorithm=algorithm,
        curves={DISPLAY[r.kind]: {**r.roc, "auc": r.metrics["AUC"]} for r in res.results},
    )
    y = np.asarray(res.test_labels).astype(int)
    for r in res.results:
        yhat = (np.asarray(r.test_prob) >= 0.5).astype(int)
        matrix = [[int(((y == t) & (yhat == p)).sum()) for p in (0, 1)] for t in (0, 1)]
        events.publish(
            "confusion", algorithm=algorithm, model=DISPLAY[r.kind], matrix=matrix, labels=["absence", "landslide"]
        )
    for kind, values in res.importance.items():
        events.publish("importance", algorithm=algorithm, model=DISPLAY[kind], values=dict(values))
