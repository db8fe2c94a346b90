"""lsm_train: CNN-LSTM-AM and the five baselines, compared on the held-out split."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputFile,
    QgsProcessingOutputHtml,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
)

from ..core.susceptibility.comparison import BEST_BY_CV, MEAN_OF_TOP, run_training
from ..core.susceptibility.dataset import TemporalMode
from ..core.susceptibility.models import ALL_MODELS, DISPLAY, DeepHP
from ..core.susceptibility.train import TrainConfig
from . import events
from .base import LandslideAlgorithm
from .qgis_enums import DOUBLE, VECTOR_POINT
from .train_events import epoch_publisher, publish_results
from .train_params import TrainOptionParams

MODES = [TemporalMode.FACTOR_SEQUENCE, TemporalMode.CLIMATE, TemporalMode.NONE]


class TrainAlgorithm(TrainOptionParams, LandslideAlgorithm):
    """Train, evaluate, explain and save susceptibility models."""

    NAME = "lsm_train"
    DISPLAY = "Train and compare susceptibility models"
    GROUP = "train"
    REQUIRES = ("rasterio", "sklearn", "matplotlib")
    OPTIONAL = ("torch", "xgboost", "optuna", "shap")
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
        MAPPED,
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
        "MAPPED_MODEL",
    )

    def initAlgorithm(self, config=None):
        d = TrainConfig()
        self.add(QgsProcessingParameterRasterLayer(self.STACK, "Factor stack"))
        self.add(
            QgsProcessingParameterVectorLayer(self.SAMPLES, "Samples (label 1/0, split train/test)", [VECTOR_POINT])
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
            QgsProcessingParameterNumber(self.LR, "Learning rate", DOUBLE, DeepHP().lr, minValue=1e-6, maxValue=1.0),
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
        self.add_cv_params()
        self.add_deep_options()
        self.add(QgsProcessingParameterNumber(self.SEED, "Random seed", defaultValue=d.seed))
        self.add(QgsProcessingParameterString(self.DEVICE, "Device (auto, cpu, cuda)", "auto"), advanced=True)
        self.add(
            QgsProcessingParameterEnum(
                self.MAPPED,
                "Model to map (MODEL_CARD output)",
                ["Best cross-validated prediction rate"]
                + [DISPLAY[m] for m in ALL_MODELS]
                + ["Mean of the models the CV cannot tell from the best"],
                defaultValue=0,
            )
        )
        self.add(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Output folder (models, tables, figures)"))
        self.addOutput(QgsProcessingOutputHtml(self.TABLE_HTML, "Comparison table"))
        self.addOutput(QgsProcessingOutputFile(self.TABLE_CSV, "Comparison table (CSV)"))
        self.addOutput(QgsProcessingOutputFile(self.CARD, "Model card of the model to map"))

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
            hp=DeepHP(
                lr=self.parameterAsDouble(parameters, self.LR, context),
                centre_skip=self.centre_skip(parameters, context),
            ),
            search_trials=self.parameterAsInt(parameters, self.TRIALS, context),
            shap_samples=self.parameterAsInt(parameters, self.SHAP, context),
            seed=self.parameterAsInt(parameters, self.SEED, context),
            device=self.parameterAsString(parameters, self.DEVICE, context) or "auto",
            **self.deep_options(parameters, context),
        )
        out = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        cv, group_field = self.cv_options(parameters, context)
        choice = self.parameterAsEnum(parameters, self.MAPPED, context)
        mapped = BEST_BY_CV if choice == 0 else MEAN_OF_TOP if choice > len(ALL_MODELS) else ALL_MODELS[choice - 1]

        events.publish("run_started", algorithm=self.NAME, title="Susceptibility models")

        on_epoch = epoch_publisher(self.NAME)

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
            mapped=mapped,
        )
        publish_results(self.NAME, res)
        return {
            self.OUTPUT_FOLDER: out,
            self.TABLE_HTML: res.table_html,
            self.TABLE_CSV: res.table_csv,
            self.CARD: res.mapped_card,
        }
